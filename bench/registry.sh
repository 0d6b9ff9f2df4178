#!/usr/bin/env bash
# push / pull of a 1 GiB single-model bundle to Debian's docker-registry over loopback,
# against `skopeo copy` between the same registry and an OCI layout (the same image, written
# by `modelbake export --format oci`). Median of 3 runs each; prints throughput ratios
# (modelbake / skopeo, higher is better), then checks that a re-push of the unchanged bundle
# makes only HEAD requests (counted from the registry's access log).
#   bench/registry.sh [BUILD_DIR]      SIZE_MIB=1024 RUNS=3 by default
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build}"
mb="$build/modelbake"
size_mib="${SIZE_MIB:-1024}"
runs="${RUNS:-3}"
[ -x "$mb" ] || { echo "build modelbake first ($mb)"; exit 2; }
work="$(mktemp -d /var/tmp/mb-bench-registry.XXXXXX)"
reg_pid=""
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$work/registry.yml" <<YAML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: 127.0.0.1:$port
  secret: bench-secret
YAML
reg="127.0.0.1:$port"
# Every timed push goes to an empty registry: distribution's blob store is global, and skopeo
# remembers where it saw a blob (containers' blob-info cache) and would mount it from there
# instead of uploading. That cache is removed before each skopeo push for the same reason.
start_registry() {
  if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null; wait "$reg_pid" 2>/dev/null || true; fi
  rm -rf "$work/storage"
  /usr/bin/docker-registry serve "$work/registry.yml" >> "$work/registry.log" 2>&1 &
  reg_pid=$!
  for _ in $(seq 100); do curl -sf "http://$reg/v2/" >/dev/null && break; sleep 0.1; done
}
forget_skopeo_blobs() { rm -f /var/lib/containers/cache/blob-info-cache-v1.* "$HOME"/.local/share/containers/cache/blob-info-cache-v1.* 2>/dev/null || true; }

echo "creating a ${size_mib} MiB single-model cache..."
mkdir -p "$work/project"
PYTHONPATH="$here/tests/support" /usr/bin/python3 - "$work/cache" "$work/project/modelbake.lock" "$size_mib" <<'PY'
import os, sys, mbcache
cache, lock, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = os.urandom(mib << 20)
mbcache.make_cache(cache, [{"repo": "bench/big", "as": "big", "files": {"config.json": b"{}", "model.safetensors": (data, True)}}], lock_path=lock)
PY
"$mb" --cache "$work/cache" -f "$work/project/modelbake.yaml" -q export --format oci -o "$work/layout" --tag big:v1

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }

mb_push=(); sk_push=(); mb_pull=(); sk_pull=()
for i in $(seq "$runs"); do
  start_registry
  rm -f "$work/cache/.locks/modelbake/registry-mounts.json"   # no cross-repo mounts: upload for real
  t=$(now); "$mb" --cache "$work/cache" -f "$work/project/modelbake.yaml" -q push "$reg/mb/push$i:v1" --plain-http; mb_push+=("$(elapsed "$t")")
  start_registry; forget_skopeo_blobs
  t=$(now); skopeo copy -q --dest-tls-verify=false "oci:$work/layout:v1" "docker://$reg/sk/push$i:v1"; sk_push+=("$(elapsed "$t")")
  # modelbake pulls its own push (the same image bytes as the layout skopeo pushed)
  "$mb" --cache "$work/cache" -f "$work/project/modelbake.yaml" -q push "$reg/mb/push$i:v1" --plain-http
  rm -rf "$work/pull-cache" "$work/pull-layout"; sync
  t=$(now); "$mb" --cache "$work/pull-cache" -q pull "$reg/mb/push$i:v1" --plain-http; mb_pull+=("$(elapsed "$t")")
  sync
  t=$(now); skopeo copy -q --src-tls-verify=false "docker://$reg/sk/push$i:v1" "oci:$work/pull-layout:v1"; sk_pull+=("$(elapsed "$t")")
done
for i in $(seq "$runs"); do
  echo "  run $i: push modelbake ${mb_push[$((i-1))]}s skopeo ${sk_push[$((i-1))]}s; pull modelbake ${mb_pull[$((i-1))]}s skopeo ${sk_pull[$((i-1))]}s"
done
m_mp=$(printf '%s\n' "${mb_push[@]}" | median); m_sp=$(printf '%s\n' "${sk_push[@]}" | median)
m_ml=$(printf '%s\n' "${mb_pull[@]}" | median); m_sl=$(printf '%s\n' "${sk_pull[@]}" | median)
printf 'push: modelbake %.2fs, skopeo %.2fs -> throughput ratio %.2fx\n' "$m_mp" "$m_sp" "$(echo "$m_sp / $m_mp" | bc -l)"
printf 'pull: modelbake %.2fs, skopeo %.2fs -> throughput ratio %.2fx\n' "$m_ml" "$m_sl" "$(echo "$m_sl / $m_ml" | bc -l)"

before=$(wc -c < "$work/registry.log")
"$mb" --cache "$work/cache" -f "$work/project/modelbake.yaml" -q push "$reg/mb/push$runs:v1" --plain-http
sleep 1
reqs=$(tail -c +"$((before + 1))" "$work/registry.log" | grep -oE '"(GET|HEAD|POST|PUT|PATCH|DELETE) /v2/[^ ]*' | grep -v '"GET /v2/$' | awk '{print substr($1,2)}' | sort | uniq -c | tr '\n' ' ')
echo "re-push of the unchanged bundle: requests by method: ${reqs:-none}"
