"""Independent reference for the inference engine, built from PyTorch's own modules.

A BERT layer is torch.nn.TransformerEncoderLayer with GELU, post-norm (norm_first=False)
and no dropout; weights are copied in from the safetensors file. Pooling follows
sentence-transformers (mean / cls / max, then torch.nn.functional.normalize), the
classification heads follow transformers (BERT pooler + classifier, RoBERTa dense + tanh +
out_proj, DistilBERT pre_classifier + ReLU + classifier). Token ids are an input: the tokenizer is tested separately.

MPNet (transformers' modeling_mpnet, re-derived here): the same post-norm layer, no token
types, position ids from padding_idx + 1 = 2, and a T5-style relative position bias: bucket
(32 buckets, bidirectional, max_distance 128) of key position - query position, looked up in
the one `encoder.relative_attention_bias` table [buckets, heads] shared by all layers and added
to every layer's scaled attention scores (passed here as the float attention mask).

    /usr/bin/python3 torch_reference.py MODEL_DIR ID ID ...   -> JSON list of floats
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        shape = info["shape"]
        if info["dtype"] == "F32":
            t = torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())
        elif info["dtype"] == "F16":
            t = torch.from_numpy(np.frombuffer(raw, dtype="<f2").copy()).float()
        elif info["dtype"] == "BF16":
            t = torch.from_numpy(np.frombuffer(raw, dtype="<i2").copy()).view(torch.bfloat16).float()
        else:
            continue
        out[name] = t.reshape(shape)
    return out


def relative_position_bucket(relative_position, num_buckets=32, max_distance=128):
    """T5's bidirectional bucketing as MPNetEncoder computes it (float32 log, truncation)."""
    n = -relative_position
    num_buckets //= 2
    ret = (n < 0).to(torch.long) * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
                                * (num_buckets - max_exact)).to(torch.long)
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    return ret + torch.where(is_small, n, val_if_large)


def mpnet_position_bias(table, t):
    """[heads, t, t] additive attention bias from the [buckets, heads] table. transformers calls
    compute_position_bias with its default num_buckets=32 whatever the config says."""
    pos = torch.arange(t, dtype=torch.long)
    bucket = relative_position_bucket(pos[None, :] - pos[:, None])
    return table[bucket].permute(2, 0, 1).contiguous()


def find(w, name, prefixes):
    for p in prefixes:
        if p + name in w:
            return w[p + name]
    raise KeyError(name)


def linear_from(w, name, prefixes):
    weight = find(w, name + ".weight", prefixes)
    lin = torch.nn.Linear(weight.shape[1], weight.shape[0])
    lin.weight.data.copy_(weight)
    lin.bias.data.copy_(find(w, name + ".bias", prefixes))
    return lin


