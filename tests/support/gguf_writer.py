"""A GGUF v3 writer for tests, with ggml quantisers and dequantisers written from the block
layouts (ggml-common.h / ggml-quants.c): F32, F16, Q8_0, Q4_0, Q4_K, Q6_K. The quantisers are
simple (round to nearest, not ggml's weighted search) but produce valid blocks; the
dequantisers follow ggml's arithmetic order in float32 so a C++ reader can be compared with
them exactly. Also writes tiny random `llama` / `qwen2` models with their embedded tokenizer.
No gguf pip package: only numpy."""

import struct

import numpy as np

GGML = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20),
        "Q5_0": (6, 32, 22), "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144),
        "Q6_K": (14, 256, 210)}

# GGUF metadata value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)


def _f16(a):
    return np.asarray(a, dtype=np.float32).astype(np.float16)


def _f32(h):
    return np.asarray(h, dtype=np.float16).astype(np.float32)


# ---- quantisers: float32 [rows, cols] -> bytes (row-major blocks) -------------------------

def quantize(x, typ):
    x = np.ascontiguousarray(x, dtype=np.float32)
    rows, cols = x.shape
    _, blk, _ = GGML[typ]
    assert cols % blk == 0
    if typ == "F32":
        return x.tobytes()
    if typ == "F16":
        return _f16(x).tobytes()
    b = x.reshape(-1, blk)
    out = {"Q8_0": _q8_0, "Q4_0": _q4_0, "Q4_1": _q4_1, "Q5_0": _q5_0, "Q5_1": _q5_1,
           "Q4_K": _q4_k, "Q6_K": _q6_k}[typ](b)
    assert out.shape == (b.shape[0], GGML[typ][2])
    return out.tobytes()


def _q8_0(b):
    d = np.abs(b).max(axis=1) / 127.0
    dh = _f16(d)
    inv = np.where(d > 0, 1.0 / np.maximum(d, 1e-30), 0.0)
    q = np.clip(np.rint(b * inv[:, None]), -127, 127).astype(np.int8)
    return np.concatenate([dh.view(np.uint8).reshape(-1, 2), q.view(np.uint8)], axis=1)


def _q4_0(b):
    idx = np.argmax(np.abs(b), axis=1)
    mx = b[np.arange(len(b)), idx]
    d = mx / -8.0
    inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0.0)
    q = np.clip(np.floor(b * inv[:, None] + 8.5), 0, 15).astype(np.uint8)
    packed = q[:, :16] | (q[:, 16:] << 4)
    return np.concatenate([_f16(d).view(np.uint8).reshape(-1, 2), packed], axis=1)


def _q4_1(b):
    mn, mx = b.min(axis=1), b.max(axis=1)
    d = (mx - mn) / 15.0
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0.0)
    q = np.clip(np.floor((b - mn[:, None]) * inv[:, None] + 0.5), 0, 15).astype(np.uint8)
    return np.concatenate([_f16(d).view(np.uint8).reshape(-1, 2), _f16(mn).view(np.uint8).reshape(-1, 2),
                           q[:, :16] | (q[:, 16:] << 4)], axis=1)


def _qh_bits(q):
    """The fifth bits of 32 five-bit values as ggml's little-endian uint32 qh."""
    bits = ((q >> 4) & 1).astype(np.uint32) << np.arange(32, dtype=np.uint32)
    return bits.sum(axis=1, dtype=np.uint32).astype("<u4").view(np.uint8).reshape(-1, 4)


def _q5_0(b):
    idx = np.argmax(np.abs(b), axis=1)
    d = b[np.arange(len(b)), idx] / -16.0
    inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0.0)
    q = np.clip(np.floor(b * inv[:, None] + 16.5), 0, 31).astype(np.uint8)
    return np.concatenate([_f16(d).view(np.uint8).reshape(-1, 2), _qh_bits(q),
                           (q[:, :16] & 0xF) | ((q[:, 16:] & 0xF) << 4)], axis=1)


def _q5_1(b):
    mn, mx = b.min(axis=1), b.max(axis=1)
    d = (mx - mn) / 31.0
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0.0)
    q = np.clip(np.floor((b - mn[:, None]) * inv[:, None] + 0.5), 0, 31).astype(np.uint8)
    return np.concatenate([_f16(d).view(np.uint8).reshape(-1, 2), _f16(mn).view(np.uint8).reshape(-1, 2),
                           _qh_bits(q), (q[:, :16] & 0xF) | ((q[:, 16:] & 0xF) << 4)], axis=1)


