"""ONNX exports of the tests' tiny BERT-family models (gen_tiny_models.make_model), as
transformers' BertModel / RobertaModel / DistilBertModel / MPNetModel (+ sequence-classification
heads) compute them, written as plain torch ops with the same parameter names (transformers
cannot be installed here) and exported with Debian's torch.onnx.export, the way optimum's
exports look: inputs input_ids, attention_mask (and token_type_ids for BERT), output
last_hidden_state or logits. DistilBERT masks its scores with masked_fill (Equal/Where in the
graph); MPNet computes its relative position buckets inside the graph from the sequence length
(Range, Abs, Log, Min, ... as transformers' compute_position_bias).

    /usr/bin/python3 onnx_export.py MODEL_DIR OUT.onnx [OPSET] [--external]
"""
import json
import math
import os
import sys

import torch

import torch_reference


class PlainEncoder(torch.nn.Module):
    def __init__(self, model_dir):
        super().__init__()
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        self.cfg = cfg
        w = torch_reference.load_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.roberta = cfg["model_type"] in ("roberta", "xlm-roberta")
        arch = (cfg.get("architectures") or [""])[0]
        self.classifier = arch.endswith("ForSequenceClassification")
        self.pad = cfg.get("pad_token_id", 1)
        mt = cfg["model_type"]
        self.distil, self.mpnet = mt == "distilbert", mt == "mpnet"
        self.heads = cfg["n_heads" if self.distil else "num_attention_heads"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        if self.mpnet:
            self.pad = 1  # MPNetEmbeddings hard-codes padding_idx = 1
        pre = ["", "bert.", "roberta.", "distilbert.", "mpnet."]
        self.params = torch.nn.ParameterDict()

        def p(name):
            key = name.replace(".", "__")
            if key not in self.params:
                self.params[key] = torch.nn.Parameter(torch_reference.find(w, name, pre).clone())
            return self.params[key]

        self.p = p
        emb = ["word_embeddings.weight", "position_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias"]
        if not self.distil and not self.mpnet:
            emb.append("token_type_embeddings.weight")
        for name in emb:
            p("embeddings." + name)
        if self.mpnet:
            p("encoder.relative_attention_bias.weight")
        self.layers = cfg["n_layers" if self.distil else "num_hidden_layers"]
        if self.distil:
            self.layer_prefix = "transformer.layer."
            self.names = {"q": "attention.q_lin", "k": "attention.k_lin", "v": "attention.v_lin",
                          "o": "attention.out_lin", "ln1": "sa_layer_norm", "i": "ffn.lin1",
                          "out": "ffn.lin2", "ln2": "output_layer_norm"}
        elif self.mpnet:
            self.layer_prefix = "encoder.layer."
            self.names = {"q": "attention.attn.q", "k": "attention.attn.k", "v": "attention.attn.v",
                          "o": "attention.attn.o", "ln1": "attention.LayerNorm", "i": "intermediate.dense",
                          "out": "output.dense", "ln2": "output.LayerNorm"}
        else:
            self.layer_prefix = "encoder.layer."
            self.names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                          "o": "attention.output.dense", "ln1": "attention.output.LayerNorm",
                          "i": "intermediate.dense", "out": "output.dense", "ln2": "output.LayerNorm"}
        for i in range(self.layers):
            for sub in self.names.values():
                p(f"{self.layer_prefix}{i}.{sub}.weight")
                p(f"{self.layer_prefix}{i}.{sub}.bias")
        if self.classifier:
            if self.distil:
                heads = ["pre_classifier", "classifier"]
            elif self.roberta or self.mpnet:
                heads = ["classifier.dense", "classifier.out_proj"]
            else:
                heads = ["pooler.dense", "classifier"]
            for h in heads:
                p(h + ".weight")
                p(h + ".bias")

    def lin(self, x, name):
        return torch.nn.functional.linear(x, self.p(name + ".weight"), self.p(name + ".bias"))

    def norm(self, x, name):
        weight = self.p(name + ".weight")
        return torch.nn.functional.layer_norm(x, (weight.shape[0],), weight, self.p(name + ".bias"), self.eps)

    def position_bias(self, t):
        """MPNetEncoder.compute_position_bias: [1, heads, t, t] from T5's bidirectional buckets
        (32, max_distance 128) of key - query position, computed in the graph."""
        pos = torch.arange(t, dtype=torch.long)
        n = -(pos[None, :] - pos[:, None])
        ret = (n < 0).to(torch.long) * 16
        n = torch.abs(n)
        is_small = n < 8
        large = 8 + (torch.log(n.float() / 8) / math.log(128 / 8) * 8).to(torch.long)
        large = torch.min(large, torch.full_like(large, 15))
        bucket = ret + torch.where(is_small, n, large)
        table = self.p("encoder.relative_attention_bias.weight")
        return torch.nn.functional.embedding(bucket, table).permute([2, 0, 1]).unsqueeze(0)

    def embed(self, input_ids, token_type_ids):
        t = input_ids.shape[1]
        if self.roberta or self.mpnet:  # transformers' create_position_ids_from_input_ids
            mask = input_ids.ne(self.pad).int()
            pos = (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + self.pad
        else:
            pos = torch.arange(t, dtype=torch.long).unsqueeze(0)
        x = (torch.nn.functional.embedding(input_ids, self.p("embeddings.word_embeddings.weight"))
             + torch.nn.functional.embedding(pos, self.p("embeddings.position_embeddings.weight")))
        if not self.distil and not self.mpnet:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            x = x + torch.nn.functional.embedding(token_type_ids,
                                                  self.p("embeddings.token_type_embeddings.weight"))
        return self.norm(x, "embeddings.LayerNorm")

    def attention_scores(self, q, k, attention_mask, d):
        if self.distil:  # MultiHeadSelfAttention: q scaled first, masked_fill on mask == 0
            scores = torch.matmul(q / math.sqrt(d), k.transpose(2, 3))
            mask = (attention_mask == 0).view(attention_mask.shape[0], 1, 1, -1).expand_as(scores)
            return scores.masked_fill(mask, torch.tensor(torch.finfo(scores.dtype).min))
        ext = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
        if self.mpnet:
            scores = scores + self.position_bias(q.shape[2])
        return scores + ext

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        x = self.embed(input_ids, token_type_ids)
        b, t, h = x.shape
        d = h // self.heads

        def split(v):
            return v.view(b, t, self.heads, d).permute(0, 2, 1, 3)

        for i in range(self.layers):
            pfx = f"{self.layer_prefix}{i}."
            n = {key: pfx + sub for key, sub in self.names.items()}
            q, k, v = (split(self.lin(x, n[key])) for key in "qkv")
            scores = self.attention_scores(q, k, attention_mask, d)
            ctx = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(b, t, h)
            x = self.norm(self.lin(ctx, n["o"]) + x, n["ln1"])
            inner = torch.nn.functional.gelu(self.lin(x, n["i"]))
            x = self.norm(self.lin(inner, n["out"]) + x, n["ln2"])
        if not self.classifier:
            return x
        first = x[:, 0]
        if self.distil:  # pre_classifier + ReLU + classifier
            return self.lin(torch.relu(self.lin(first, "pre_classifier")), "classifier")
        if self.roberta or self.mpnet:
            return self.lin(torch.tanh(self.lin(first, "classifier.dense")), "classifier.out_proj")
        return self.lin(torch.tanh(self.lin(first, "pooler.dense")), "classifier")


def export(model_dir, out, opset=14, external=False, ids=(2, 5, 6, 3)):
    """Writes `out`; with `external` the initializers go to out + ".data" (optimum's layout for
    large models). Returns the input names."""
    m = PlainEncoder(model_dir).eval()
    ids_t = torch.tensor([list(ids)], dtype=torch.long)
    types = not (m.roberta or m.distil or m.mpnet)  # only BERT has token types
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if types else [])
    args = (ids_t, torch.ones_like(ids_t)) + ((torch.zeros_like(ids_t),) if types else ())
    out_name = "logits" if m.classifier else "last_hidden_state"
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes[out_name] = {0: "batch"} if m.classifier else {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(m, args, out, input_names=names, output_names=[out_name], dynamic_axes=axes,
                          opset_version=opset, do_constant_folding=True)
    if external:
        import onnx_external
        onnx_external.move_initializers_out(out, os.path.basename(out) + ".data")
    return names


if __name__ == "__main__":
    a = [x for x in sys.argv[1:] if not x.startswith("--")]
    export(a[0], a[1], int(a[2]) if len(a) > 2 else 14, "--external" in sys.argv)
