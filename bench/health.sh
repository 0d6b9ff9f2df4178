#!/usr/bin/env bash
# The cheap health check (modelbake-verify --health) on a 1 GiB flat bundle: wall time with
# hyperfine and the bytes it reads (strace), against the full check that writes the stamp.
# Goal (issue 14): under 20 ms and no content byte read. Prints figures; never fails on one.
#
#   bench/health.sh [BUILD_DIR]        (default: ./build)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
PY=/usr/bin/python3
VERIFY=$BUILD/modelbake-verify
[[ -x $VERIFY ]] || { echo "bench/health.sh: $VERIFY not built (cmake --build $BUILD --target modelbake-verify)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/mb-bench-health.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
B=$WORK/bundle
mkdir -p "$B"

# The tiny BERT of the integration tests plus one 1 GiB F32 tensor (zeros) in its weights.
PYTHONPATH=$ROOT/tests/support:$ROOT/tests/integration $PY - "$B" <<'PY'
import sys
import numpy as np
import test_modelbake_verify as t
tensors = t.bert_tensors(np.random.default_rng(0))
tensors["extra.weight"] = np.zeros((1 << 18, 1 << 10), np.float32)  # 1 GiB
files = t.model_files(tensors=tensors)
t.write_flat(sys.argv[1], [t.spec(files=files)])
PY
echo "bundle: $(du -sh --apparent-size "$B" | cut -f1), $(find "$B" -type f | wc -l) files"

start=$(date +%s%N)
"$VERIFY" --stamp "$B" >/dev/null
echo "full check + stamp (--stamp): $(( ($(date +%s%N) - start) / 1000000 )) ms (hashes every byte)"

if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 3 --runs "${RUNS:-50}" --export-json "$WORK/h.json" "$VERIFY --health $B" >/dev/null
  $PY -c "import json; r=json.load(open('$WORK/h.json'))['results'][0]; print('health (--health): mean %.2f ms, median %.2f ms, min %.2f ms (hyperfine, %d runs)' % (r['mean']*1e3, r['median']*1e3, r['min']*1e3, len(r['times'])))"
else
  echo "hyperfine not installed: no timing"
fi

if command -v strace >/dev/null; then
  strace -f -y -o "$WORK/trace" -e trace=read,pread64,readv,preadv,mmap "$VERIFY" --health "$B" >/dev/null
  $PY - "$WORK/trace" "$(realpath "$B")" <<'PY'
import re, sys
log, root = sys.argv[1], sys.argv[2]
total = in_bundle = 0
per, mapped = {}, []
for line in open(log):
    m = re.search(r"\b(?:read|pread64|readv|preadv)\(\d+<([^>]*)>.*\)\s+=\s+(\d+)", line)
    if m:
        n = int(m.group(2)); total += n
        if m.group(1).startswith(root + "/"):
            in_bundle += n; per[m.group(1)[len(root) + 1:]] = per.get(m.group(1)[len(root) + 1:], 0) + n
    m = re.search(r"\bmmap\(.*\d+<([^>]*)>", line)
    if m and m.group(1).startswith(root + "/"):
        mapped.append(m.group(1))
print("bytes read by --health: %d in all (libraries, /proc), %d from the bundle:" % (total, in_bundle))
for p, n in sorted(per.items()):
    print("  %-40s %d" % (p, n))
print("bundle files mapped: %s" % (mapped or "none"))
PY
else
  echo "strace not installed: no byte count"
fi
