"""ONNX exports of the tests' tiny BERT-family models (gen_tiny_models.make_model), as
transformers' BertModel / RobertaModel (+ sequence-classification heads) compute them, written
as plain torch ops with the same parameter names (transformers cannot be installed here) and
exported with Debian's torch.onnx.export, the way optimum's exports look: inputs input_ids,
attention_mask (and token_type_ids for BERT), output last_hidden_state or logits.

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
        self.heads = cfg["num_attention_heads"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        pre = ["", "bert.", "roberta."]
        self.params = torch.nn.ParameterDict()

        def p(name):
            key = name.replace(".", "__")
            if key not in self.params:
                self.params[key] = torch.nn.Parameter(torch_reference.find(w, name, pre).clone())
            return self.params[key]

        self.p = p
        for name in ("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                     "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
                     "embeddings.LayerNorm.bias"):
            p(name)
        self.layers = cfg["num_hidden_layers"]
        for i in range(self.layers):
            for sub in ("attention.self.query", "attention.self.key", "attention.self.value",
                        "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                        "output.dense", "output.LayerNorm"):
                p(f"encoder.layer.{i}.{sub}.weight")
                p(f"encoder.layer.{i}.{sub}.bias")
        if self.classifier:
            heads = ["classifier.dense", "classifier.out_proj"] if self.roberta else ["pooler.dense", "classifier"]
            for h in heads:
                p(h + ".weight")
                p(h + ".bias")

    def lin(self, x, name):
        return torch.nn.functional.linear(x, self.p(name + ".weight"), self.p(name + ".bias"))

    def norm(self, x, name):
        weight = self.p(name + ".weight")
        return torch.nn.functional.layer_norm(x, (weight.shape[0],), weight, self.p(name + ".bias"), self.eps)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        t = input_ids.shape[1]
        if self.roberta:  # transformers' create_position_ids_from_input_ids
            mask = input_ids.ne(self.pad).int()
            pos = (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + self.pad
        else:
            pos = torch.arange(t, dtype=torch.long).unsqueeze(0)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = (torch.nn.functional.embedding(input_ids, self.p("embeddings.word_embeddings.weight"))
             + torch.nn.functional.embedding(pos, self.p("embeddings.position_embeddings.weight"))
             + torch.nn.functional.embedding(token_type_ids, self.p("embeddings.token_type_embeddings.weight")))
        x = self.norm(x, "embeddings.LayerNorm")
        ext = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        b, h = x.shape[0], x.shape[2]
        d = h // self.heads

        def split(v):
            return v.view(b, t, self.heads, d).permute(0, 2, 1, 3)

        for i in range(self.layers):
            pfx = f"encoder.layer.{i}."
            q = split(self.lin(x, pfx + "attention.self.query"))
            k = split(self.lin(x, pfx + "attention.self.key"))
            v = split(self.lin(x, pfx + "attention.self.value"))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + ext
            ctx = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(b, t, h)
            x = self.norm(self.lin(ctx, pfx + "attention.output.dense") + x, pfx + "attention.output.LayerNorm")
            inner = torch.nn.functional.gelu(self.lin(x, pfx + "intermediate.dense"))
            x = self.norm(self.lin(inner, pfx + "output.dense") + x, pfx + "output.LayerNorm")
        if not self.classifier:
            return x
        first = x[:, 0]
        if self.roberta:
            return self.lin(torch.tanh(self.lin(first, "classifier.dense")), "classifier.out_proj")
        return self.lin(torch.tanh(self.lin(first, "pooler.dense")), "classifier")


def export(model_dir, out, opset=14, external=False, ids=(2, 5, 6, 3)):
    """Writes `out`; with `external` the initializers go to out + ".data" (optimum's layout for
    large models). Returns the input names."""
    m = PlainEncoder(model_dir).eval()
    ids_t = torch.tensor([list(ids)], dtype=torch.long)
    names = ["input_ids", "attention_mask"] + ([] if m.roberta else ["token_type_ids"])
    args = (ids_t, torch.ones_like(ids_t)) + (() if m.roberta else (torch.zeros_like(ids_t),))
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
