#!/usr/bin/python3
"""Writes a test hub data directory from the command line (for bench/ and demo scripts;
Python tests use mbtest.RepoBuilder directly).

    mkdata.py DIR --repo org/name [--type dataset] [--gated] [--token T]
                  [--file PATH=SRC[:lfs]] [--random PATH=SIZE[:lfs]] [--many PREFIX=N:SIZE]
                  [--repo other/name ...]
    mkdata.py DIR --demo

Each --repo starts a new repo; the options after it add files to it. SIZE accepts K, M, G
suffixes (binary). --random content is deterministic (seeded by the path). --demo writes
"demo/tiny-model": config.json, a valid tiny model.safetensors (LFS) and README.md.
"""

import argparse
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))

from mbrepo import RepoBuilder, pseudo_random_bytes, write_hub_data  # noqa: E402


def parse_size(text):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1:].upper() in mult:
        return int(text[:-1]) * mult[text[-1].upper()]
    return int(text)


def split_lfs(value):
    if value.endswith(":lfs"):
        return value[:-4], True
    return value, False


def random_file(data_dir, path, size):
    """Big random files are written once to disk and referenced, not held in memory."""
    src_dir = os.path.join(data_dir, "sources")
    os.makedirs(src_dir, exist_ok=True)
    src = os.path.join(src_dir, "%s-%d.bin" % (path.replace("/", "_"), size))
    if not os.path.exists(src) or os.path.getsize(src) != size:
        with open(src + ".tmp", "wb") as f:
            written, block = 0, 0
            while written < size:
                chunk = pseudo_random_bytes(min(1 << 20, size - written), "%s/%d" % (path, block))
                f.write(chunk)
                written += len(chunk)
                block += 1
        os.replace(src + ".tmp", src)
    return src


def safetensors(tensors):
    """A valid safetensors file of float32 tensors {name: (shape, values)}."""
    header, data = {}, b""
    for name, (shape, values) in sorted(tensors.items()):
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + data


def demo_repo():
    r = RepoBuilder("demo/tiny-model")
    r.add_file("config.json", json.dumps({"model_type": "demo", "hidden_size": 4}, indent=2) + "\n")
    r.add_file("README.md", "# tiny-model\n\nA 4x4 demo model served by the modelbake test hub.\n")
    weights = [float(i) / 16 for i in range(16)]
    r.add_file("model.safetensors", safetensors({"dense.weight": ([4, 4], weights)}), lfs=True)
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--repo", action="append", default=[])
    ap.add_argument("--type", action="append", default=[])
    ap.add_argument("--gated", action="append_const", const=True)
    ap.add_argument("--file", action="append", default=[])
    ap.add_argument("--random", action="append", default=[])
    ap.add_argument("--many", action="append", default=[])
    # argparse loses the interleaving of --repo and its files, so walk argv ourselves.
    args = ap.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    repos = [demo_repo()] if args.demo else []
    argv = list(sys.argv[1:] if argv is None else argv)
    current = None
    i = 0
    while i < len(argv):
        opt = argv[i]
        val = argv[i + 1] if i + 1 < len(argv) else None
        if opt == "--repo":
            current = RepoBuilder(val)
            repos.append(current)
        elif opt in ("--type", "--file", "--random", "--many") and current is None:
            ap.error("%s must follow a --repo" % opt)
        elif opt == "--type":
            current.type = val
        elif opt == "--gated":
            current.gated = True
            i += 1
            continue
        elif opt == "--file":
            spec, lfs = split_lfs(val)
            path, src = spec.split("=", 1)
            current.add_file(path, source=src, lfs=lfs)
        elif opt == "--random":
            spec, lfs = split_lfs(val)
            path, size = spec.split("=", 1)
            current.add_file(path, source=random_file(args.dir, path, parse_size(size)), lfs=lfs)
        elif opt == "--many":
            prefix, rest = val.split("=", 1)
            count, size = rest.split(":", 1)
            for n in range(int(count)):
                path = "%s%04d.txt" % (prefix, n)
                current.add_file(path, pseudo_random_bytes(parse_size(size), path).hex()[:parse_size(size)])
        else:
            i += 1
            continue
        i += 2
    write_hub_data(args.dir, repos, args.token)
    print(json.dumps({"data": os.path.abspath(args.dir), "repos": [r.id for r in repos]}))


if __name__ == "__main__":
    main()
