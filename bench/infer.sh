#!/usr/bin/env bash
# Inference speed against PyTorch on one thread, on a synthetic model with
# all-MiniLM-L6-v2's shapes (6 layers, hidden 384, 12 heads, intermediate 1536, vocab 30522,
# random weights) and a 32-token input. Prints medians and ratios; never fails on a number.
#
#   bench/infer.sh [BUILD_DIR]        (default: ./build)
#
# (a) one forward pass: the engine (load once, time N passes) vs PyTorch's reference
#     modules (tests/support/torch_reference.py) with torch.set_num_threads(1);
# (b) time to first output: a fresh process that loads the model and prints one output
#     (modelbake-verify --infer when it supports a model directory, else the mb_probe test
#     driver) vs `python3 -c 'import torch; load; forward'`;
# (c) the ONNX export of the model: the ONNX interpreter vs (a) and vs ONNX Runtime (1 thread).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
PY=/usr/bin/python3
PROBE=$BUILD/tests/mb_probe
RUNS=${RUNS:-15}
STARTS=${STARTS:-5}
[[ -x $PROBE ]] || { echo "bench/infer.sh: $PROBE not built (cmake --build $BUILD --target mb_probe)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/mb-bench-infer.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
MODEL=$WORK/minilm
PYTHONPATH=$ROOT/tests/support $PY -c "import gen_tiny_models as g; g.make_minilm('$MODEL')" >/dev/null

# 30 words that are whole tokens of the generated vocabulary + [CLS]/[SEP] = 32 tokens.
TEXT=$(PYTHONPATH=$ROOT/tests/support $PY -c "
import gen_tiny_models as g
words = [w for w in g.WORDS if not w.startswith('##')]
print(' '.join((words * 3)[:30]))")
IDS=$($PROBE "$MODEL" "{\"probe_text\": \"$TEXT\"}" | $PY -c "import json,sys; print(' '.join(map(str, json.load(sys.stdin)['token_ids'])))")
echo "model: MiniLM-L6 shapes (random weights), tokens: $(wc -w <<<"$IDS")"

median() { $PY -c "import statistics,sys; print('%.2f' % statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

# (a) forward pass
OURS=$($PROBE --time "$RUNS" "$MODEL" "$TEXT" | $PY -c "
import json,statistics,sys; d=json.load(sys.stdin); print('%.2f %s' % (statistics.median(d['ms'][1:]), d['kernel']))")
OURS_MS=${OURS% *}
TORCH_MS=$(PYTHONPATH=$ROOT/tests/support $PY - "$MODEL" "$RUNS" $IDS <<'EOF'
import statistics, sys, time
import torch
torch.set_num_threads(1)
import torch_reference
model = torch_reference.Reference(sys.argv[1])
ids = [int(x) for x in sys.argv[3:]]
model(ids)
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    model(ids)
    times.append((time.perf_counter() - t) * 1000)
print("%.2f" % statistics.median(times))
EOF
)
echo "(a) forward pass, median of $RUNS: engine ${OURS_MS} ms (kernel ${OURS#* }), pytorch 1 thread ${TORCH_MS} ms," \
     "ratio engine/pytorch $($PY -c "print('%.2f' % ($OURS_MS / $TORCH_MS))")"

# (b) time to first output, fresh processes
now_ms() { date +%s%N | awk '{printf "%.3f", $1 / 1e6}'; }
ours=() torch=()
for _ in $(seq "$STARTS"); do
  t0=$(now_ms); "$PROBE" "$MODEL" "{\"probe_text\": \"$TEXT\"}" >/dev/null; t1=$(now_ms)
  ours+=("$($PY -c "print($t1 - $t0)")")
  t0=$(now_ms)
  PYTHONPATH=$ROOT/tests/support $PY -c "
import sys, torch
torch.set_num_threads(1)
import torch_reference
print(torch_reference.Reference('$MODEL')([$(tr ' ' ',' <<<"$IDS")])[0].item())" >/dev/null
  t1=$(now_ms)
  torch+=("$($PY -c "print($t1 - $t0)")")
done
O=$(median "${ours[@]}"); T=$(median "${torch[@]}")
echo "(b) time to first output, median of $STARTS fresh processes: engine ${O} ms, python+torch ${T} ms," \
     "ratio engine/pytorch $($PY -c "print('%.2f' % ($O / $T))")"

# (c) the ONNX export of the same model (tests/support/onnx_export.py, opset 17): the ONNX
#     interpreter vs the safetensors engine (a) vs ONNX Runtime (onnxruntime-node from
#     tests/onnx, one thread), the same ids, median of RUNS after one warm-up run.
ONNX=$WORK/minilm.onnx
PYTHONPATH=$ROOT/tests/support $PY -c "import onnx_export; onnx_export.export('$MODEL', '$ONNX', 17)" >/dev/null 2>&1
IDS_JSON="[$(tr ' ' ',' <<<"$IDS")]"
med_json() { $PY -c "import json,statistics,sys; d=json.load(sys.stdin); print('%.2f' % statistics.median(d['ms'][1:]))"; }
ONNX_MS=$($PROBE --onnx "$ONNX" "$IDS_JSON" "$((RUNS + 1))" | med_json)
line="(c) ONNX export, median of $RUNS: interpreter ${ONNX_MS} ms, ratio interpreter/safetensors engine $($PY -c "print('%.2f' % ($ONNX_MS / $OURS_MS))")"
if [[ -d $ROOT/tests/onnx/node_modules/onnxruntime-node ]] && command -v node >/dev/null; then
  ORT_MS=$(node "$ROOT/tests/onnx/run_onnx.mjs" "$ONNX" "$IDS_JSON" "$((RUNS + 1))" | med_json)
  line+=", onnxruntime 1 thread ${ORT_MS} ms, ratio interpreter/onnxruntime $($PY -c "print('%.2f' % ($ONNX_MS / $ORT_MS))")"
else
  line+=" (onnxruntime-node not installed: npm ci --ignore-scripts --prefix tests/onnx)"
fi
echo "$line"