def _q4_k(b):
    n = b.shape[0]
    sub = b.reshape(n, 8, 32)
    mn = np.minimum(sub.min(axis=2), 0.0)
    scale = (sub.max(axis=2) - mn) / 15.0
    mins = -mn
    d = _f16(scale.max(axis=1) / 63.0)
    dmin = _f16(mins.max(axis=1) / 63.0)
    df, dmf = _f32(d), _f32(dmin)
    sc = np.clip(np.rint(scale / np.where(df > 0, df, 1)[:, None]), 0, 63).astype(np.uint8)
    m = np.clip(np.rint(mins / np.where(dmf > 0, dmf, 1)[:, None]), 0, 63).astype(np.uint8)
    step = df[:, None] * sc
    q = np.rint((sub + (dmf[:, None] * m)[:, :, None]) / np.where(step > 0, step, 1)[:, :, None])
    q = np.clip(q, 0, 15).astype(np.uint8).reshape(n, 4, 2, 32)
    qs = (q[:, :, 0, :] | (q[:, :, 1, :] << 4)).reshape(n, 128)
    s = np.zeros((n, 12), np.uint8)
    s[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    s[:, 4:8] = m[:, 0:4] | ((m[:, 4:8] >> 4) << 6)
    s[:, 8:12] = (sc[:, 4:8] & 0xF) | ((m[:, 4:8] & 0xF) << 4)
    return np.concatenate([d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2), s, qs],
                          axis=1)


def _q6_k(b):
    n = b.shape[0]
    sub = b.reshape(n, 16, 16)
    scale = np.abs(sub).max(axis=2) / 31.0
    d = _f16(scale.max(axis=1) / 127.0)
    df = _f32(d)
    sc = np.clip(np.rint(scale / np.where(df > 0, df, 1)[:, None]), -128, 127).astype(np.int8)
    step = df[:, None] * sc
    q = np.clip(np.rint(sub / np.where(step != 0, step, 1)[:, :, None]), -32, 31).astype(np.int16) + 32
    q = q.reshape(n, 2, 4, 32).astype(np.uint8)  # [half][quarter][l]
    ql = np.zeros((n, 2, 64), np.uint8)
    ql[:, :, 0:32] = (q[:, :, 0] & 0xF) | ((q[:, :, 2] & 0xF) << 4)
    ql[:, :, 32:64] = (q[:, :, 1] & 0xF) | ((q[:, :, 3] & 0xF) << 4)
    qh = (q[:, :, 0] >> 4) | ((q[:, :, 1] >> 4) << 2) | ((q[:, :, 2] >> 4) << 4) | ((q[:, :, 3] >> 4) << 6)
    return np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64), sc.view(np.uint8),
                           d.view(np.uint8).reshape(-1, 2)], axis=1)


# ---- dequantisers: bytes -> float32 [rows, cols], in ggml's arithmetic order --------------

def dequantize(data, typ, rows, cols):
    _, blk, nbytes = GGML[typ]
    if typ == "F32":
        return np.frombuffer(data, np.float32).reshape(rows, cols).copy()
    if typ == "F16":
        return np.frombuffer(data, np.float16).astype(np.float32).reshape(rows, cols)
    b = np.frombuffer(data, np.uint8).reshape(-1, nbytes)
    y = {"Q8_0": _dq8_0, "Q4_0": _dq4_0, "Q4_1": _dq4_1, "Q5_0": _dq5_0, "Q5_1": _dq5_1,
         "Q4_K": _dq4_k, "Q6_K": _dq6_k}[typ](b)
    return y.astype(np.float32).reshape(rows, cols)


def _half(b, at):
    return b[:, at:at + 2].copy().view(np.float16).astype(np.float32)[:, 0]


def _dq8_0(b):
    return b[:, 2:].view(np.int8).astype(np.float32) * _half(b, 0)[:, None]


def _dq4_0(b):
    q = b[:, 2:]
    vals = np.concatenate([(q & 0xF), (q >> 4)], axis=1).astype(np.float32) - np.float32(8)
    return vals * _half(b, 0)[:, None]


