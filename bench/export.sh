#!/usr/bin/env bash
# Export benchmark (issue 4 "Speed"). Prints medians and ratios measured in this run; nothing
# here is a pass/fail threshold.
#   (1) `modelbake export --format tar` of a ~2 GiB cache vs `tar -chf` of the same snapshot
#       trees (dereferenced; GNU tar hashes nothing, modelbake checks every byte's sha256).
#       modelbake fsyncs its output before renaming it into place (docs/ARCHITECTURE.md
#       "Disk"); GNU tar leaves it in the page cache. So each durability is compared with its
#       like: `export` with `tar -chf && sync OUT`, `export --no-sync` with plain `tar -chf`.
#   (2) `--format oci` vs `--format tar`: cold (no remembered layer digests: every file and
#       every layer hashed) and warm (layer digests remembered: one hash pass per layer)
#   (3) `bench/export.sh base` instead: `export --format oci --base` (the models stacked on a
#       busybox base image, issue 22) of BENCH_MB (default 1024) MiB vs buildah building the
#       same image the usual way: `buildah from oci:BASE` + `buildah copy` of the model files
#       + `commit` + `push` to an OCI layout (uncompressed, like ours). Needs buildah, umoci
#       and busybox-static.
# Environment: MODELBAKE_BIN (default build/modelbake), BENCH_MB (total MiB, default 2048),
# BENCH_RUNS (3), BENCH_TMP (parent of the work dir; default $TMPDIR or /tmp).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MODELBAKE_BIN:-$ROOT/build/modelbake}
PY=/usr/bin/python3
MODE=${1:-default}
if [[ $MODE == base ]]; then MB=${BENCH_MB:-1024}; else MB=${BENCH_MB:-2048}; fi
RUNS=${BENCH_RUNS:-3}
[[ -x $BIN ]] || { echo "modelbake not found at $BIN (build it, or set MODELBAKE_BIN)" >&2; exit 2; }
command -v tar >/dev/null || { echo "GNU tar is required" >&2; exit 2; }

