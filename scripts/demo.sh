#!/usr/bin/env bash
# End-to-end demo on loopback, no internet needed: a tiny generated sentence-transformers
# model is served by the test hub; modelbake locks, fetches, verifies and exports it, and
# modelbake-verify loads it and runs one inference. Run ./scripts/setup.sh first.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MB="${MODELBAKE_BIN:-$ROOT/build/modelbake}"
MBV="${MODELBAKE_VERIFY_BIN:-$ROOT/build/modelbake-verify}"
PY=/usr/bin/python3
[[ -x "$MB" && -x "$MBV" ]] || { echo "demo: build first with ./scripts/setup.sh" >&2; exit 2; }

WORK="$(mktemp -d /tmp/modelbake-demo.XXXXXX)"
HUB_PID=""
cleanup() { [[ -n "$HUB_PID" ]] && kill "$HUB_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# 1. A tiny BERT sentence-transformer (random weights) published on a local hub.
"$PY" "$ROOT/tests/support/gen_tiny_models.py" "$WORK/gen" bert >/dev/null
files=()
for f in config.json tokenizer.json modules.json 1_Pooling/config.json; do
  files+=(--file "$f=$WORK/gen/bert/$f")
done
"$PY" "$ROOT/tests/hub/mkdata.py" "$WORK/hubdata" --repo demo/tiny-embedder "${files[@]}" \
  --file "model.safetensors=$WORK/gen/bert/model.safetensors:lfs" >/dev/null
"$PY" "$ROOT/tests/hub/testhub.py" --data "$WORK/hubdata" >"$WORK/hub.out" 2>"$WORK/hub.err" &
HUB_PID=$!
for _ in $(seq 50); do [[ -s "$WORK/hub.out" ]] && break; sleep 0.1; done
export HF_ENDPOINT="$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$WORK/hub.out")"
echo "test hub serving demo/tiny-embedder at $HF_ENDPOINT"

# 2. The manifest a service would commit.
cd "$WORK"
cat > modelbake.yaml <<'YAML'
version: 1
models:
  - repo: demo/tiny-embedder
    include: ["*.json", "*.safetensors", "1_Pooling/*"]
    as: embedder
    expect:
      dim: 32
YAML
export HF_HUB_CACHE="$WORK/cache"

step modelbake lock;            "$MB" lock
step cat modelbake.lock;        head -20 modelbake.lock; echo "  ..."
step modelbake fetch --locked;  "$MB" fetch --locked
step modelbake verify;          "$MB" verify
step modelbake export -o bundle --format dir --layout flat
"$MB" export -o bundle --format dir --layout flat
step modelbake-verify --infer bundle;  "$MBV" --infer bundle
step modelbake export -o image --format oci --tag models:demo
"$MB" export -o image --format oci --tag models:demo
ls image
echo
echo "Done: the cache at \$HF_HUB_CACHE loads offline with HF_HUB_OFFLINE=1; 'image' is an OCI"
echo "image layout for COPY --from (see docs/bundles.md)."