def _dq4_1(b):
    q = b[:, 4:]
    vals = np.concatenate([(q & 0xF), (q >> 4)], axis=1).astype(np.float32)
    return vals * _half(b, 0)[:, None] + _half(b, 2)[:, None]


def _five_bit(qh, qs):
    bits = (qh.copy().view("<u4")[:, 0:1] >> np.arange(32, dtype=np.uint32)) & 1
    low = np.concatenate([(qs & 0xF), (qs >> 4)], axis=1).astype(np.uint32)
    return (low | (bits << 4)).astype(np.float32)


def _dq5_0(b):
    return (_five_bit(b[:, 2:6], b[:, 6:]) - np.float32(16)) * _half(b, 0)[:, None]


def _dq5_1(b):
    return _five_bit(b[:, 4:8], b[:, 8:]) * _half(b, 0)[:, None] + _half(b, 2)[:, None]


def _dq4_k(b):
    n = b.shape[0]
    d, dmin = _half(b, 0), _half(b, 2)
    s = b[:, 4:16].astype(np.uint8)
    sc = np.zeros((n, 8), np.uint8)
    m = np.zeros((n, 8), np.uint8)
    sc[:, :4], m[:, :4] = s[:, 0:4] & 63, s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 0xF) | ((s[:, 0:4] >> 6) << 4)
    m[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    qs = b[:, 16:].reshape(n, 4, 32)
    q = np.stack([qs & 0xF, qs >> 4], axis=2).reshape(n, 8, 32).astype(np.float32)
    d1 = (d[:, None] * sc.astype(np.float32)).astype(np.float32)
    m1 = (dmin[:, None] * m.astype(np.float32)).astype(np.float32)
    return (d1[:, :, None] * q - m1[:, :, None]).reshape(n, 256)


def _dq6_k(b):
    n = b.shape[0]
    ql = b[:, 0:128].reshape(n, 2, 64)
    qh = b[:, 128:192].reshape(n, 2, 32)
    sc = b[:, 192:208].view(np.int8).astype(np.float32)
    d = _half(b, 208)
    q = np.stack([(ql[:, :, 0:32] & 0xF) | (((qh >> 0) & 3) << 4),
                  (ql[:, :, 32:64] & 0xF) | (((qh >> 2) & 3) << 4),
                  (ql[:, :, 0:32] >> 4) | (((qh >> 4) & 3) << 4),
                  (ql[:, :, 32:64] >> 4) | (((qh >> 6) & 3) << 4)], axis=2)
    q = q.reshape(n, 256).astype(np.float32) - np.float32(32)
    scale = np.repeat(d[:, None] * sc, 16, axis=1).astype(np.float32)  # element e uses sc[e // 16]
    return scale * q


# ---- the file ---------------------------------------------------------------------------

class GgufFile:
    def __init__(self, alignment=32):
        self.kv = []       # (key, bytes of type + value)
        self.tensors = []  # (name, ne list, type id, data bytes)
        self.alignment = alignment

    @staticmethod
    def _str(s):
        b = s.encode() if isinstance(s, str) else s
        return struct.pack("<Q", len(b)) + b

    @staticmethod
    def _scalar(t, v):
        fmt = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?",
               U64: "Q", I64: "q", F64: "d"}
        if t == STRING:
            return GgufFile._str(v)
        return struct.pack("<" + fmt[t], v)

    def add(self, key, t, v):
        self.kv.append((key, struct.pack("<I", t) + self._scalar(t, v)))

    def add_array(self, key, t, values):
        body = b"".join(self._scalar(t, v) for v in values)
        self.kv.append((key, struct.pack("<IIQ", ARRAY, t, len(values)) + body))

    def add_tensor(self, name, typ, data, shape):
        """shape in HF order (outermost first); data already encoded as `typ`."""
        self.tensors.append((name, list(reversed(shape)), GGML[typ][0], data))

    def add_tensor_lazy(self, name, typ, shape, chunks):
        """Like add_tensor, but the data comes from `chunks()` (an iterable of encoded bytes)
        only when write() streams the file: a ~0.5B model never sits in memory whole."""
        self.tensors.append((name, list(reversed(shape)), GGML[typ][0], _Lazy(tensor_nbytes(typ, shape), chunks)))

    def _header(self):
        out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv)))
        for k, v in self.kv:
            out += self._str(k) + v
        off = 0
        for name, ne, tid, data in self.tensors:
            out += self._str(name) + struct.pack("<I", len(ne))
            out += b"".join(struct.pack("<Q", d) for d in ne) + struct.pack("<IQ", tid, off)
            off += (len(data) + self.alignment - 1) // self.alignment * self.alignment
        out += b"\0" * (-len(out) % self.alignment)
        return out

    def to_bytes(self):
        out = self._header()
        for _, _, _, data in self.tensors:
            out += bytes(data) + b"\0" * (-len(data) % self.alignment)
        return bytes(out)

    def write(self, path):
        """Writes the file tensor by tensor (lazy tensors chunk by chunk)."""
        with open(path, "wb") as f:
            f.write(self._header())
            for name, _, _, data in self.tensors:
                if isinstance(data, _Lazy):
                    n = 0
                    for chunk in data.chunks():
                        f.write(chunk)
                        n += len(chunk)
                    assert n == len(data), name
                else:
                    f.write(bytes(data))
                f.write(b"\0" * (-len(data) % self.alignment))


