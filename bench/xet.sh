#!/usr/bin/env bash
# Xet benchmark against the test hub's CAS on loopback (issue 24). Prints ratios measured in
# this run; nothing here is a pass/fail threshold.
#   (1) one big Xet-backed file, cold, verified: modelbake through Xet vs modelbake through
#       the bridge (--no-xet) vs `curl -o` of the bridge URL (verifies nothing); peak RSS of
#       both modelbake runs (/usr/bin/time -v)
#   (2) a new revision of that file with 1% of it changed: bytes that travel from the CAS,
#       as a fraction of the file (the rest is copied from the cached old revision)
# Environment: MODELBAKE_BIN (default build/modelbake), BENCH_SIZE (1G), BENCH_RUNS (1),
# BENCH_TMP (parent of the work dir), BENCH_ONLY_DEDUPE=1 (skip (1)), BENCH_SKIP_DEDUPE=1
# (skip (2), e.g. for a 4G peak-RSS run). A first argument overrides BENCH_SIZE.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MODELBAKE_BIN:-$ROOT/build/modelbake}
PY=/usr/bin/python3
SIZE=${1:-${BENCH_SIZE:-1G}}
RUNS=${BENCH_RUNS:-1}
[[ -x $BIN ]] || { echo "modelbake not found at $BIN (build it, or set MODELBAKE_BIN)" >&2; exit 2; }
for tool in curl b3sum /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/mb-xet.XXXXXX")
HUB_PID=""
cleanup() {
  [[ -n $HUB_PID ]] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null || true
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "preparing a $SIZE Xet file in $WORK (chunking and hashing take a while)..." >&2
$PY "$ROOT/tests/hub/mkdata.py" "$WORK/hub" --repo bench/xet --random "model.bin=$SIZE:lfs" >/dev/null
$PY "$ROOT/tests/hub/testhub.py" --xet --data "$WORK/hub" >"$WORK/hub.out" 2>"$WORK/hub.err" &
HUB_PID=$!
for _ in $(seq 100); do [[ -s $WORK/hub.out ]] && break; sleep 0.1; done
HUB=$($PY -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$WORK/hub.out")
export HF_ENDPOINT=$HUB
unset HF_TOKEN HF_HUB_CACHE HF_HOME HF_HUB_DISABLE_XET
# The hub converts the file on first use; do it before anything is timed.
curl -sS --max-time 3600 "$HUB/api/models/bench/xet/tree/main?recursive=true" >/dev/null

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
admin() { curl -sS -X "$1" "$HUB/_admin/$2" ${3:+-H 'Content-Type: application/json' -d "$3"}; }
xorb_bytes() {
  curl -sS "$HUB/_admin/requests" | $PY -c 'import json,sys
print(sum(r.get("body_bytes") or 0 for r in json.load(sys.stdin)["requests"] if r["path"].startswith("/cas/xorb/")))'
}
rss_mb() { awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); printf "%.1f", $2/1024}' "$1"; }

mkdir -p "$WORK/p"
printf 'version: 1\nmodels:\n  - repo: bench/xet\n' >"$WORK/p/modelbake.yaml"
"$BIN" -q -f "$WORK/p/modelbake.yaml" --cache "$WORK/lockcache" lock
rm -rf "$WORK/lockcache"
BYTES=$(stat -c %s "$WORK"/hub/sources/*model.bin* 2>/dev/null || $PY -c 'import json,sys
d=json.load(open(sys.argv[1])); print(d["repos"][0]["commits"][d["repos"][0]["refs"]["main"]][0]["size"])' "$WORK/hub/repos.json")
BRIDGE=$(curl -sS -o /dev/null -w '%{redirect_url}' "$HUB/bench/xet/resolve/main/model.bin")

run() {  # label, extra flags...
  local label=$1; shift
  rm -rf "$WORK/c"
  local t0 t1
  t0=$(now)
  /usr/bin/time -v "$BIN" -q --no-progress -f "$WORK/p/modelbake.yaml" --cache "$WORK/c" fetch \
      --locked "$@" 2>"$WORK/time-$label.txt"
  t1=$(now)
  echo "$t1 - $t0" | bc
}
XET=() BR=() CURL=()
if [[ ${BENCH_ONLY_DEDUPE:-0} != 1 ]]; then
for _ in $(seq "$RUNS"); do
  XET+=("$(run xet)")
  BR+=("$(run bridge --no-xet)")
  t0=$(now); curl -sS -o "$WORK/curl.out" "$BRIDGE"; t1=$(now); rm -f "$WORK/curl.out"
  CURL+=("$(echo "$t1 - $t0" | bc)")
done
tx=$(median "${XET[@]}"); tb=$(median "${BR[@]}"); tc=$(median "${CURL[@]}")
mbps() { echo "scale=1; $BYTES / $1 / 1048576" | bc; }
echo "== (1) $SIZE Xet-backed file, cold cache, loopback (median of $RUNS)"
echo "modelbake via Xet:    ${tx}s  $(mbps "$tx") MiB/s  peak RSS $(rss_mb "$WORK/time-xet.txt") MiB"
echo "modelbake via bridge: ${tb}s  $(mbps "$tb") MiB/s  peak RSS $(rss_mb "$WORK/time-bridge.txt") MiB"
echo "curl -o bridge URL:   ${tc}s  $(mbps "$tc") MiB/s  (no verification, no fsync)"
echo "ratio Xet/bridge throughput: $(echo "scale=2; $tb / $tx" | bc)   Xet/curl: $(echo "scale=2; $tc / $tx" | bc)"
fi

[[ ${BENCH_SKIP_DEDUPE:-0} == 1 ]] && exit 0
echo "== (2) new revision, 1% of the file changed"
# The old revision through Xet (the bridge leaves no chunk index to dedupe against).
rm -rf "$WORK/c"
"$BIN" -q --no-progress -f "$WORK/p/modelbake.yaml" --cache "$WORK/c" fetch --locked
$PY - "$WORK/hub" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
doc = json.load(open(os.path.join(root, "repos.json")))
repo = doc["repos"][0]
old = repo["commits"][repo["refs"]["main"]][0]
data = bytearray(open(os.path.join(root, "blobs", old["blob"]), "rb").read())
n = len(data) // 100
mid = len(data) // 2
data[mid:mid + n] = os.urandom(n)
sha = hashlib.sha256(data).hexdigest()
open(os.path.join(root, "blobs", sha), "wb").write(data)
git = hashlib.sha1(b"blob %d\0" % len(data) + bytes(data)).hexdigest()
commit = hashlib.sha1(b"bench two").hexdigest()
repo["commits"][commit] = [dict(old, blob=sha, git_sha1=git)]
repo["refs"]["main"] = commit
json.dump(doc, open(os.path.join(root, "repos.json"), "w"))
PY
admin POST reload '{}' >/dev/null
curl -sS --max-time 3600 "$HUB/api/models/bench/xet/tree/main?recursive=true" >/dev/null
"$BIN" -q -f "$WORK/p/modelbake.yaml" --cache "$WORK/c" lock
admin POST reset '{}' >/dev/null
"$BIN" -q --no-progress -f "$WORK/p/modelbake.yaml" --cache "$WORK/c" fetch --locked
MOVED=$(xorb_bytes)
echo "bytes from the CAS: $MOVED of $BYTES ($(echo "scale=2; 100 * $MOVED / $BYTES" | bc)% of the file)"
