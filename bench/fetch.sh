#!/usr/bin/env bash
# Fetch benchmark against the test hub on loopback (issue 2 "Speed"). Prints ratios measured
# in this run; nothing here is a pass/fail threshold.
#   (1) one big LFS file, cold, verified: modelbake vs `curl -o` (verifies nothing) vs
#       `aria2c -x8 -s8`; median of N runs each
#   (2) a many-small-file repo: files/s, modelbake vs `aria2c -j8 -i urls.txt`
#   (3) peak RSS of modelbake on the big file (/usr/bin/time -v)
#   (4) requests made by a second `fetch --locked` over the complete cache (request log)
# Environment: MODELBAKE_BIN (default build/modelbake), BENCH_SIZE (1G), BENCH_FILES (300),
# BENCH_RUNS (3), BENCH_TMP (parent of the work dir; default the repo's disk via $TMPDIR or /tmp).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MODELBAKE_BIN:-$ROOT/build/modelbake}
PY=/usr/bin/python3
SIZE=${BENCH_SIZE:-1G}
FILES=${BENCH_FILES:-300}
RUNS=${BENCH_RUNS:-3}
[[ -x $BIN ]] || { echo "modelbake not found at $BIN (build it, or set MODELBAKE_BIN)" >&2; exit 2; }
for tool in curl aria2c /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/mb-bench.XXXXXX")
HUB_PID=""
cleanup() {
  [[ -n $HUB_PID ]] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null || true
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "preparing test hub data in $WORK (big file $SIZE, $FILES small files)..." >&2
$PY "$ROOT/tests/hub/mkdata.py" "$WORK/hub" --repo bench/big --random "model.bin=$SIZE:lfs" \
    --repo bench/many --many "f/=$FILES:4K" >/dev/null
$PY "$ROOT/tests/hub/testhub.py" --data "$WORK/hub" >"$WORK/hub.out" 2>"$WORK/hub.err" &
HUB_PID=$!
for _ in $(seq 100); do [[ -s $WORK/hub.out ]] && break; sleep 0.1; done
HUB=$($PY -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$WORK/hub.out")
export HF_ENDPOINT=$HUB
unset HF_TOKEN HF_HUB_CACHE HF_HOME

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
admin() { curl -sS -X "$1" "$HUB/_admin/$2" ${3:+-H 'Content-Type: application/json' -d "$3"}; }

manifest() {  # dir repo
  mkdir -p "$1"
  printf 'version: 1\nmodels:\n  - repo: %s\n' "$2" >"$1/modelbake.yaml"
}

# Locks are made once (with a throwaway cache): the timed runs are the CI case,
# `fetch --locked` into a cold cache.
manifest "$WORK/big" bench/big
manifest "$WORK/many" bench/many
"$BIN" -q -f "$WORK/big/modelbake.yaml" --cache "$WORK/lockcache" lock
"$BIN" -q -f "$WORK/many/modelbake.yaml" --cache "$WORK/lockcache" lock
rm -rf "$WORK/lockcache"
BYTES=$(stat -c %s "$WORK"/hub/sources/*model.bin*)
BIG_URL="$HUB/bench/big/resolve/main/model.bin"

declare -a T_MB T_CURL T_CURL_SYNC T_ARIA
for i in $(seq "$RUNS"); do
  echo "big file run $i/$RUNS..." >&2
  sync
  t0=$(now); "$BIN" -q --no-progress -f "$WORK/big/modelbake.yaml" --cache "$WORK/c$i" fetch --locked; t1=$(now)
  T_MB+=("$(echo "$t1 - $t0" | bc -l)"); chmod -R u+w "$WORK/c$i"; rm -rf "$WORK/c$i"
  t0=$(now); curl -sS -L -o "$WORK/curl.out" "$BIG_URL"; t1=$(now)
  T_CURL+=("$(echo "$t1 - $t0" | bc -l)"); rm -f "$WORK/curl.out"
  # modelbake fsyncs what it publishes into the cache; this is curl with the same durability.
  t0=$(now); curl -sS -L -o "$WORK/curl.out" "$BIG_URL" && sync "$WORK/curl.out"; t1=$(now)
  T_CURL_SYNC+=("$(echo "$t1 - $t0" | bc -l)"); rm -f "$WORK/curl.out"
  t0=$(now); aria2c -q -x8 -s8 --allow-overwrite=true --auto-file-renaming=false -d "$WORK" -o aria.out "$BIG_URL"; t1=$(now)
  T_ARIA+=("$(echo "$t1 - $t0" | bc -l)"); rm -f "$WORK/aria.out"
done
M_MB=$(median "${T_MB[@]}"); M_CURL=$(median "${T_CURL[@]}"); M_ARIA=$(median "${T_ARIA[@]}")
M_CURL_SYNC=$(median "${T_CURL_SYNC[@]}")
mibps() { echo "$BYTES / 1048576 / $1" | bc -l; }

echo "small files..." >&2
$PY - "$HUB" "$WORK/urls.txt" <<'PYEOF'
import json, sys, urllib.request
hub, out = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(hub + "/api/models/bench/many/tree/main?recursive=true") as r:
    entries = json.load(r)
with open(out, "w") as f:
    for e in entries:
        if e["type"] == "file":
            f.write("%s/bench/many/resolve/main/%s\n  out=%s\n" % (hub, e["path"], e["path"]))
PYEOF
declare -a S_MB S_ARIA
for i in $(seq "$RUNS"); do
  t0=$(now); "$BIN" -q --no-progress -f "$WORK/many/modelbake.yaml" --cache "$WORK/s$i" fetch --locked; t1=$(now)
  S_MB+=("$(echo "$t1 - $t0" | bc -l)"); chmod -R u+w "$WORK/s$i"; rm -rf "$WORK/s$i"
  t0=$(now); aria2c -q -j8 --allow-overwrite=true --auto-file-renaming=false -d "$WORK/aria-many" -i "$WORK/urls.txt"; t1=$(now)
  S_ARIA+=("$(echo "$t1 - $t0" | bc -l)"); rm -rf "$WORK/aria-many"
done
MS_MB=$(median "${S_MB[@]}"); MS_ARIA=$(median "${S_ARIA[@]}")

echo "peak RSS and second fetch..." >&2
/usr/bin/time -v "$BIN" -q --no-progress -f "$WORK/big/modelbake.yaml" --cache "$WORK/rss" fetch --locked \
  2>"$WORK/time.txt"
RSS_KB=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$WORK/time.txt")
admin POST reset '{}' >/dev/null
"$BIN" -q --no-progress -f "$WORK/big/modelbake.yaml" --cache "$WORK/rss" fetch --locked
REQS=$(admin GET requests | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))')

printf '\n%-52s %12s\n' "benchmark (loopback test hub, median of $RUNS)" "result"
printf '%-52s %12s\n' "----------------------------------------------------" "------------"
printf '%-52s %9.0f MiB/s\n' "big file ($SIZE): modelbake fetch --locked (verified)" "$(mibps "$M_MB")"
printf '%-52s %9.0f MiB/s\n' "big file: curl -o (no verification)" "$(mibps "$M_CURL")"
printf '%-52s %9.0f MiB/s\n' "big file: curl -o && sync (same durability)" "$(mibps "$M_CURL_SYNC")"
printf '%-52s %9.0f MiB/s\n' "big file: aria2c -x8 -s8" "$(mibps "$M_ARIA")"
printf '%-52s %11.2fx\n' "  modelbake / curl throughput" "$(echo "$M_CURL / $M_MB" | bc -l)"
printf '%-52s %11.2fx\n' "  modelbake / (curl && sync) throughput" "$(echo "$M_CURL_SYNC / $M_MB" | bc -l)"
printf '%-52s %11.2fx\n' "  modelbake / aria2c throughput" "$(echo "$M_ARIA / $M_MB" | bc -l)"
printf '%-52s %8.0f files/s\n' "$FILES small files: modelbake fetch --locked" "$(echo "$FILES / $MS_MB" | bc -l)"
printf '%-52s %8.0f files/s\n' "$FILES small files: aria2c -j8 -i urls.txt" "$(echo "$FILES / $MS_ARIA" | bc -l)"
printf '%-52s %11.2fx\n' "  modelbake / aria2c files per second" "$(echo "$MS_ARIA / $MS_MB" | bc -l)"
printf '%-52s %9.1f MiB\n' "peak RSS of modelbake on the big file" "$(echo "$RSS_KB / 1024" | bc -l)"
printf '%-52s %12s\n' "requests made by a second fetch --locked" "$REQS"
