#!/usr/bin/env bash
# Mirror benchmark: `modelbake serve` against nginx (sendfile on) serving the same 1 GiB blob
# on loopback, same run, contenders interleaved. Prints throughput medians, ratios and peak RSS;
# nothing here is a pass/fail threshold.
#   (1) one curl client downloading the file   (2) 8 concurrent curl clients
#   (3) peak RSS (VmHWM) of modelbake serve and of nginx (master + workers)
#   (4) p99 latency of 16 clients (64 KiB ranges) with BENCH_SLOW (2000) dripping slowloris
#       connections open, against the same with none (bench/serve_slowloris.py)
# Environment: MODELBAKE_BIN (default build/modelbake), BENCH_SIZE (1G), BENCH_RUNS (5),
# BENCH_CLIENTS (8), BENCH_TMP (parent of the work dir).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MODELBAKE_BIN:-$ROOT/build/modelbake}
SIZE=${BENCH_SIZE:-1G}
RUNS=${BENCH_RUNS:-5}
CLIENTS=${BENCH_CLIENTS:-8}
SLOW=${BENCH_SLOW:-2000}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $BIN ]] || { echo "modelbake not found at $BIN (build it, or set MODELBAKE_BIN)" >&2; exit 2; }
[[ -x $NGINX ]] || { echo "nginx is required (apt-get install nginx-light)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is required" >&2; exit 2; }

WORK=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/mb-bench-serve.XXXXXX")
chmod 755 "$WORK"
SERVE_PID="" NGINX_PID=""
cleanup() {
  [[ -n $SERVE_PID ]] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
  [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A cache with one LFS file, laid out as modelbake writes it (docs/cache-layout.md).
echo "preparing a $SIZE blob in $WORK..." >&2
C=$WORK/cache
mkdir -p "$C/.locks/modelbake/tmp" "$WORK/www"
head -c "$SIZE" /dev/urandom >"$C/.locks/modelbake/tmp/blob"
SHA=$(sha256sum "$C/.locks/modelbake/tmp/blob" | cut -d' ' -f1)
COMMIT=$(printf 'bench' | sha1sum | cut -d' ' -f1)
OBJ=$C/.locks/modelbake/objects/sha256/${SHA:0:2}/${SHA:2}
R=$C/models--bench--big
mkdir -p "$(dirname "$OBJ")" "$R/blobs" "$R/refs" "$R/snapshots/$COMMIT"
mv "$C/.locks/modelbake/tmp/blob" "$OBJ" && chmod 444 "$OBJ"
ln "$OBJ" "$R/blobs/$SHA"
ln -s "../../blobs/$SHA" "$R/snapshots/$COMMIT/model.bin"
printf '%s' "$COMMIT" >"$R/refs/main"
ln "$OBJ" "$WORK/www/model.bin"   # nginx serves the very same inode
BYTES=$(stat -c %s "$OBJ")
cat "$OBJ" >/dev/null              # both contenders read from the page cache

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NPORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<CONF
user root;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 60;
  server {
    listen 127.0.0.1:$NPORT;
    root $WORK/www;
  }
}
CONF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
"$BIN" -q --cache "$C" serve --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVE_PID=$!
for _ in $(seq 100); do [[ -s $WORK/serve.out ]] && curl -sf "http://127.0.0.1:$NPORT/model.bin" -r 0-0 -o /dev/null && break; sleep 0.1; done
MIRROR=$(cut -d' ' -f2 "$WORK/serve.out")
URL_MB="$MIRROR/bench/big/resolve/main/model.bin"
URL_NGINX="http://127.0.0.1:$NPORT/model.bin"

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Seconds for N parallel full downloads of URL; checks every client got every byte.
fetch_n() {
  local n=$1 url=$2 t0 t1 pids=() i
  t0=$(now)
  for i in $(seq "$n"); do curl -sS -o /dev/null -w '%{size_download}\n' "$url" >"$WORK/got.$i" & pids+=($!); done
  wait "${pids[@]}"
  t1=$(now)
  for i in $(seq "$n"); do [[ $(cat "$WORK/got.$i") == "$BYTES" ]] || { echo "short download from $url" >&2; exit 1; }; done
  echo "$t1 - $t0" | bc -l
}

declare -a ONE_MB ONE_NG MANY_MB MANY_NG
for i in $(seq "$RUNS"); do
  echo "run $i/$RUNS..." >&2
  ONE_MB+=("$(fetch_n 1 "$URL_MB")");  ONE_NG+=("$(fetch_n 1 "$URL_NGINX")")
  MANY_MB+=("$(fetch_n "$CLIENTS" "$URL_MB")"); MANY_NG+=("$(fetch_n "$CLIENTS" "$URL_NGINX")")
done
hwm_kb() { awk '/VmHWM/ {s += $2} END {print s}' "$@"; }
RSS_MB=$(hwm_kb /proc/"$SERVE_PID"/status)
RSS_NG=$(hwm_kb /proc/"$NGINX_PID"/status $(pgrep -P "$NGINX_PID" | sed 's|.*|/proc/&/status|'))

mibps() { echo "$1 * $BYTES / 1048576 / $2" | bc -l; }
M1=$(median "${ONE_MB[@]}"); N1=$(median "${ONE_NG[@]}")
M8=$(median "${MANY_MB[@]}"); N8=$(median "${MANY_NG[@]}")
printf '\n%-56s %14s\n' "benchmark (loopback, $SIZE file, median of $RUNS)" "result"
printf '%-56s %14s\n' "--------------------------------------------------------" "--------------"
printf '%-56s %8.0f MiB/s\n' "1 client: modelbake serve" "$(mibps 1 "$M1")"
printf '%-56s %8.0f MiB/s\n' "1 client: nginx (sendfile)" "$(mibps 1 "$N1")"
printf '%-56s %13.2fx\n' "  modelbake / nginx throughput" "$(echo "$N1 / $M1" | bc -l)"
printf '%-56s %8.0f MiB/s\n' "$CLIENTS clients: modelbake serve (aggregate)" "$(mibps "$CLIENTS" "$M8")"
printf '%-56s %8.0f MiB/s\n' "$CLIENTS clients: nginx (aggregate)" "$(mibps "$CLIENTS" "$N8")"
printf '%-56s %13.2fx\n' "  modelbake / nginx throughput" "$(echo "$N8 / $M8" | bc -l)"
printf '%-56s %10.1f MiB\n' "peak RSS: modelbake serve" "$(echo "$RSS_MB / 1024" | bc -l)"
printf '%-56s %10.1f MiB\n' "peak RSS: nginx (master + workers)" "$(echo "$RSS_NG / 1024" | bc -l)"

read -r P99_NONE P99_SLOW OPEN_SLOW < <(/usr/bin/python3 "$ROOT/bench/serve_slowloris.py" "$URL_MB" "$SLOW")
printf '%-56s %11.1f ms\n' "16 clients p99 latency, no slow connections" "$P99_NONE"
printf '%-56s %11.1f ms\n' "16 clients p99 latency, $OPEN_SLOW slowloris connections" "$P99_SLOW"
printf '%-56s %13.2fx\n' "  with / without slowloris" "$(echo "$P99_SLOW / $P99_NONE" | bc -l)"