class Reference(torch.nn.Module):
    def __init__(self, model_dir):
        super().__init__()
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        self.cfg = cfg
        w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        mt = cfg["model_type"]
        self.distil = mt == "distilbert"
        self.mpnet = mt == "mpnet"
        arch = (cfg.get("architectures") or [""])[0]
        self.classifier = arch.endswith("ForSequenceClassification")
        pre = ["", "bert.", "roberta.", "distilbert.", "mpnet."]
        h = cfg["dim"] if self.distil else cfg["hidden_size"]
        heads = cfg["n_heads"] if self.distil else cfg["num_attention_heads"]
        inter = cfg["hidden_dim"] if self.distil else cfg["intermediate_size"]
        nlayers = cfg["n_layers"] if self.distil else cfg["num_hidden_layers"]
        eps = cfg.get("layer_norm_eps", 1e-12)
        self.offset = cfg.get("pad_token_id", 1) + 1 if mt in ("roberta", "xlm-roberta") else 0
        if self.mpnet:
            self.offset = 2  # MPNetEmbeddings hard-codes padding_idx = 1
            self.rel_bias = find(w, "encoder.relative_attention_bias.weight", pre)
        word = find(w, "embeddings.word_embeddings.weight", pre)
        self.word = torch.nn.Embedding.from_pretrained(word)
        self.pos = torch.nn.Embedding.from_pretrained(find(w, "embeddings.position_embeddings.weight", pre))
        self.token_type = None
        if not self.distil and not self.mpnet:
            self.token_type = torch.nn.Embedding.from_pretrained(find(w, "embeddings.token_type_embeddings.weight", pre))
        self.emb_ln = torch.nn.LayerNorm(h, eps=eps)
        self.emb_ln.weight.data.copy_(find(w, "embeddings.LayerNorm.weight", pre))
        self.emb_ln.bias.data.copy_(find(w, "embeddings.LayerNorm.bias", pre))
        self.layers = torch.nn.ModuleList()
        for i in range(nlayers):
            layer = torch.nn.TransformerEncoderLayer(h, heads, dim_feedforward=inter, dropout=0.0,
                                                     activation="gelu", layer_norm_eps=eps,
                                                     batch_first=True, norm_first=False)
            if self.distil:
                p = f"transformer.layer.{i}."
                n = {"q": "attention.q_lin", "k": "attention.k_lin", "v": "attention.v_lin",
                     "o": "attention.out_lin", "ln1": "sa_layer_norm", "i": "ffn.lin1",
                     "out": "ffn.lin2", "ln2": "output_layer_norm"}
            elif self.mpnet:
                p = f"encoder.layer.{i}."
                n = {"q": "attention.attn.q", "k": "attention.attn.k", "v": "attention.attn.v",
                     "o": "attention.attn.o", "ln1": "attention.LayerNorm", "i": "intermediate.dense",
                     "out": "output.dense", "ln2": "output.LayerNorm"}
            else:
                p = f"encoder.layer.{i}."
                n = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                     "o": "attention.output.dense", "ln1": "attention.output.LayerNorm",
                     "i": "intermediate.dense", "out": "output.dense", "ln2": "output.LayerNorm"}
            g = lambda key, part: find(w, p + n[key] + "." + part, pre)  # noqa: E731
            sa = layer.self_attn
            sa.in_proj_weight.data.copy_(torch.cat([g("q", "weight"), g("k", "weight"), g("v", "weight")]))
            sa.in_proj_bias.data.copy_(torch.cat([g("q", "bias"), g("k", "bias"), g("v", "bias")]))
            sa.out_proj.weight.data.copy_(g("o", "weight"))
            sa.out_proj.bias.data.copy_(g("o", "bias"))
            layer.linear1.weight.data.copy_(g("i", "weight"))
            layer.linear1.bias.data.copy_(g("i", "bias"))
            layer.linear2.weight.data.copy_(g("out", "weight"))
            layer.linear2.bias.data.copy_(g("out", "bias"))
            for ln, key in ((layer.norm1, "ln1"), (layer.norm2, "ln2")):
                ln.weight.data.copy_(g(key, "weight"))
                ln.bias.data.copy_(g(key, "bias"))
            self.layers.append(layer)
        self.head_act = torch.relu if self.distil else torch.tanh
        if self.classifier:
            if self.distil:  # DistilBertForSequenceClassification: pre_classifier + ReLU
                self.head_dense = linear_from(w, "pre_classifier", [""])
                self.head_out = linear_from(w, "classifier", [""])
            elif mt == "bert":
                self.head_dense = linear_from(w, "pooler.dense", ["bert."])
                self.head_out = linear_from(w, "classifier", [""])
            else:
                self.head_dense = linear_from(w, "classifier.dense", [""])
                self.head_out = linear_from(w, "classifier.out_proj", [""])
        self.pooling, self.normalize = ["mean"], False
        modules = os.path.join(model_dir, "modules.json")
        if os.path.exists(modules):
            with open(modules) as f:
                mods = json.load(f)
            for m in mods:
                if m["type"].endswith("Normalize"):
                    self.normalize = True
                if m["type"].endswith("Pooling"):
                    with open(os.path.join(model_dir, m["path"], "config.json")) as f:
                        pc = json.load(f)
                    self.pooling = [mode for key, mode in (("pooling_mode_cls_token", "cls"),
                                                          ("pooling_mode_max_tokens", "max"),
                                                          ("pooling_mode_mean_tokens", "mean")) if pc.get(key)]
        self.eval()

    @torch.no_grad()
    def forward(self, ids):
        ids = torch.tensor([ids], dtype=torch.long)
        positions = torch.arange(ids.shape[1]).unsqueeze(0) + self.offset
        x = self.word(ids) + self.pos(positions)
        if self.token_type is not None:
            x = x + self.token_type(torch.zeros_like(ids))
        x = self.emb_ln(x)
        mask = mpnet_position_bias(self.rel_bias, ids.shape[1]) if self.mpnet else None
        for layer in self.layers:
            x = layer(x, src_mask=mask)
        if self.classifier:
            return self.head_out(self.head_act(self.head_dense(x[:, 0])))[0]
        parts = []
        for mode in self.pooling:
            if mode == "cls":
                parts.append(x[:, 0])
            elif mode == "max":
                parts.append(x.max(dim=1).values)
            else:
                parts.append(x.mean(dim=1))
        out = torch.cat(parts, dim=1)
        if self.normalize:
            out = torch.nn.functional.normalize(out, p=2, dim=1)
        return out[0]