class _Lazy:
    def __init__(self, nbytes, chunks):
        self.nbytes, self.chunks = nbytes, chunks

    def __len__(self):
        return self.nbytes


def tensor_nbytes(typ, shape):
    _, blk, nbytes = GGML[typ]
    n = int(np.prod(shape))
    assert n % blk == 0
    return n // blk * nbytes


def quantize_chunks(x, typ, rows_per_chunk=8192):
    """quantize() of a [rows, cols] array (a memmap, say) a few thousand rows at a time."""
    for r in range(0, x.shape[0], rows_per_chunk):
        yield quantize(np.asarray(x[r:r + rows_per_chunk], dtype=np.float32), typ)


def read_tensors(path):
    """The tensors of a GGUF file as {name: (type name, HF-order shape, raw bytes)}, the bytes
    memory-mapped. Metadata values are skipped; general.alignment is honoured."""
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    pos = [0]

    def take(fmt):
        v = struct.unpack_from("<" + fmt, buf, pos[0])
        pos[0] += struct.calcsize("<" + fmt)
        return v[0] if len(v) == 1 else v

    def string():
        n = take("Q")
        pos[0] += n
        return bytes(buf[pos[0] - n:pos[0]]).decode()

    sizes = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?",
             U64: "Q", I64: "q", F64: "d"}

    def value(t):
        if t == STRING:
            return string()
        if t == ARRAY:
            et, n = take("I"), take("Q")
            if et in sizes:  # skip scalars in one step
                pos[0] += n * struct.calcsize(sizes[et])
                return None
            return [value(et) for _ in range(n)]
        return take(sizes[t])

    assert bytes(buf[:4]) == b"GGUF"
    pos[0] = 4
    _, n_tensors, n_kv = take("I"), take("Q"), take("Q")
    alignment = 32
    for _ in range(n_kv):
        key = string()
        v = value(take("I"))
        if key == "general.alignment":
            alignment = v
    names = {tid: n for n, (tid, _, _) in GGML.items()}
    infos = []
    for _ in range(n_tensors):
        name = string()
        ne = [take("Q") for _ in range(take("I"))]
        tid, off = take("I"), take("Q")
        infos.append((name, names[tid], list(reversed(ne)), off))
    base = (pos[0] + alignment - 1) // alignment * alignment
    return {name: (typ, shape, buf[base + off:base + off + tensor_nbytes(typ, shape)])
            for name, typ, shape, off in infos}


# ---- tiny models ------------------------------------------------------------------------

TYPES = ["F32", "F16", "Q8_0", "Q4_0", "Q4_K", "Q6_K", "Q4_1", "Q5_0", "Q5_1"]


def permute_llama(w, n_head):
    """What convert_hf_to_gguf.py does to Q/K rows for arch llama: rotate_half halves ->
    interleaved pairs, per head."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def spm_vocab():
    """A sentencepiece-style (tokenizer.ggml.model = llama) vocabulary with byte fallback."""
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)]
    types = [2, 3, 3] + [6] * 256
    pieces = ["\u2581", "\u2581t", "he", "\u2581the", "ll", "llo", "\u2581he", "\u2581hello", "or", "ld",
              "\u2581w", "\u2581wor", "\u2581world", "\u2581a", "\u2581is"] + list("abcdefghijklmnopqrstuvwxyz,.!")
    scores = [0.0] * len(tokens) + [-float(i) for i in range(len(pieces))]
    return tokens + pieces, scores, types + [1] * len(pieces)


def byte_unicode():
    """GPT-2's byte -> unicode character map (imported lazily: gen_tiny_models loads torch)."""
    from gen_tiny_models import bytes_to_unicode
    return bytes_to_unicode()