WORK=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/mb-bench-export.XXXXXX")
cleanup() { chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
[[ -n ${BENCH_KEEP:-} ]] && trap - EXIT
CACHE=$WORK/cache
mkdir -p "$WORK/project" "$WORK/src"

echo "preparing a ${MB} MiB cache in $WORK ..." >&2
# Two models: a big safetensors file plus small files, and a GGUF file (60% / 40%).
BIG=$((MB * 6 / 10)); GGUF=$((MB - BIG))
head -c "$((BIG << 20))" /dev/urandom >"$WORK/src/model.safetensors"
head -c "$((GGUF << 20))" /dev/urandom >"$WORK/src/model-q4_k_m.gguf"
for i in $(seq 20); do head -c 4096 /dev/urandom >"$WORK/src/small-$i.json"; done
$PY - "$CACHE" "$WORK/project/modelbake.lock" "$WORK/src" <<'EOF'
import hashlib, json, os, sys
cache, lock_path, src = sys.argv[1:4]

def digests(path):
    size = os.path.getsize(path)
    s256, s1 = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            s256.update(chunk); s1.update(chunk)
    return size, s256.hexdigest(), s1.hexdigest()

models = [("bert", "bench/bert", ["model.safetensors"] + ["small-%d.json" % i for i in range(1, 21)]),
          ("llm", "bench/llm", ["model-q4_k_m.gguf"])]
lock = {"version": 1, "models": []}
for name, repo, files in models:
    commit = hashlib.sha1(repo.encode()).hexdigest()
    folder = os.path.join(cache, "models--" + repo.replace("/", "--"))
    entries = []
    for rel in sorted(files):
        size, sha, git = digests(os.path.join(src, rel))
        etag = sha if size > 10 << 20 else git
        obj = os.path.join(cache, ".locks", "modelbake", "objects", "sha256", sha[:2], sha[2:])
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        os.rename(os.path.join(src, rel), obj)
        os.chmod(obj, 0o444)
        blob = os.path.join(folder, "blobs", etag)
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        os.link(obj, blob)
        link = os.path.join(folder, "snapshots", commit, rel)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("../../blobs/" + etag, link)
        entries.append({"path": rel, "size": size, "sha256": sha, "etag": etag})
    os.makedirs(os.path.join(folder, "refs"), exist_ok=True)
    with open(os.path.join(folder, "refs", "main"), "w") as f:
        f.write(commit)
    lock["models"].append({"name": name, "repo": repo, "type": "model", "revision": "main", "commit": commit,
                           "include": [], "exclude": [], "files": entries})
for d in ("tmp", "locks"):
    os.makedirs(os.path.join(cache, ".locks", "modelbake", d), exist_ok=True)
with open(lock_path, "w") as f:
    f.write(json.dumps(lock, indent=2) + "\n")
EOF

MANIFEST=$WORK/project/modelbake.yaml
OUT=$WORK/out
export_cmd() { "$BIN" -q export -f "$MANIFEST" --cache "$CACHE" --force -o "$OUT.$1" --format "$@"; }

# The contenders run round-robin (one run of each, RUNS times) so that a slow spell of this
# shared machine hits all of them alike; each result is the median of its RUNS runs.
timed() {  # prints the wall-clock seconds of "$@" after clearing outputs and syncing
  rm -rf "$OUT".*
  sync
  local t0 t1
  t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
med() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }

# Warm the page cache once so every contender reads from memory.
cat "$CACHE"/.locks/modelbake/objects/sha256/*/* >/dev/null

if [[ $MODE == base ]]; then
  for t in buildah umoci; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 2; }; done
  [[ -x /bin/busybox ]] || { echo "busybox-static is required" >&2; exit 2; }
  # buildah names a stage's image after the oci: path, which must then be lower-case.
  LOWER=${BENCH_TMP:-${TMPDIR:-/tmp}}/mbbench$$
  mkdir "$LOWER"
  trap 'cleanup; rm -rf "$LOWER"' EXIT
  BASE=$LOWER/base
  PYTHONPATH=$ROOT/tests/support $PY -c 'import mbimage, sys; mbimage.busybox_base(sys.argv[1], "base")' "$BASE"
  # The same files as a plain folder tree for buildah (hard links: no copy).
  FLAT=$WORK/flat
  $PY - "$CACHE" "$WORK/project/modelbake.lock" "$FLAT" <<'EOF2'
import json, os, sys
cache, lock_path, flat = sys.argv[1:4]
for m in json.load(open(lock_path))["models"]:
    for f in m["files"]:
        dst = os.path.join(flat, m["name"], f["path"])
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.link(os.path.join(cache, ".locks", "modelbake", "objects", "sha256", f["sha256"][:2], f["sha256"][2:]), dst)
EOF2
  BS=(buildah --root "$WORK/b-root" --runroot "$WORK/b-run" --storage-driver vfs)
  buildah_image() {
    rm -rf "$WORK/b-root" "$WORK/b-run"
    local c
    c=$("${BS[@]}" from --quiet "oci:$BASE:base") || exit 1
    "${BS[@]}" copy --quiet "$c" "$FLAT" /models >/dev/null || exit 1
    "${BS[@]}" commit --quiet --disable-compression "$c" bench-models >/dev/null || exit 1
    "${BS[@]}" push --quiet --disable-compression bench-models "oci:$LOWER/buildah-out:v1" >/dev/null || exit 1
    rm -rf "$LOWER/buildah-out"
  }
  base_export() { export_cmd oci --base "oci:$BASE:base" --layout flat --no-layer-cache || exit 1; }
  declare -a R_MB R_BUILDAH
  echo "running ($RUNS rounds, medians)..." >&2
  for _ in $(seq "$RUNS"); do
    R_MB+=("$(timed base_export)")
    R_BUILDAH+=("$(timed buildah_image)")
  done
  T_MB=$(med "${R_MB[@]}"); T_BUILDAH=$(med "${R_BUILDAH[@]}")
  printf '
export --base benchmark: %s MiB in 2 models on a busybox base, %s runs, medians (seconds)
' "$MB" "$RUNS"
  printf '  %-58s %8.2f s
' "modelbake export --format oci --base (every byte hashed)" "$T_MB"
  printf '  %-58s %8.2f s
' "buildah from BASE + copy + commit + push (uncompressed)" "$T_BUILDAH"
  echo
  echo "  time export --base / buildah : $(ratio "$T_MB" "$T_BUILDAH")x"
  exit 0
fi

echo "running ($RUNS rounds, medians)..." >&2
gnu_tar() { tar -chf "$OUT.gnu.tar" -C "$CACHE" models--bench--bert/snapshots models--bench--llm/snapshots; }
gnu_tar_sync() { gnu_tar && sync "$OUT.gnu.tar"; }
oci_cold() { rm -rf "$CACHE/.locks/modelbake/layers"; export_cmd oci; }
declare -a R_GNU R_GNU_SYNC R_TAR R_TAR_NOSYNC R_OCI_COLD R_OCI_WARM
for _ in $(seq "$RUNS"); do
  R_GNU+=("$(timed gnu_tar)")
  R_GNU_SYNC+=("$(timed gnu_tar_sync)")
  R_TAR+=("$(timed export_cmd tar)")
  R_TAR_NOSYNC+=("$(timed export_cmd tar --no-sync)")
  R_OCI_COLD+=("$(timed oci_cold)")   # leaves the layer digests remembered for the warm run
  R_OCI_WARM+=("$(timed export_cmd oci)")
done
T_GNU=$(med "${R_GNU[@]}"); T_GNU_SYNC=$(med "${R_GNU_SYNC[@]}")
T_TAR=$(med "${R_TAR[@]}"); T_TAR_NOSYNC=$(med "${R_TAR_NOSYNC[@]}")
T_OCI_COLD=$(med "${R_OCI_COLD[@]}"); T_OCI_WARM=$(med "${R_OCI_WARM[@]}")

MIB=$(du -sm --apparent-size -L "$CACHE/models--bench--bert/snapshots" "$CACHE/models--bench--llm/snapshots" | awk '{s+=$1} END {print s}')
printf '\nexport benchmark: %s MiB in 2 models, %s runs, medians (seconds)\n' "$MIB" "$RUNS"
printf '  %-40s %8.2f s  %7.0f MiB/s\n' "tar -chf (GNU tar, no hashing)" "$T_GNU" "$(echo "$MIB / $T_GNU" | bc -l)"
printf '  %-40s %8.2f s  %7.0f MiB/s\n' "tar -chf && sync OUT (durable)" "$T_GNU_SYNC" "$(echo "$MIB / $T_GNU_SYNC" | bc -l)"
printf '  %-40s %8.2f s  %7.0f MiB/s\n' "modelbake export --format tar" "$T_TAR" "$(echo "$MIB / $T_TAR" | bc -l)"
printf '  %-40s %8.2f s  %7.0f MiB/s\n' "modelbake export --format tar --no-sync" "$T_TAR_NOSYNC" "$(echo "$MIB / $T_TAR_NOSYNC" | bc -l)"
printf '  %-40s %8.2f s  %7.0f MiB/s\n' "modelbake export --format oci (cold)" "$T_OCI_COLD" "$(echo "$MIB / $T_OCI_COLD" | bc -l)"
printf '  %-40s %8.2f s  %7.0f MiB/s\n' "modelbake export --format oci (warm)" "$T_OCI_WARM" "$(echo "$MIB / $T_OCI_WARM" | bc -l)"
echo
echo "  throughput export tar --no-sync / GNU tar : $(ratio "$T_GNU" "$T_TAR_NOSYNC")x   (target >= 0.8x; neither waits for the disk)"
echo "  throughput export tar / GNU tar + sync     : $(ratio "$T_GNU_SYNC" "$T_TAR")x   (both durable)"
echo "  throughput export tar / GNU tar            : $(ratio "$T_GNU" "$T_TAR")x   (durable vs not)"
echo "  time oci cold / tar                        : $(ratio "$T_OCI_COLD" "$T_TAR")x   (target <= 1.3x)"
echo "  time oci warm / tar                        : $(ratio "$T_OCI_WARM" "$T_TAR")x   (target <= 1.3x)"
