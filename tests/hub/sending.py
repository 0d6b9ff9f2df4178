"""Body transmission for the test hub: Range parsing and zero-copy sending with faults.

Bodies go out through socket.sendfile (os.sendfile for real files) so the hub serves at
loopback speed; a fault only splits the transfer where it has to act (drop point, corrupt
byte, throttling slices).
"""

import os
import re
import socket
import struct
import time

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    pass


def parse_range(header, size):
    """(start, end_inclusive) for a single-range header, None to serve the whole body.

    Multi-range and syntactically invalid headers are ignored (RFC 9110 allows serving 200);
    a range starting at or beyond the end raises Unsatisfiable (416).
    """
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":  # suffix range: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise Unsatisfiable()
        return max(0, size - n), size - 1
    start = int(first)
    end = size - 1 if last == "" else int(last)
    if last != "" and end < start:
        return None
    if start >= size:
        raise Unsatisfiable()
    return start, min(end, size - 1)


def abort_connection(sock):
    """Reset the TCP connection (RST) so the client sees an abrupt failure."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def _pread_byte(fobj, offset):
    if hasattr(fobj, "fileno"):
        try:
            return os.pread(fobj.fileno(), 1, offset)
        except (OSError, ValueError, AttributeError):
            pass
    fobj.seek(offset)
    return fobj.read(1)


def send_body(sock, fobj, start, length, faults, stop_event):
    """Sends `length` bytes of `fobj` from `start`. Returns (bytes_sent, dropped)."""
    drop_after = None
    corrupt_at = None
    rate = None
    stall_at, stall_seconds = None, 0.0
    for f in faults:
        if f.type == "hang" and "after_bytes" in f.spec and length > 0:
            stall_at = min(max(int(f.spec["after_bytes"]), 0), length)
            stall_seconds = float(f.spec.get("seconds", 30))
        if f.type == "drop":
            n = int(f.spec.get("after_bytes", 0))
            drop_after = n if drop_after is None else min(drop_after, n)
        elif f.type == "corrupt" and length > 0:
            off = int(f.spec.get("offset", length // 2))
            corrupt_at = min(max(off, 0), length - 1)
        elif f.type == "slow":
            r = int(f.spec["bytes_per_sec"])
            rate = r if rate is None else min(rate, r)
    limit = length if drop_after is None else min(length, drop_after)
    pos = 0
    while pos < limit:
        if stop_event.is_set():
            return pos, True
        if stall_at is not None and pos == stall_at:
            stall_at = None
            if stop_event.wait(stall_seconds):
                return pos, True
            continue
        if corrupt_at is not None and pos == corrupt_at:
            byte = _pread_byte(fobj, start + pos)
            sock.sendall(bytes([byte[0] ^ 0xFF]))
            pos += 1
            continue
        end = limit
        for cut in (corrupt_at, stall_at):
            if cut is not None and pos < cut < end:
                end = cut
        chunk = end - pos
        if rate:
            chunk = min(chunk, max(1, rate // 20))
        sock.sendfile(fobj, start + pos, chunk)
        pos += chunk
        if rate and pos < limit:  # no pause after the last byte: the client has them all
            time.sleep(chunk / rate)
    if drop_after is not None and drop_after < length:
        return pos, True
    return pos, False
