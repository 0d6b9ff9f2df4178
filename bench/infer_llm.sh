#!/usr/bin/env bash
# Decoder LLM speed against PyTorch on the same threads (issue 14.1), on a random model with
# Qwen2.5-0.5B's shapes (24 layers, hidden 896, 14 heads / 2 KV heads, intermediate 4864,
# vocab 151936, tied embeddings, q/k/v bias), stored F16 safetensors (~1 GB) or, with
# FORMAT=gguf-q8_0, the same random weights quantised to a Q8_0 GGUF (~0.5 GB; norms and
# biases F32). Prints figures and ratios; never fails on a number.
#
#   bench/infer_llm.sh [BUILD_DIR]      THREADS=1 NEW=16 FORMAT=f16 (defaults; or gguf-q8_0,
#                                       or q8_0-vs-f16)
#
# FORMAT=q8_0-vs-f16 leaves PyTorch out: the engine decodes the same random weights as F16
# safetensors and as a Q8_0 GGUF, RUNS=3 times each, interleaved (so both see the same load
# from other processes), and prints the medians and the Q8_0/F16 ratios.
#
# engine : mb_probe --decode (load = mmap + shape checks; first token = the prompt pass,
#          token by token through the KV cache; tokens/s over the greedy steps after it).
#          Q8_0 matrices are used in place (quant.cpp), never dequantised.
# PyTorch: the same math with a KV cache (prompt in one batched pass), weights widened to F32
#          at load (PyTorch's CPU path for an F16 checkpoint; for Q8_0, PyTorch has no kernel,
#          so the GGUF is dequantised to F32 at load with tests/support/gguf_writer.py, and
#          that time counts as its load, and the activation of each product is quantised to
#          int8 blocks of 32 as the engine and llama.cpp do), torch.set_num_threads(THREADS).
#          The Q8_0 greedy ids may still differ: this random 24-layer model amplifies a rounding
#          flip of one activation (1e-6 relative noise on the embeddings moves the prompt logits
#          by ~11 with quantised activations, by 0.016 without), so they are not a check here;
#          tests/integration/test_gguf_verify.py is (tiny models, logits within 1e-6).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
PY=/usr/bin/python3
PROBE=$BUILD/tests/mb_probe
THREADS=${THREADS:-1}
NEW=${NEW:-16}
FORMAT=${FORMAT:-f16}
[[ $FORMAT == f16 || $FORMAT == gguf-q8_0 || $FORMAT == q8_0-vs-f16 ]] ||
  { echo "bench/infer_llm.sh: FORMAT must be f16, gguf-q8_0 or q8_0-vs-f16" >&2; exit 2; }
[[ -x $PROBE ]] || { echo "bench/infer_llm.sh: $PROBE not built (cmake --build $BUILD --target mb_probe)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/mb-bench-llm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
MODEL=$WORK/qwen05
PYTHONPATH=$ROOT/tests/support $PY -c "
import gen_tiny_models as g
g.make_llm('$MODEL', 'qwen2', dtype='F16', tied=True, seed=1, shapes={'hidden': 896, 'heads': 14, 'kv_heads': 2,
           'head_dim': 64, 'intermediate': 4864, 'layers': 24, 'vocab': 151936, 'max_pos': 32768})" >/dev/null
TEXT="hello world, the cat is good and this model computes hello world"
if [[ $FORMAT == q8_0-vs-f16 ]]; then
  Q8=$WORK/model-q8_0.gguf  # outside the folder, so the folder run reads the safetensors
  PYTHONPATH=$ROOT/tests/support:$ROOT/bench $PY -c "
import llm_gguf; llm_gguf.write_gguf('$MODEL', '$Q8', 'Q8_0')"
  echo "model: Qwen2.5-0.5B shapes, F16 safetensors vs Q8_0 GGUF; threads: $THREADS; new tokens: $NEW"
  runs=()
  for ((i = 0; i < ${RUNS:-3}; i++)); do
    runs+=("$(MB_INFER_THREADS=$THREADS $PROBE --decode "$NEW" "$MODEL" "$TEXT")")
    runs+=("$(MB_INFER_THREADS=$THREADS $PROBE --decode "$NEW" "$Q8" "$TEXT")")
  done
  $PY - "${runs[@]}" <<'PYEOF'
import json, statistics, sys
runs = [json.loads(a) for a in sys.argv[1:]]
f16, q8 = runs[0::2], runs[1::2]
med = lambda rs, k: statistics.median(r[k] for r in rs)
print(f"{'':8}{'load ms':>10}{'first-token ms':>16}{'tokens/s':>10}   (medians of {len(f16)})")
for name, rs in (("F16", f16), ("Q8_0", q8)):
    print(f"{name:8}{med(rs, 'load_ms'):10.1f}{med(rs, 'first_token_ms'):16.1f}{med(rs, 'tokens_per_s'):10.2f}")
print("tokens/s per run: F16 " + " ".join(f"{r['tokens_per_s']:.2f}" for r in f16) +
      "; Q8_0 " + " ".join(f"{r['tokens_per_s']:.2f}" for r in q8))
print(f"ratio Q8_0/F16: tokens/s {med(q8, 'tokens_per_s') / med(f16, 'tokens_per_s'):.2f}x, "
      f"first token {med(q8, 'first_token_ms') / med(f16, 'first_token_ms'):.2f}x time")
print("greedy ids equal (Q8_0 vs F16): " + str(q8[0]["generated_ids"] == f16[0]["generated_ids"]))
PYEOF
  exit 0
fi
WEIGHTS=$MODEL
if [[ $FORMAT == gguf-q8_0 ]]; then
  # Same random weights, quantised; the safetensors file goes (config.json stays: the PyTorch
  # side reads the shapes from it, the engine from the GGUF metadata).
  WEIGHTS=$MODEL/model-q8_0.gguf
  PYTHONPATH=$ROOT/tests/support:$ROOT/bench $PY -c "
import llm_gguf; llm_gguf.write_gguf('$MODEL', '$WEIGHTS', 'Q8_0')"
  rm "$MODEL/model.safetensors"
fi
echo "model: Qwen2.5-0.5B shapes, $FORMAT, $(du -sh "$MODEL" | cut -f1); threads: $THREADS; new tokens: $NEW"

OURS=$(MB_INFER_THREADS=$THREADS $PROBE --decode "$NEW" "$WEIGHTS" "$TEXT")
PYTHONPATH=$ROOT/tests/support:$ROOT/bench $PY - "$MODEL" "$THREADS" "$NEW" "$OURS" "$WEIGHTS" <<'PYEOF'
import json, math, sys, time
import torch
import torch_reference as R

model, threads, new, ours = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
gguf = sys.argv[5] if sys.argv[5].endswith(".gguf") else None
torch.set_num_threads(threads)
t0 = time.perf_counter()
cfg = json.load(open(model + "/config.json"))
if gguf:  # no Q8_0 kernel in PyTorch: dequantise to F32 once
    import llm_gguf
    w = llm_gguf.load_dequantised(gguf)
else:
    w = {k: v.float() for k, v in R.load_all_safetensors(model).items()}
load_ms = (time.perf_counter() - t0) * 1e3
H, KV, L = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
D = cfg.get("head_dim") or cfg["hidden_size"] // H
inv = R.rope_inv_freq(cfg, D).float()
eps = cfg["rms_norm_eps"]
head = w.get("lm_head.weight", w["model.embed_tokens.weight"])


def rms(x, g):
    return g * (x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps))


