"""The inference engine against PyTorch's own modules (tests/support/torch_reference.py).

Tiny models with random weights are generated per test (tests/support/gen_tiny_models.py);
the engine runs through the test driver `mb_probe` (prints run_probe's result as JSON).
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import gen_tiny_models as gen
import torch
import torch_reference

BUILD = os.environ.get("MODELBAKE_BUILD_DIR", "")
PROBE = os.path.join(BUILD, "tests", "mb_probe")

F32_TOL = 1e-4
# Both sides widen the same F16/BF16 values to F32 exactly, so the stored precision is not a
# source of difference; the looser bound covers accumulation order only.
HALF_TOL = 2e-4


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def probe(model_dir, expect=None):
    args = [PROBE, model_dir] + ([json.dumps(expect)] if expect is not None else [])
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return out.returncode, json.loads(out.stdout)


class InferenceReferenceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mbinfer.")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def compare(self, model_dir, tol, expect=None):
        rc, out = probe(model_dir, expect)
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["supported"], out)
        ref = torch_reference.reference_output(model_dir, out["token_ids"])
        self.assertEqual(len(out["output"]), len(ref))
        diff = max(abs(a - b) for a, b in zip(out["output"], ref))
        self.assertLess(diff, tol, f"{model_dir}: max abs diff {diff}")
        return out

    def test_embeddings_match_pytorch_f32(self):
        for kind, pooling, normalize in (("bert", "mean", True), ("roberta", "cls", False),
                                         ("xlmr", "mean", True), ("distilbert", "max", False)):
            with self.subTest(kind=kind):
                d = gen.make_model(os.path.join(self.tmp, kind), kind, pooling=pooling, normalize=normalize,
                                   seed=len(kind))
                out = self.compare(d, F32_TOL, {"probe_text": gen.PROBE_TEXT})
                self.assertEqual(out["output_kind"], "embedding")
                self.assertEqual(out["pooling"], pooling)
                self.assertEqual(out["normalized"], normalize)
                self.assertEqual(out["dimension"], 32)
                self.assertEqual(out["weight_dtype"], "F32")
                self.assertEqual(out["expectation_failures"], [])
                if normalize:
                    self.assertAlmostEqual(sum(v * v for v in out["output"]), 1.0, places=5)

    def test_half_precision_weights_match_pytorch(self):
        for kind in ("bert", "roberta"):
            for dtype in ("F16", "BF16"):
                with self.subTest(kind=kind, dtype=dtype):
                    d = gen.make_model(os.path.join(self.tmp, kind + dtype), kind, dtype=dtype, seed=3)
                    out = self.compare(d, HALF_TOL)
                    self.assertEqual(out["weight_dtype"], dtype)

    def test_classification_heads_match_pytorch(self):
        for kind in ("bert", "roberta", "distilbert", "mpnet"):
            with self.subTest(kind=kind):
                d = gen.make_model(os.path.join(self.tmp, kind + "cls"), kind, classifier=True, seed=5)
                out = self.compare(d, F32_TOL)
                self.assertEqual(out["output_kind"], "logits")
                self.assertEqual(out["dimension"], 3)
                best = max(range(3), key=lambda i: out["output"][i])
                self.assertEqual(out["top_label"], ["NEGATIVE", "NEUTRAL", "POSITIVE"][best])

    def test_mpnet_embeddings_match_pytorch(self):
        # all-mpnet-base-v2's layout: MPNetForMaskedLM config, mean pooling + Normalize. The long
        # text puts query/key distances past max_distance 128 into the clamped last bucket.
        long_text = " ".join(["the cat sat on the mat"] * 30)
        for dtype, tol in (("F32", F32_TOL), ("F16", HALF_TOL), ("BF16", HALF_TOL)):
            for text in (gen.PROBE_TEXT, long_text):
                with self.subTest(dtype=dtype, long=text == long_text):
                    d = gen.make_model(os.path.join(self.tmp, "mpnet" + dtype), "mpnet", dtype=dtype, seed=7)
                    out = self.compare(d, tol, {"probe_text": text})
                    self.assertEqual(out["architecture"], "MPNetForMaskedLM")
                    self.assertEqual(out["model_type"], "mpnet")
                    self.assertEqual((out["pooling"], out["normalized"]), ("mean", True))
                    self.assertEqual(out["weight_dtype"], dtype)
                    self.assertEqual(out["expectation_failures"], [])
                    self.assertAlmostEqual(sum(v * v for v in out["output"]), 1.0, places=5)
                    self.assertEqual((out["token_ids"][0], out["token_ids"][-1]), (0, 2))
                    if text == long_text:  # max_position_embeddings - 2, as for RoBERTa
                        self.assertEqual(len(out["token_ids"]), 160)

    def test_mpnet_relative_bias_mistakes_would_be_caught(self):
        # The engine agrees with the reference; references with a plausible bucketing mistake do
        # not, by far more than the tolerance: the test above would catch each of them.
        d = gen.make_model(os.path.join(self.tmp, "mpnet"), "mpnet", seed=7)
        rc, out = probe(d, {"probe_text": " ".join(["the cat sat on the mat"] * 30)})
        self.assertEqual(rc, 0, out)
        right = torch_reference.relative_position_bucket
        mistakes = {
            "unidirectional": lambda rp, **kw: right(rp.abs(), **kw),
            "sign flipped": lambda rp, **kw: right(-rp, **kw),
            "max_distance 64": lambda rp, **kw: right(rp, num_buckets=32, max_distance=64),
            "no bias": right,  # and a zero table
        }
        for name, bucket in mistakes.items():
            with self.subTest(mistake=name):
                try:
                    torch_reference.relative_position_bucket = bucket
                    if name == "no bias":
                        model = torch_reference.Reference(d)
                        model.rel_bias = model.rel_bias * 0
                        ref = model(out["token_ids"]).tolist()
                    else:
                        ref = torch_reference.reference_output(d, out["token_ids"])
                finally:
                    torch_reference.relative_position_bucket = right
                diff = max(abs(a - b) for a, b in zip(out["output"], ref))
                self.assertGreater(diff, 20 * F32_TOL, name)

    def test_mpnet_tokenizer_wraps_in_s_and_end_s(self):
        for template in (False, True):
            with self.subTest(template=template):
                d = gen.make_model(os.path.join(self.tmp, f"mpnet{template}"), "mpnet")
                tok, vocab = gen.mpnet_tokenizer(template=template)
                gen.write_json(os.path.join(d, "tokenizer.json"), tok)
                rc, out = probe(d, {"probe_text": "The cat sat on the mat, \u03bbx."})
                self.assertEqual(rc, 0, out)
                words = ["the", "cat", "sat", "on", "the", "mat", ",", "[UNK]", "."]
                self.assertEqual(out["token_ids"], [vocab["<s>"]] + [vocab[w] for w in words] + [vocab["</s>"]])

    def test_mpnet_hostile_weights_fail_cleanly(self):
        d = gen.make_model(os.path.join(self.tmp, "mpnet"), "mpnet")
        path = os.path.join(d, "model.safetensors")
        good = torch_reference.load_safetensors(path)
        name = "encoder.relative_attention_bias.weight"
        cases = {
            "missing": ({k: v for k, v in good.items() if k != name}, "encoder.relative_attention_bias.weight' is missing"),
            "too few buckets": (dict(good, **{name: good[name][:16]}), "has shape 16x4, config.json implies 32x4"),
            "wrong heads": (dict(good, **{name: torch.zeros(32, 5)}), "has shape 32x5, config.json implies 32x4"),
            "q shape": (dict(good, **{"encoder.layer.1.attention.attn.q.weight": torch.zeros(32, 31)}),
                        "'encoder.layer.1.attention.attn.q.weight' has shape 32x31"),
        }
        for case, (tensors, message) in cases.items():
            with self.subTest(case=case):
                gen.write_safetensors(path, tensors)
                rc, out = probe(d)
                self.assertEqual(rc, 1, out)
                self.assertEqual(out["category"], "integrity")
                self.assertIn(message, out["error"])
        gen.write_safetensors(path, good)
        cfg = read_json(os.path.join(d, "config.json"))
        cfg["relative_attention_num_buckets"] = 16  # transformers would index past its table
        gen.write_json(os.path.join(d, "config.json"), cfg)
        rc, out = probe(d)
        self.assertEqual(rc, 1, out)
        self.assertIn("relative_attention_num_buckets", out["error"])

    def test_modelbake_verify_infers_an_mpnet_bundle(self):
        import test_modelbake_verify as tmv  # its flat-bundle writer (files + modelbake.lock)
        for classifier in (False, True):
            with self.subTest(classifier=classifier):
                d = gen.make_model(os.path.join(self.tmp, f"src{classifier}"), "mpnet", seed=7,
                                   classifier=classifier)
                files = {}
                for dirpath, _, names in os.walk(d):
                    for n in names:
                        with open(os.path.join(dirpath, n), "rb") as f:
                            files[os.path.relpath(os.path.join(dirpath, n), d)] = f.read()
                root = os.path.join(self.tmp, f"flat{classifier}")
                os.makedirs(root)
                tmv.write_flat(root, [tmv.spec(name="mpnet", repo="org/tiny-mpnet", files=files)])
                proc = subprocess.run([os.environ["MODELBAKE_VERIFY_BIN"], "--json", "--infer", root],
                                      capture_output=True, text=True, timeout=120)
                m = json.loads(proc.stdout)["models"][0]
                self.assertEqual((proc.returncode, m["status"], m["inference"]), (0, "ready", "ok"), m["error"])
                arch = "MPNetForSequenceClassification" if classifier else "MPNetForMaskedLM"
                self.assertEqual(m["architecture"], arch)
                self.assertIn("num_hidden_layers", m["checked"])
                rc, out = probe(d)
                self.assertEqual(m["probe"]["output"], out["output"])

    def test_bert_token_ids_follow_the_vocabulary(self):
        d = gen.make_model(os.path.join(self.tmp, "bert"), "bert")
        vocab = read_json(os.path.join(d, "tokenizer.json"))["model"]["vocab"]
        rc, out = probe(d, {"probe_text": "The cat sat on the mat, and this model computes."})
        self.assertEqual(rc, 0)
        words = ["the", "cat", "sat", "on", "the", "mat", ",", "and", "this", "model", "computes", "."]
        self.assertEqual(out["token_ids"], [vocab["[CLS]"]] + [vocab[w] for w in words] + [vocab["[SEP]"]])

    def test_long_input_truncated_at_max_positions(self):
        d = gen.make_model(os.path.join(self.tmp, "roberta"), "roberta")
        cfg = read_json(os.path.join(d, "config.json"))
        out = self.compare(d, F32_TOL, {"probe_text": " ".join(["cat"] * 200)})
        # RoBERTa positions start at pad_token_id + 1.
        self.assertEqual(len(out["token_ids"]), cfg["max_position_embeddings"] - 2)
        self.assertEqual(out["token_ids"][0], 0)
        self.assertEqual(out["token_ids"][-1], 2)

    def test_expectations_pass_and_fail_precisely(self):
        d = gen.make_model(os.path.join(self.tmp, "bert"), "bert")
        rc, first = probe(d, {"probe_text": "hello world"})
        ref = first["output"][:4]
        good = {"dim": 32, "reference": {"text": "hello world", "values": ref, "tolerance": 1e-5},
                "similar": [{"a": "hello world", "b": "hello world", "min_cosine": 0.999}]}
        rc, out = probe(d, good)
        self.assertEqual(rc, 0)
        self.assertEqual(out["expectation_failures"], [])
        bad = {"dim": 384, "reference": {"text": "hello world", "values": [v + 0.5 for v in ref], "tolerance": 1e-3},
               "similar": [{"a": "hello world", "b": "the dog sat", "min_cosine": 1.0}]}
        rc, out = probe(d, bad)
        fails = out["expectation_failures"]
        self.assertEqual(len(fails), 3, fails)
        self.assertIn("expect.dim is 384", fails[0])
        self.assertIn("expect.reference value 0", fails[1])
        self.assertIn("cosine(", fails[2])
        rc, out = probe(d, {"dims": 3})
        self.assertEqual(rc, 1)
        self.assertIn("unknown key 'dims'", out["error"])
        self.assertEqual(out["category"], "usage")
        # Issue 23.2: keys that only apply to decoder LLMs are refused, not skipped.
        for key, value in (("generated_ids", [1, 2]), ("generated_text", " the"), ("new_tokens", 4)):
            with self.subTest(key=key):
                rc, out = probe(d, {key: value})
                self.assertEqual(rc, 1, out)
                self.assertEqual(out["category"], "usage")
                self.assertIn("expect.%s applies only to decoder LLMs" % key, out["error"])

    def test_unsupported_architecture_is_not_an_error(self):
        d = os.path.join(self.tmp, "gpt")
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}, f)
        rc, out = probe(d)
        self.assertEqual(rc, 0)
        self.assertFalse(out["supported"])
        self.assertIn("GPT2LMHeadModel", out["unsupported_reason"])

    def test_broken_weights_fail_cleanly(self):
        d = gen.make_model(os.path.join(self.tmp, "bert"), "bert")
        path = os.path.join(d, "model.safetensors")
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        rc, out = probe(d)
        self.assertEqual(rc, 1)
        self.assertEqual(out["category"], "integrity")
        self.assertIn("outside the file", out["error"])
        with open(path, "wb") as f:
            f.write((10 ** 9).to_bytes(8, "little") + b"{}")
        rc, out = probe(d)
        self.assertEqual(rc, 1)
        self.assertIn("header length", out["error"])
        # The engine reads weights with the structure step's reader (one safetensors reader):
        # bytes after the last tensor that the header does not describe are refused by both.
        with open(path, "wb") as f:
            f.write(data + b"\0" * 64)
        rc, out = probe(d)
        self.assertEqual(rc, 1, out)
        self.assertIn("64 bytes after the last tensor are not described by the header", out["error"])

    def test_nan_weights_are_reported(self):
        d = gen.make_model(os.path.join(self.tmp, "bert"), "bert")
        tensors = torch_reference.load_safetensors(os.path.join(d, "model.safetensors"))
        tensors["encoder.layer.0.output.dense.weight"][0, 0] = float("nan")
        gen.write_safetensors(os.path.join(d, "model.safetensors"), tensors)
        rc, out = probe(d)
        self.assertEqual(rc, 0)
        self.assertTrue(any("not finite" in f for f in out["expectation_failures"]), out)


if __name__ == "__main__":
    unittest.main()
