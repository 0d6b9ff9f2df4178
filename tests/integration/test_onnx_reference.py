"""The ONNX interpreter (src/runtime/onnx) against ONNX Runtime (onnxruntime-node from npm,
tests/onnx, installed by the CTest fixture onnx.npm_ci), on graphs that Debian's
torch.onnx.export writes from the tests' tiny BERT-family models (tests/support/onnx_export.py:
transformers' BertModel / RobertaModel / DistilBertModel / MPNetModel and their classification
heads as plain torch ops, at opset 11 and 14 (LayerNorm as ReduceMean/Pow/Sqrt) and 17
(LayerNormalization), weights inline or in an external data file). Elementwise tolerance 1e-4, not cosine. Then modelbake-verify --infer
on bundles holding an export: reported, compared with the safetensors output, an export of
other weights fails the model, an ONNX-only model runs, an unsupported op is reported."""
import json
import os
import shutil
import subprocess
import unittest

import torch

import gen_tiny_models as gen
import onnx_export
from test_modelbake_verify import VerifyBase, spec, write_flat

BUILD = os.environ.get("MODELBAKE_BUILD_DIR", "")
PROBE = os.path.join(BUILD, "tests", "mb_probe")
ORT_DIR = os.path.join(os.path.dirname(__file__), "..", "onnx")
TOL = 1e-4