def act(x):
    """The engine multiplies a Q8_0 matrix as llama.cpp does, by the activation quantised to
    int8 blocks of 32 (d = max|x| / 127); the same here, so the greedy ids stay comparable."""
    if not gguf:
        return x
    b = x.reshape(*x.shape[:-1], -1, 32)
    amax = b.abs().amax(-1, keepdim=True)
    inv = torch.where(amax > 0, 127.0 / amax, torch.zeros_like(amax))
    return (torch.round(b * inv) * (amax / 127.0)).reshape(x.shape)


def rot(x, cos, sin):
    h = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin


def forward(ids, cache, pos):
    t = len(ids)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    ang = torch.arange(pos, pos + t, dtype=torch.float32)[:, None] * inv[None, :]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    for i in range(L):
        p = f"model.layers.{i}.self_attn."
        h = rms(x, w[f"model.layers.{i}.input_layernorm.weight"])
        h = act(h)
        q = (h @ w[p + "q_proj.weight"].T + w[p + "q_proj.bias"]).view(t, H, D).transpose(0, 1)
        k = (h @ w[p + "k_proj.weight"].T + w[p + "k_proj.bias"]).view(t, KV, D).transpose(0, 1)
        v = (h @ w[p + "v_proj.weight"].T + w[p + "v_proj.bias"]).view(t, KV, D).transpose(0, 1)
        q, k = rot(q, cos, sin), rot(k, cos, sin)
        if i in cache:
            k, v = torch.cat([cache[i][0], k], 1), torch.cat([cache[i][1], v], 1)
        cache[i] = (k, v)
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)
        s = q @ k.transpose(1, 2) / math.sqrt(D)
        if t > 1:  # causal within the new tokens (all cached ones are visible)
            s = s + torch.full((t, t), float("-inf")).triu(1) if pos == 0 else s
        o = torch.softmax(s, -1) @ v
        x = x + act(o.transpose(0, 1).reshape(t, H * D)) @ w[p + "o_proj.weight"].T
        m = f"model.layers.{i}.mlp."
        h = act(rms(x, w[f"model.layers.{i}.post_attention_layernorm.weight"]))
        g = torch.nn.functional.silu(h @ w[m + "gate_proj.weight"].T) * (h @ w[m + "up_proj.weight"].T)
        x = x + act(g) @ w[m + "down_proj.weight"].T
    return act(rms(x[-1], w["model.norm.weight"])) @ head.T


with torch.inference_mode():
    ids, cache = ours["prompt_ids"], {}
    t0 = time.perf_counter()
    logits = forward(ids, cache, 0)
    first_ms = (time.perf_counter() - t0) * 1e3
    out, pos = [int(torch.argmax(logits))], len(ids)
    t1 = time.perf_counter()
    for _ in range(new - 1):
        logits = forward([out[-1]], cache, pos)
        pos += 1
        out.append(int(torch.argmax(logits)))
    tps = (new - 1) / (time.perf_counter() - t1)
same = out == ours["generated_ids"][:len(out)]
print(f"prompt tokens: {len(ids)}; greedy ids identical to PyTorch: {same}")
if gguf:
    print("pytorch: Q8_0 dequantised to F32 at load (PyTorch has no Q8_0 kernel), activations of the products "
          "quantised to int8 blocks as the engine's and llama.cpp's; engine: Q8_0 in place")
print(f"{'':12}{'load ms':>10}{'first-token ms':>16}{'tokens/s':>10}")
print(f"{'engine':12}{ours['load_ms']:10.1f}{ours['first_token_ms']:16.1f}{ours['tokens_per_s']:10.2f}")
print(f"{'pytorch':12}{load_ms:10.1f}{first_ms:16.1f}{tps:10.2f}")
print(f"ratios engine/pytorch: first token {ours['first_token_ms'] / first_ms:.2f}x time, "
      f"tokens/s {ours['tokens_per_s'] / tps:.2f}x")
PYEOF
