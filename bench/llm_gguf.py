"""bench/infer_llm.sh's GGUF side: turn the bench's random F16 safetensors Qwen2 model into a
GGUF (arch qwen2, matrices quantised to one ggml type, norms and biases F32, the bench's
tokenizer.json embedded as tokenizer.ggml.*), streaming tensor by tensor; and read such a file
back dequantised to F32 for the PyTorch side (PyTorch has no Q8_0 kernel)."""

import json
import re
import struct

import numpy as np

import gguf_writer as G

# HF name (after "model.layers.N.") -> GGUF name (after "blk.N.")
LAYER = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
         "self_attn.o_proj.weight": "attn_output.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
         "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
         **{f"self_attn.{n}_proj.{k}": f"attn_{n}.{k}" for n in "qkv" for k in ("weight", "bias")}}
TOP = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
       "lm_head.weight": "output.weight"}


def gguf_name(hf):
    if hf in TOP:
        return TOP[hf]
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", hf)
    return f"blk.{m.group(1)}.{LAYER[m.group(2)]}"


def hf_name(gguf):
    inv = {v: k for k, v in TOP.items()}
    if gguf in inv:
        return inv[gguf]
    m = re.fullmatch(r"blk\.(\d+)\.(.+)", gguf)
    return f"model.layers.{m.group(1)}." + {v: k for k, v in LAYER.items()}[m.group(2)]


def safetensors_arrays(path):
    """{name: memory-mapped numpy array} of one safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    dt = {"F16": np.float16, "F32": np.float32}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = buf[8 + n + a:8 + n + b].view(dt[t["dtype"]]).reshape(t["shape"])
    return out


def write_gguf(model_dir, path, typ):
    cfg = json.load(open(model_dir + "/config.json"))
    g = G.GgufFile()
    g.add("general.architecture", G.STRING, "qwen2")
    g.add("general.name", G.STRING, "bench-qwen2.5-0.5b-shapes-" + typ)
    # The folder's byte-level BPE tokenizer.json, embedded (so both formats see the same
    # prompt ids); ids beyond it up to vocab_size are unique pieces no merge produces.
    tok = json.load(open(model_dir + "/tokenizer.json"))
    tokens = [f"[PAD{i}]" for i in range(cfg["vocab_size"])]
    ttypes = [1] * cfg["vocab_size"]
    for piece, i in tok["model"]["vocab"].items():
        tokens[i] = piece
    for t in tok.get("added_tokens", []):
        tokens[t["id"]], ttypes[t["id"]] = t["content"], 3 if t.get("special") else 4
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    g.add("tokenizer.ggml.model", G.STRING, "gpt2")
    g.add("tokenizer.ggml.pre", G.STRING, "qwen2")
    g.add_array("tokenizer.ggml.merges", G.STRING, merges)
    g.add_array("tokenizer.ggml.tokens", G.STRING, tokens)
    g.add_array("tokenizer.ggml.token_type", G.I32, ttypes)
    for key in ("bos", "eos"):
        if cfg.get(key + "_token_id") is not None:
            g.add(f"tokenizer.ggml.{key}_token_id", G.U32, cfg[key + "_token_id"])
    g.add("tokenizer.ggml.add_bos_token", G.BOOL, False)
    for k, t, v in [("block_count", G.U32, cfg["num_hidden_layers"]), ("embedding_length", G.U32, cfg["hidden_size"]),
                    ("attention.head_count", G.U32, cfg["num_attention_heads"]),
                    ("attention.head_count_kv", G.U32, cfg["num_key_value_heads"]),
                    ("feed_forward_length", G.U32, cfg["intermediate_size"]),
                    ("context_length", G.U32, cfg["max_position_embeddings"]),
                    ("rope.freq_base", G.F32, cfg["rope_theta"]),
                    ("attention.layer_norm_rms_epsilon", G.F32, cfg["rms_norm_eps"])]:
        g.add("qwen2." + k, t, v)
    for name, a in safetensors_arrays(model_dir + "/model.safetensors").items():
        if a.ndim == 1:
            g.add_tensor(gguf_name(name), "F32", np.asarray(a, np.float32).tobytes(), list(a.shape))
        else:
            g.add_tensor_lazy(gguf_name(name), typ, list(a.shape), lambda a=a: G.quantize_chunks(a, typ))
    g.write(path)


def load_dequantised(path):
    """{HF name: float32 torch tensor} of a write_gguf file: each tensor dequantised once at
    load, as gguf_writer's reference dequantisers compute it."""
    import torch
    out = {}
    for name, (typ, shape, data) in G.read_tensors(path).items():
        rows = shape[0]
        x = G.dequantize(np.asarray(data), typ, rows, int(np.prod(shape)) // rows).reshape(shape)
        out[hf_name(name)] = torch.from_numpy(x)
    return out