def reference_output(model_dir, ids):
    return Reference(model_dir)(ids).tolist()


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(json.dumps(reference_output(sys.argv[1], [int(a) for a in sys.argv[2:]])))


# ---- decoder-only LLMs (Llama / Qwen2 / Mistral), issue 14.1 --------------------------------
# Written from the published math, not from transformers (not installed): float64 on the
# stored weights widened exactly, full causal attention recomputed at every step (no cache).

def load_all_safetensors(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if not os.path.exists(index):
        return load_safetensors(os.path.join(model_dir, "model.safetensors"))
    with open(index, encoding="utf-8") as f:
        files = sorted(set(json.load(f)["weight_map"].values()))
    out = {}
    for name in files:
        out.update(load_safetensors(os.path.join(model_dir, name)))
    return out


def rope_inv_freq(cfg, head_dim):
    theta = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    sc = cfg.get("rope_scaling") or {}
    kind = sc.get("rope_type", sc.get("type", "default"))
    if kind == "linear":
        inv = inv / sc["factor"]
    elif kind == "llama3":
        factor, low, high = sc["factor"], sc.get("low_freq_factor", 1.0), sc.get("high_freq_factor", 4.0)
        old = sc.get("original_max_position_embeddings", 8192)
        wavelen = 2 * math.pi / inv
        scaled = []
        for f, wl in zip(inv.tolist(), wavelen.tolist()):
            if wl < old / high:
                scaled.append(f)
            elif wl > old / low:
                scaled.append(f / factor)
            else:
                s = (old / wl - low) / (high - low)
                scaled.append((1 - s) * f / factor + s * f)
        inv = torch.tensor(scaled, dtype=torch.float64)
    return inv


class DecoderReference:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
            self.cfg = json.load(f)
        self.w = {k: v.double() for k, v in load_all_safetensors(model_dir).items()}
        c = self.cfg
        self.heads, self.kv_heads = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
        self.head_dim = c.get("head_dim") or c["hidden_size"] // self.heads
        self.eps = c["rms_norm_eps"]
        self.inv_freq = rope_inv_freq(c, self.head_dim)
        self.lm_head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])

    def rms(self, x, weight):
        return weight * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps))

    def rotate(self, x, cos, sin):  # x [heads, t, d]
        half = x.shape[-1] // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rot * sin

    def logits(self, ids):
        w, t = self.w, len(ids)
        x = w["model.embed_tokens.weight"][torch.tensor(ids)]
        ang = torch.arange(t, dtype=torch.float64)[:, None] * self.inv_freq[None, :]
        cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
        mask = torch.full((t, t), float("-inf"), dtype=torch.float64).triu(1)
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = self.rms(x, w[p + "input_layernorm.weight"])

            def proj(name):
                y = h @ w[p + f"self_attn.{name}_proj.weight"].T
                return y + w[p + f"self_attn.{name}_proj.bias"] if p + f"self_attn.{name}_proj.bias" in w else y
            q = proj("q").view(t, self.heads, self.head_dim).transpose(0, 1)
            k = proj("k").view(t, self.kv_heads, self.head_dim).transpose(0, 1)
            v = proj("v").view(t, self.kv_heads, self.head_dim).transpose(0, 1)
            q, k = self.rotate(q, cos, sin), self.rotate(k, cos, sin)
            rep = self.heads // self.kv_heads
            k, v = k.repeat_interleave(rep, dim=0), v.repeat_interleave(rep, dim=0)
            att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(self.head_dim) + mask, dim=-1)
            o = (att @ v).transpose(0, 1).reshape(t, self.heads * self.head_dim)
            x = x + o @ w[p + "self_attn.o_proj.weight"].T
            h = self.rms(x, w[p + "post_attention_layernorm.weight"])
            g = h @ w[p + "mlp.gate_proj.weight"].T
            u = h @ w[p + "mlp.up_proj.weight"].T
            x = x + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
        x = self.rms(x[-1], w["model.norm.weight"])
        return x @ self.lm_head.T

    def greedy(self, ids, n, eos):
        """(logits after the prompt, greedy ids), stopping after eos like the engine."""
        first = self.logits(ids)
        logits, seq, out = first, list(ids), []
        for i in range(n):
            nxt = int(torch.argmax(logits))
            out.append(nxt)
            if nxt == eos or i + 1 == n:
                break
            seq.append(nxt)
            logits = self.logits(seq)
        return first.tolist(), out
