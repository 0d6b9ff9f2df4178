#!/usr/bin/env bash
# Speed of `modelbake verify` (issue 3), as ratios measured in one run:
#  1. full verify of a ~2 GiB cache (one large file + many small ones) against
#     `openssl dgst -sha256` over the same files with the same number of parallel workers
#     (xargs -P); target: verify throughput >= 0.8x openssl's.
#  2. `verify --fast` on 10 models; target: < 50 ms.
# Median of 3 runs each, page cache warm for both tools (one untimed warm-up run).
#
#   bench/verify.sh [BUILD_DIR]       env: BENCH_MIB (default 2048), BENCH_WORKERS (nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
MB="$BUILD/modelbake"
[[ -x "$MB" ]] || { echo "bench/verify.sh: $MB not built (cmake --build $BUILD)" >&2; exit 2; }
MIB=${BENCH_MIB:-2048}
WORKERS=${BENCH_WORKERS:-$(nproc)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mb-bench-verify.XXXXXX")
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
PY=/usr/bin/python3

echo "== generating a ${MIB} MiB cache in $WORK (workers: $WORKERS)"
$PY - "$WORK" "$MIB" <<'PYEOF'
import hashlib, json, os, sys
work, mib = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "support"))
from mbcache import repo_folder_name, serialize_lock, snapshot_link_target

def put(cache, repo, commit, path, size, seed, lfs=True):
    """Streams pseudo-random content into the object store and links it (no big buffers)."""
    tmp = os.path.join(cache, ".locks", "modelbake", "tmp", "gen")
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    sha, git = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
    block = hashlib.sha256(str(seed).encode()).digest() * 32768  # 1 MiB
    with open(tmp, "wb") as f:
        left = size
        while left:
            chunk = block[: min(left, len(block))]
            chunk = bytes([seed & 255]) + chunk[1:] if left == size else chunk
            f.write(chunk); sha.update(chunk); git.update(chunk); left -= len(chunk)
    digest = sha.hexdigest()
    etag = digest if lfs else git.hexdigest()
    obj = os.path.join(cache, ".locks", "modelbake", "objects", "sha256", digest[:2], digest[2:])
    os.makedirs(os.path.dirname(obj), exist_ok=True)
    os.replace(tmp, obj); os.chmod(obj, 0o444)
    folder = os.path.join(cache, repo_folder_name("model", repo))
    blob = os.path.join(folder, "blobs", etag)
    os.makedirs(os.path.dirname(blob), exist_ok=True)
    if not os.path.exists(blob):
        os.link(obj, blob)
    link = os.path.join(folder, "snapshots", commit, path)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(snapshot_link_target(path, etag), link)
    return {"path": path, "size": size, "sha256": digest, "etag": etag}

def model(cache, name, files):
    commit = hashlib.sha1(name.encode()).hexdigest()
    out = [put(cache, "bench/" + name, commit, p, s, i + len(name) * 1000, lfs) for i, (p, s, lfs) in enumerate(files)]
    refs = os.path.join(cache, repo_folder_name("model", "bench/" + name), "refs")
    os.makedirs(refs, exist_ok=True)
    with open(os.path.join(refs, "main"), "w") as f:
        f.write(commit)
    return {"name": name, "repo": "bench/" + name, "type": "model", "revision": "main", "commit": commit,
            "include": [], "exclude": [], "files": sorted(out, key=lambda f: f["path"])}

big = os.path.join(work, "big")
large = mib * 3 // 4
small_n = max(1, (mib - large) // 2)  # 2 MiB each
files = [("model.safetensors", large << 20, True)] + \
        [("shards/part-%04d.bin" % i, 2 << 20, i % 2 == 0) for i in range(small_n)] + \
        [("config.json", 700, False), ("tokenizer.json", 400_000, False)]
lock = {"version": 1, "models": [model(big, "big", files)]}
with open(os.path.join(work, "big.lock"), "w") as f:
    f.write(serialize_lock(lock))

fast = os.path.join(work, "fast")
models = [model(fast, "m%02d" % k, [("config.json", 600, False), ("model.safetensors", 64 << 10, True)] +
                [("extra/f%02d.json" % i, 1000 + i, False) for i in range(18)]) for k in range(10)]
with open(os.path.join(work, "fast.lock"), "w") as f:
    f.write(serialize_lock({"version": 1, "models": sorted(models, key=lambda m: m["name"])}))
PYEOF

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() {  # prints seconds (float) of one run of "$@"
  local s e
  s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
OBJECTS="$WORK/big/.locks/modelbake/objects"
openssl_all() { find "$OBJECTS" -type f -print0 | xargs -0 -P "$WORKERS" -n 8 openssl dgst -sha256 >/dev/null; }
verify_full() { "$MB" --cache "$WORK/big" verify --lock "$WORK/big.lock" --threads "$WORKERS" -q; }
verify_fast() { "$MB" --cache "$WORK/fast" verify --fast --lock "$WORK/fast.lock" -q; }

verify_full; openssl_all   # warm the page cache; also proves the cache verifies
BYTES=$(du -sb --apparent-size "$OBJECTS" | cut -f1)
t_ssl=$(for i in 1 2 3; do timeit openssl_all; done | median)
t_mb=$(for i in 1 2 3; do timeit verify_full; done | median)
verify_fast
t_fast=$(for i in 1 2 3; do timeit verify_fast; done | median)
# Process start alone (dynamic loading of the full CLI), to separate it from the check itself.
t_start=$(for i in 1 2 3; do timeit "$MB" --version; done | median)

mibs() { echo "scale=1; $BYTES / 1048576 / $1" | bc -l; }
echo "full verify:  $(printf %.3f "$t_mb") s  ($(mibs "$t_mb") MiB/s)"
echo "openssl -P$WORKERS: $(printf %.3f "$t_ssl") s  ($(mibs "$t_ssl") MiB/s)"
echo "ratio (verify throughput / openssl throughput): $(echo "scale=2; $t_ssl / $t_mb" | bc -l)  (target >= 0.8)"
echo "verify --fast, 10 models: $(echo "scale=1; $t_fast * 1000 / 1" | bc -l) ms  (target < 50 ms)"
echo "  of which process start (modelbake --version): $(echo "scale=1; $t_start * 1000 / 1" | bc -l) ms"
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (wall times on a busy machine are inflated)"
