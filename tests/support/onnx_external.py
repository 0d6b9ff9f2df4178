"""Moves the initializers of an .onnx file into an external data file, as optimum does for
large models (TensorProto.data_location = EXTERNAL, external_data location/offset/length),
with a minimal protobuf wire rewriter (Debian's torch exports without the `onnx` package)."""
import os


def _varint(b, i):
    v, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def _enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def fields(b):
    """[(number, wire, raw bytes of the whole field, payload)]"""
    out, i = [], 0
    while i < len(b):
        start = i
        key, i = _varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(b, i)
            payload = v
        elif wire == 1:
            payload, i = b[i:i + 8], i + 8
        elif wire == 5:
            payload, i = b[i:i + 4], i + 4
        elif wire == 2:
            n, i = _varint(b, i)
            payload, i = b[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wire)
        out.append((num, wire, b[start:i], payload))
    return out


def _len_field(num, payload):
    return _enc_varint(num << 3 | 2) + _enc_varint(len(payload)) + payload


def _entry(key, value):
    return _len_field(13, _len_field(1, key.encode()) + _len_field(2, value.encode()))


def move_initializers_out(path, location, align=64):
    with open(path, "rb") as f:
        model = f.read()
    data = bytearray()
    out_model = bytearray()
    for num, wire, raw, payload in fields(model):
        if num != 7:
            out_model += raw
            continue
        graph = bytearray()
        for gnum, gwire, graw, gpayload in fields(payload):
            if gnum != 5:
                graph += graw
                continue
            tensor, blob = bytearray(), None
            for tnum, twire, traw, tpayload in fields(gpayload):
                if tnum == 9:
                    blob = tpayload
                else:
                    tensor += traw
            if blob is None:  # typed-field data stays inline
                graph += graw
                continue
            data += b"\0" * (-len(data) % align)
            offset = len(data)
            data += blob
            tensor += _entry("location", location) + _entry("offset", str(offset)) + _entry("length", str(len(blob)))
            tensor += _enc_varint(14 << 3 | 0) + _enc_varint(1)
            graph += _len_field(5, bytes(tensor))
        out_model += _len_field(7, bytes(graph))
    with open(path, "wb") as f:
        f.write(out_model)
    with open(os.path.join(os.path.dirname(path), location), "wb") as f:
        f.write(data)