def bpe_vocab():
    """A byte-level BPE (tokenizer.ggml.model = gpt2) vocabulary as Qwen2 ships it."""
    bu = byte_unicode()
    tokens = [bu[b] for b in range(256)]
    merges = ["h e", "l l", "ll o", "he llo", "\u0120 w", "o r", "\u0120w or", "l d", "\u0120wor ld",
              "\u0120 t", "\u0120t he", "i s", "\u0120 is"]
    tokens += [m.replace(" ", "") for m in merges]
    tokens += ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    types = [1] * (len(tokens) - 3) + [3, 3, 3]
    return tokens, merges, types


def tiny_model(arch, seed=0, hidden=256, inter=512, heads=4, kv_heads=2, layers=2, tied=False):
    """A random model. Returns (GgufFile, reference) where reference maps each GGUF tensor
    name to (type, HF-order float32 matrix as stored after quantisation, HF-order original)."""
    rng = np.random.default_rng(seed)
    g = GgufFile()
    g.add("general.architecture", STRING, arch)
    g.add("general.name", STRING, "tiny-" + arch)
    if arch == "llama":
        tokens, scores, ttypes = spm_vocab()
        g.add("tokenizer.ggml.model", STRING, "llama")
        g.add_array("tokenizer.ggml.scores", F32, scores)
        bos, eos = 1, 2
    else:
        tokens, merges, ttypes = bpe_vocab()
        g.add("tokenizer.ggml.model", STRING, "gpt2")
        g.add("tokenizer.ggml.pre", STRING, "qwen2")
        g.add_array("tokenizer.ggml.merges", STRING, merges)
        bos, eos = len(tokens) - 3, len(tokens) - 1
    g.add_array("tokenizer.ggml.tokens", STRING, tokens)
    g.add_array("tokenizer.ggml.token_type", I32, ttypes)
    g.add("tokenizer.ggml.bos_token_id", U32, bos)
    g.add("tokenizer.ggml.eos_token_id", U32, eos)
    g.add("tokenizer.ggml.add_bos_token", BOOL, arch == "llama")
    vocab, hd = len(tokens), hidden // heads
    for k, t, v in [("block_count", U32, layers), ("embedding_length", U32, hidden),
                    ("attention.head_count", U32, heads), ("attention.head_count_kv", U32, kv_heads),
                    ("feed_forward_length", U32, inter), ("context_length", U32, 128),
                    ("rope.freq_base", F32, 10000.0 if arch == "llama" else 1000000.0),
                    ("attention.layer_norm_rms_epsilon", F32, 1e-6 if arch == "qwen2" else 1e-5)]:
        g.add(arch + "." + k, t, v)
    ref = {}
    counter = [0]

    def mat(name, rows, cols, permute_heads=0, typ=None):
        typ = typ or TYPES[counter[0] % len(TYPES)]
        counter[0] += 1
        w = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
        stored = permute_llama(w, permute_heads) if permute_heads else w
        data = quantize(stored, typ)
        deq = dequantize(data, typ, rows, cols)  # what the file holds, stored order
        if permute_heads:  # HF order again: undo the permutation on the dequantised rows
            inv = np.argsort(permute_llama(np.arange(rows), permute_heads))
            deq = deq[inv]
        g.add_tensor(name, typ, data, [rows, cols])
        ref[name] = (typ, deq, w)

    def vec(name, n, scale=1.0):
        v = (1.0 + rng.standard_normal(n) * 0.1 * scale).astype(np.float32)
        g.add_tensor(name, "F32", v.tobytes(), [n])
        ref[name] = ("F32", v, v)

    mat("token_embd.weight", vocab, hidden, typ="Q8_0")
    for i in range(layers):
        p = "blk.%d." % i
        vec(p + "attn_norm.weight", hidden)
        mat(p + "attn_q.weight", heads * hd, hidden, heads if arch == "llama" else 0,
            typ="F32" if i == 0 else None)
        mat(p + "attn_k.weight", kv_heads * hd, hidden, kv_heads if arch == "llama" else 0)
        mat(p + "attn_v.weight", kv_heads * hd, hidden)
        if arch == "qwen2":
            for n, r in [("q", heads * hd), ("k", kv_heads * hd), ("v", kv_heads * hd)]:
                vec(p + "attn_%s.bias" % n, r)
        mat(p + "attn_output.weight", hidden, heads * hd)
        vec(p + "ffn_norm.weight", hidden)
        mat(p + "ffn_gate.weight", inter, hidden)
        mat(p + "ffn_up.weight", inter, hidden)
        mat(p + "ffn_down.weight", hidden, inter)
    vec("output_norm.weight", hidden)
    if not tied:
        mat("output.weight", vocab, hidden, typ="Q6_K")
    return g, ref