def ort(model, ids):
    out = subprocess.run(["node", os.path.join(ORT_DIR, "run_onnx.mjs"), model, json.dumps(ids)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    (res,) = json.loads(out.stdout)["outputs"].values()
    return res


def interpreter(model, ids):
    out = subprocess.run([PROBE, "--onnx", model, json.dumps(ids)], capture_output=True, text=True, timeout=300)
    return out.returncode, json.loads(out.stdout)


def probe_ids(model_dir):
    out = subprocess.run([PROBE, model_dir], capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout)["token_ids"]


def folder_files(d):
    out = {}
    for base, _, names in os.walk(d):
        for n in names:
            p = os.path.join(base, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, d)] = f.read()
    return out


class CosNet(torch.nn.Module):  # Cos is not an op of BERT-family graphs
    def forward(self, input_ids, attention_mask):
        return torch.cos(input_ids.float()).unsqueeze(-1) * attention_mask.float().unsqueeze(-1)


def export_unsupported(path):
    ids = torch.tensor([[1, 2, 3]])
    torch.onnx.export(CosNet(), (ids, torch.ones_like(ids)), path, input_names=["input_ids", "attention_mask"],
                      output_names=["last_hidden_state"], opset_version=14,
                      dynamic_axes={"input_ids": {1: "s"}, "attention_mask": {1: "s"}})


@unittest.skipUnless(shutil.which("node"), "node is not installed")
class OnnxAgainstOnnxRuntime(VerifyBase):
    def setUp(self):
        super().setUp()
        if not os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node")):
            self.fail("onnxruntime-node is not installed: run `npm ci --ignore-scripts --prefix tests/onnx` "
                      "(the CTest fixture onnx.npm_ci does)")

    def model(self, name, kind, opset, external=False, **kw):
        d = gen.make_model(self.tmp.join(name), kind, **kw)
        os.makedirs(os.path.join(d, "onnx"))
        onnx_export.export(d, os.path.join(d, "onnx", "model.onnx"), opset, external)
        return d

    def test_bert_roberta_and_heads_match_onnxruntime(self):
        cases = [("bert14", "bert", 14, False, {}), ("bert17", "bert", 17, False, {}),
                 ("roberta-cls", "roberta", 14, True, {"classifier": True}),
                 ("bert-cls", "bert", 17, True, {"classifier": True}), ("xlmr", "xlmr", 14, False, {})]
        for name, kind, opset, external, kw in cases:
            with self.subTest(model=name):
                d = self.model(name, kind, opset, external, **kw)
                model = os.path.join(d, "onnx", "model.onnx")
                ids = probe_ids(d)
                want = ort(model, ids)
                rc, got = interpreter(model, ids)
                self.assertEqual(rc, 0, got)
                self.assertEqual(got["dims"], want["dims"])
                diff = max(abs(a - b) for a, b in zip(got["data"], want["data"]))
                self.assertLess(diff, TOL, name)
                self.assertEqual(len(got["data"]), len(want["data"]))

    def check_against_ort(self, name, d, ids):
        model = os.path.join(d, "onnx", "model.onnx")
        want = ort(model, ids)
        rc, got = interpreter(model, ids)
        self.assertEqual(rc, 0, got)
        self.assertEqual(got["dims"], want["dims"])
        self.assertEqual(len(got["data"]), len(want["data"]))
        diff = max(abs(a - b) for a, b in zip(got["data"], want["data"]))
        self.assertLess(diff, TOL, name)

    def test_distilbert_and_mpnet_match_onnxruntime(self):
        # DistilBERT masks with masked_fill (Equal/Expand/Where); MPNet computes its relative
        # position buckets in the graph (Range, Neg, Less, Abs, Log, Min, Where, Gather). The
        # MPNet ids run to 140 tokens, past max_distance 128, so every bucket is used, and hold
        # a pad id (1), which the position ids (CumSum) skip.
        long_ids = [0] + [3 + (i * 7) % 90 for i in range(137)] + [1, 2]
        cases = [("distil14", "distilbert", 14, False, {}, None),
                 ("distil-cls17", "distilbert", 17, True, {"classifier": True}, None),
                 ("mpnet14", "mpnet", 14, False, {}, long_ids),
                 ("mpnet-cls17", "mpnet", 17, True, {"classifier": True}, long_ids[:20]),
                 # torch 1.13 writes MPNet's int64 Min at opset 11, where ONNX allows it from
                 # 12 on (ONNX Runtime refuses the file), so the oldest MPNet export is 12.
                 ("mpnet12", "mpnet", 12, True, {}, long_ids[:9]),
                 ("distil11", "distilbert", 11, False, {}, None)]
        for name, kind, opset, external, kw, ids in cases:
            with self.subTest(model=name):
                d = self.model(name, kind, opset, external, **kw)
                self.check_against_ort(name, d, ids or probe_ids(d))

    def test_verify_distilbert_and_mpnet_exports_agree_with_safetensors(self):
        # modelbake-verify runs both formats and compares them: the exports compute what the
        # engine's DistilBERT and MPNet encoders compute from the safetensors weights.
        for name, kind, kw in (("distil", "distilbert", {"classifier": True}), ("mpnet", "mpnet", {})):
            with self.subTest(model=name):
                d = self.model("both-" + name, kind, 17, external=True, **kw)
                proc, doc = self.run_json("--infer", self.bundle("both-" + name, folder_files(d)))
                (m,) = doc["models"]
                self.assertExit(proc, 0)
                self.assertEqual(m["status"], "ready", m["error"])
                o = m["probe"]["onnx"]
                self.assertEqual(o["status"], "ok")
                self.assertLess(o["max_abs_diff"], TOL)

    def test_unsupported_op_and_broken_external_data(self):
        path = self.tmp.join("cos.onnx")
        export_unsupported(path)
        rc, out = interpreter(path, [1, 2])
        self.assertEqual(rc, 1, out)
        self.assertEqual(out["category"], "usage")
        self.assertIn("op Cos", out["error"])
        d = self.model("cut", "roberta", 14, external=True, classifier=True)
        data = os.path.join(d, "onnx", "model.onnx.data")
        os.truncate(data, os.path.getsize(data) - 100)
        rc, out = interpreter(os.path.join(d, "onnx", "model.onnx"), [0, 5, 2])
        self.assertEqual(rc, 1, out)
        self.assertEqual(out["category"], "integrity")
        self.assertIn("lies outside", out["error"])

    def bundle(self, name, files):
        root = self.tmp.join("flat-" + name)
        os.makedirs(root)
        write_flat(root, [spec(name="m", repo="org/" + name, files=files)])
        return root

    def test_verify_reports_and_compares_the_onnx_output(self):
        d = self.model("st-and-onnx", "bert", 17, external=True)
        proc, doc = self.run_json("--infer", self.bundle("both", folder_files(d)))
        (m,) = doc["models"]
        self.assertExit(proc, 0)
        self.assertEqual(m["status"], "ready", m["error"])
        o = m["probe"]["onnx"]
        self.assertEqual((o["file"], o["status"]), ("onnx/model.onnx", "ok"))
        self.assertLess(o["max_abs_diff"], TOL)
        self.assertEqual(len(o["output"]), len(m["probe"]["output"]))
        # An export of other weights (one LayerNorm bias shifted by 1e-2) fails the model.
        other = gen.make_model(self.tmp.join("shifted"), "bert")
        path = os.path.join(other, "model.safetensors")
        import torch_reference
        t = torch_reference.load_safetensors(path)
        t["encoder.layer.1.output.LayerNorm.bias"][3] += 1e-2
        gen.write_safetensors(path, t)
        onnx_export.export(other, self.tmp.join("shifted.onnx"), 17)
        files = folder_files(d)
        files.pop("onnx/model.onnx.data")
        with open(self.tmp.join("shifted.onnx"), "rb") as f:
            files["onnx/model.onnx"] = f.read()
        proc, doc = self.run_json("--infer", self.bundle("shifted", files))
        (m,) = doc["models"]
        self.assertExit(proc, 1)
        self.assertEqual(m["error"]["check"], "inference")
        self.assertIn("the ONNX export (onnx/model.onnx) disagrees with the safetensors weights",
                      m["error"]["message"])

    def test_onnx_only_model_and_unsupported_export(self):
        d = self.model("only", "roberta", 14, external=True)
        want = subprocess.run([PROBE, d], capture_output=True, text=True, timeout=120)
        want = json.loads(want.stdout)["output"]
        files = folder_files(d)
        files.pop("model.safetensors")
        proc, doc = self.run_json("--infer", self.bundle("only", files))
        (m,) = doc["models"]
        self.assertExit(proc, 0)
        self.assertEqual((m["status"], m["inference"]), ("ready", "ok"), m["error"])
        self.assertEqual(m["probe"]["onnx"]["status"], "ok")
        self.assertLess(max(abs(a - b) for a, b in zip(m["probe"]["output"], want)), TOL)
        export_unsupported(self.tmp.join("cos.onnx"))
        with open(self.tmp.join("cos.onnx"), "rb") as f:
            files = {k: v for k, v in files.items() if not k.startswith("onnx/")}
            files["onnx/model.onnx"] = f.read()
        proc, doc = self.run_json("--infer", self.bundle("cos", files))
        (m,) = doc["models"]
        self.assertExit(proc, 0)
        self.assertTrue(m["inference"].startswith("unsupported architecture"), m["inference"])
        self.assertIn("op Cos", m["inference"])


if __name__ == "__main__":
    unittest.main()