def quantize_activation_q8(x):
    """What a Q8_0 matrix multiplies (llama.cpp's quantize_row_q8_0, as the engine's
    quantize_q8_activation): x in float32, blocks of 32 along the last axis, d = max|x| / 127,
    q = round(x * (127 / max|x|)) with ties to even; returns q * d in float64, so that
    `quantize_activation_q8(x) @ deq.T` is the integer product sum(q_w * q_x) * d_w * d_x."""
    x32 = np.asarray(x, np.float32)
    b = x32.reshape(x32.shape[:-1] + (-1, 32))
    amax = np.abs(b).max(-1, keepdims=True)
    with np.errstate(divide="ignore"):
        inv = np.where(amax > 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    q = np.round(b * inv)
    d = amax / np.float32(127)
    return (q.astype(np.float64) * d.astype(np.float64)).reshape(x32.shape)


def reference_logits(ref, arch, ids, layers=2, heads=4, kv_heads=2, head_dim=64):
    """Logits after the last of `ids` for a tiny_model (its `ref`), in float64 numpy with HF's
    conventions (rotate_half RoPE, GQA by repeating K/V, RMSNorm, SwiGLU), from the
    dequantised matrices: the reference for a decoder run on the GGUF file. A Q8_0 matrix
    multiplies the activation quantised as llama.cpp and the engine do
    (quantize_activation_q8). (Checked against the `llm` branch's decoder at 1.3e-6 before
    integration.)"""
    theta, eps = (10000.0, 1e-5) if arch == "llama" else (1e6, 1e-6)
    w = {n: r[1].astype(np.float64) for n, r in ref.items()}

    def mm(h, name):  # h @ W^T
        return (quantize_activation_q8(h) if ref[name][0] == "Q8_0" else h) @ w[name].T

    x, t = w["token_embd.weight"][ids], len(ids)
    f = np.outer(np.arange(t), 1.0 / theta ** (np.arange(0, head_dim, 2) / head_dim))
    cos, sin = np.cos(np.concatenate([f, f], -1))[:, None], np.sin(np.concatenate([f, f], -1))[:, None]

    def rms(v, g):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * g

    def rope(v):
        return v * cos + np.concatenate([-v[..., head_dim // 2:], v[..., :head_dim // 2]], -1) * sin

    for i in range(layers):
        p = "blk.%d." % i
        h = rms(x, w[p + "attn_norm.weight"])
        q, k, v = (mm(h, p + "attn_%s.weight" % n) + w.get(p + "attn_%s.bias" % n, 0) for n in "qkv")
        q = rope(q.reshape(t, heads, head_dim))
        k = np.repeat(rope(k.reshape(t, kv_heads, head_dim)), heads // kv_heads, 1)
        v = np.repeat(v.reshape(t, kv_heads, head_dim), heads // kv_heads, 1)
        s = np.einsum("thd,shd->hts", q, k) / np.sqrt(head_dim) + np.triu(np.full((t, t), -np.inf), 1)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        x = x + mm(np.einsum("hts,shd->thd", a, v).reshape(t, -1), p + "attn_output.weight")
        h = rms(x, w[p + "ffn_norm.weight"])
        g, u = mm(h, p + "ffn_gate.weight"), mm(h, p + "ffn_up.weight")
        x = x + mm(g / (1 + np.exp(-g)) * u, p + "ffn_down.weight")
    out = "output.weight" if "output.weight" in w else "token_embd.weight"
    return mm(rms(x, w["output_norm.weight"])[-1], out)
