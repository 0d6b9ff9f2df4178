"""Decoder-only LLM inference (Llama / Qwen2 / Mistral, safetensors) against an independent
PyTorch implementation (tests/support/torch_reference.py, DecoderReference: float64, full
causal attention recomputed per step, no KV cache). Tiny random models are generated per test
(tests/support/gen_tiny_models.py make_llm); the engine runs through the test driver mb_probe.

Tolerances on the logits after the prompt (absolute): both sides widen the same stored
F32/F16/BF16 values to floating point exactly, so only accumulation order differs:
F32 1e-4, F16/BF16 2e-4. Greedy ids (8 tokens) must be identical.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import gen_tiny_models as gen
import torch_reference
from test_gguf_verify import assert_kv_cache_refused
from test_modelbake_verify import VerifyBase, spec, write_flat

BUILD = os.environ.get("MODELBAKE_BUILD_DIR", "")
PROBE = os.path.join(BUILD, "tests", "mb_probe")

TOL = {"F32": 1e-4, "F16": 2e-4, "BF16": 2e-4}
EXPECT = {"probe_text": gen.LLM_PROBE_TEXT}


def probe(model_dir, expect=None, threads=1):
    args = [PROBE, model_dir] + ([json.dumps(expect)] if expect is not None else [])
    env = dict(os.environ, MB_INFER_THREADS=str(threads))
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    return out.returncode, json.loads(out.stdout)


def reference_text(model_dir, ids):
    """tokenizers' decode(skip_special_tokens=True) for the two decoder pipelines used here."""
    with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    inv = {i: t for t, i in tok["model"]["vocab"].items()}
    special = {a["id"] for a in tok["added_tokens"] if a.get("special")}
    pieces = [inv[i] for i in ids if i not in special]
    if tok["decoder"]["type"] == "ByteLevel":
        u2b = {u: b for b, u in gen.bytes_to_unicode().items()}
        return bytes(u2b[c] for p in pieces for c in p).decode("utf-8", errors="replace")
    text, run = "", b""

    def flush(run):
        try:
            return run.decode("utf-8")
        except UnicodeDecodeError:  # ByteFallback: one U+FFFD per byte token
            return "\ufffd" * len(run)
    for p in pieces:
        if len(p) == 6 and p.startswith("<0x") and p.endswith(">"):
            run += bytes([int(p[3:5], 16)])
            continue
        text, run = text + flush(run), b""
        text += p.replace("\u2581", " ")
    text += flush(run)
    return text[1:] if text.startswith(" ") else text


class LlmReferenceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mbllm.")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def compare(self, model_dir, dtype, expect=EXPECT):
        rc, out = probe(model_dir, expect)
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["supported"], out)
        self.assertEqual(out["output_kind"], "next_token_logits")
        ref = torch_reference.DecoderReference(model_dir)
        first, ids = ref.greedy(out["token_ids"], 8, ref.cfg["eos_token_id"])
        self.assertEqual(len(out["output"]), len(first))
        diff = max(abs(a - b) for a, b in zip(out["output"], first))
        self.assertLess(diff, TOL[dtype], f"{model_dir}: max abs logit diff {diff}")
        self.assertEqual(out["generated_ids"], ids)
        self.assertEqual(out["generated_text"], reference_text(model_dir, ids))
        self.assertEqual(out["weight_types"], [dtype])
        self.assertEqual(out["expectation_failures"], [])
        return out

    def test_llama_qwen2_mistral_f32(self):
        for kind in ("llama", "qwen2", "mistral"):
            with self.subTest(kind=kind):
                d = gen.make_llm(os.path.join(self.tmp, kind), kind, seed=len(kind))
                out = self.compare(d, "F32")
                self.assertEqual(out["architecture"], gen.LLM_ARCHS[kind])
                # Llama/Mistral's post-processor prepends <s>; Qwen2's does not.
                self.assertEqual(out["token_ids"][0] == 1, kind != "qwen2")

    def test_half_precision_dtypes(self):
        for kind in ("llama", "qwen2"):
            for dtype in ("F16", "BF16"):
                with self.subTest(kind=kind, dtype=dtype):
                    d = gen.make_llm(os.path.join(self.tmp, kind + dtype), kind, dtype=dtype, seed=7)
                    self.compare(d, dtype)

    def test_sharded_tied_and_untied(self):
        d = gen.make_llm(os.path.join(self.tmp, "sharded"), "llama", dtype="BF16", tied=True, shards=3, seed=3)
        self.assertFalse(os.path.exists(os.path.join(d, "model.safetensors")))
        self.compare(d, "BF16")
        d = gen.make_llm(os.path.join(self.tmp, "untied"), "qwen2", tied=False, shards=2, seed=4)
        self.compare(d, "F32")
        # Tied in config.json but an lm_head.weight stored anyway: the embedding is the output.
        d = gen.make_llm(os.path.join(self.tmp, "tied+head"), "llama", tied=False, seed=6,
                         config_extra={"tie_word_embeddings": True})
        ref = torch_reference.DecoderReference(d)
        ref.lm_head = ref.w["model.embed_tokens.weight"]
        rc, out = probe(d, EXPECT)
        first, ids = ref.greedy(out["token_ids"], 8, 2)
        self.assertLess(max(abs(a - b) for a, b in zip(out["output"], first)), TOL["F32"])
        self.assertEqual(out["generated_ids"], ids)

    def test_gqa_and_explicit_head_dim(self):
        # One KV head for 4 query heads; head_dim 16 != hidden / heads (config.json head_dim).
        d = gen.make_llm(os.path.join(self.tmp, "gqa"), "mistral", seed=5,
                         shapes={"kv_heads": 1, "head_dim": 16})
        self.compare(d, "F32")

    def test_rope_scaling_linear_and_llama3(self):
        long_text = {"probe_text": " ".join(["hello world the cat is good"] * 4)}
        d = gen.make_llm(os.path.join(self.tmp, "linear"), "llama", seed=8,
                         rope_scaling={"type": "linear", "factor": 4.0})
        out = self.compare(d, "F32", long_text)
        self.assertGreater(len(out["token_ids"]), 20)
        # original_max_position_embeddings 64 puts the frequencies of head_dim 8 (wavelengths 6.3,
        # 63, 628, 6283 against the band edges 16 and 64) in all three
        # llama3 bands (kept, interpolated, slowed).
        d = gen.make_llm(os.path.join(self.tmp, "llama3"), "llama", seed=9,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
        self.compare(d, "F32", long_text)

    def test_threads_give_identical_results(self):
        # Large enough (2048 x 256 MLP matrices) for parallel_rows to split the rows.
        d = gen.make_llm(os.path.join(self.tmp, "wide"), "qwen2", dtype="F16", seed=12,
                         shapes={"hidden": 256, "head_dim": 64, "intermediate": 2048})
        one = self.compare(d, "F16")
        rc, two = probe(d, EXPECT, threads=2)
        self.assertEqual(rc, 0, two)
        self.assertEqual(two["output"], one["output"])
        self.assertEqual(two["generated_ids"], one["generated_ids"])

    def test_expect_pins_generated_ids_and_text(self):
        d = gen.make_llm(os.path.join(self.tmp, "pin"), "llama", seed=11)
        rc, out = probe(d, EXPECT)
        self.assertEqual(rc, 0, out)
        good = dict(EXPECT, generated_ids=out["generated_ids"], generated_text=out["generated_text"])
        rc, again = probe(d, good)
        self.assertEqual(again["expectation_failures"], [])
        bad = dict(EXPECT, generated_ids=[3, 4], generated_text="nope")
        rc, wrong = probe(d, bad)
        self.assertEqual(len(wrong["expectation_failures"]), 2, wrong)
        self.assertIn("expect.generated_ids is [3, 4]", wrong["expectation_failures"][0])
        rc, short = probe(d, dict(EXPECT, new_tokens=3))
        self.assertEqual(short["generated_ids"], out["generated_ids"][:3])

    def test_expect_reference_pins_the_logits(self):
        # Issue 23.1: expect.reference is checked on the next-token logits of its text.
        d = gen.make_llm(os.path.join(self.tmp, "ref"), "llama", seed=15)
        rc, out = probe(d, EXPECT)
        self.assertEqual(rc, 0, out)
        values = out["output"][:6]
        ok = {"reference": {"text": gen.LLM_PROBE_TEXT, "values": values, "tolerance": 1e-4}}
        rc, good = probe(d, ok)
        self.assertEqual(good["expectation_failures"], [])
        off = list(values)
        off[3] += 0.01
        rc, bad = probe(d, {"reference": dict(ok["reference"], values=off)})
        self.assertEqual(len(bad["expectation_failures"]), 1, bad)
        self.assertIn("expect.reference value 3 is", bad["expectation_failures"][0])
        # A reference text other than the probe text runs that text from an empty cache.
        other = "the cat"
        ref = torch_reference.DecoderReference(d)
        rc, o = probe(d, {"probe_text": other})
        want, _ = ref.greedy(o["token_ids"], 1, -1)
        spec_ = dict(EXPECT, reference={"text": other, "values": [float(x) for x in want[:8]],
                                        "tolerance": 1e-4})
        rc, again = probe(d, spec_)
        self.assertEqual(again["expectation_failures"], [], again)
        self.assertEqual(again["token_ids"], out["token_ids"])  # the probe text is still probed
        spec_["reference"]["values"][0] += 0.01
        rc, again = probe(d, spec_)
        self.assertIn("expect.reference value 0 is", again["expectation_failures"][0])

    def test_expect_dim_checks_logits_and_embedding_keys_are_refused(self):
        # Issue 23.2: dim counts the logits; keys that cannot apply to a decoder are refused.
        d = gen.make_llm(os.path.join(self.tmp, "dim"), "qwen2", seed=16)
        rc, out = probe(d, EXPECT)
        vocab = len(out["output"])
        rc, good = probe(d, dict(EXPECT, dim=vocab))
        self.assertEqual(good["expectation_failures"], [])
        rc, bad = probe(d, dict(EXPECT, dim=7))
        self.assertEqual(bad["expectation_failures"],
                         ["expect.dim is 7 but the output has %d values" % vocab])
        for key, value in (("similar", [{"a": "the cat", "b": "a cat", "min_cosine": 0.5}]),
                           ("dissimilar", [{"a": "the cat", "b": "a cat", "max_cosine": 0.1}]),
                           ("top_label", "POSITIVE")):
            with self.subTest(key=key):
                rc, out = probe(d, dict(EXPECT, **{key: value}))
                self.assertEqual(rc, 1, out)
                self.assertEqual(out["category"], "usage")
                self.assertIn("expect.%s does not apply to a decoder LLM" % key, out["error"])

    def test_malformed_expect_is_a_usage_error(self):
        d = gen.make_llm(os.path.join(self.tmp, "badexpect"), "llama", seed=14)
        for bad, needle in (({"generated_ids": "5"}, "generated_ids must be a non-empty list"),
                            ({"generated_ids": [-1]}, "non-negative integers"),
                            ({"generated_text": 5}, "generated_text must be a string"),
                            ({"new_tokens": 0}, "new_tokens must be an integer in 1..256"),
                            ({"new_tokenz": 3}, "unknown key 'new_tokenz'")):
            with self.subTest(expect=bad):
                rc, out = probe(d, bad)
                self.assertEqual(rc, 1, out)
                self.assertEqual(out["category"], "usage")
                self.assertIn(needle, out["error"])

    def test_tiny_context_truncates_prompt_and_generation(self):
        d = gen.make_llm(os.path.join(self.tmp, "ctx"), "llama", seed=13, shapes={"max_pos": 6})
        rc, out = probe(d, EXPECT)
        self.assertEqual(rc, 0, out)
        # Prompt cut to 6 - 8 -> 1 token (<s>), then 6 positions: 6 generated tokens at most.
        self.assertEqual(out["token_ids"], [1])
        self.assertLessEqual(len(out["generated_ids"]), 6)
        ref = torch_reference.DecoderReference(d)
        _, ids = ref.greedy([1], len(out["generated_ids"]), 2)
        self.assertEqual(out["generated_ids"], ids)

    def test_unsupported_rope_scaling_is_reported_not_guessed(self):
        d = gen.make_llm(os.path.join(self.tmp, "yarn"), "qwen2",
                         rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32})
        rc, out = probe(d, EXPECT)
        self.assertEqual(rc, 0, out)
        self.assertFalse(out["supported"])
        self.assertIn('rope_scaling type "yarn"', out["unsupported_reason"])
        d = gen.make_llm(os.path.join(self.tmp, "window"), "mistral", config_extra={"sliding_window": 16})
        rc, out = probe(d, EXPECT)
        self.assertEqual(rc, 0, out)
        self.assertFalse(out["supported"])
        self.assertIn("sliding_window 16", out["unsupported_reason"])
        # A window far beyond the probe's context changes nothing: the model runs.
        d = gen.make_llm(os.path.join(self.tmp, "window4k"), "mistral", config_extra={"sliding_window": 4096})
        self.assertTrue(probe(d, EXPECT)[1]["supported"])

    def hostile(self, name, needle, **kw):
        d = gen.make_llm(os.path.join(self.tmp, name), "llama", **kw)
        return d, needle

    def test_hostile_configs_and_weights_exit_1(self):
        cases = [
            ("missing", "no tensor 'model.layers.1.mlp.up_proj.weight'",
             {"drop": ["model.layers.1.mlp.up_proj.weight"]}),
            ("untied", "no tensor 'lm_head.weight'", {"drop": ["lm_head.weight"]}),
            ("heads", "not a multiple of num_key_value_heads", {"config_extra": {"num_key_value_heads": 3}}),
            ("absurd", "hidden_size = 1099511627776 is outside", {"config_extra": {"hidden_size": 1 << 40}}),
            ("negative", "num_hidden_layers = -2 is outside", {"config_extra": {"num_hidden_layers": -2}}),
            ("shape", "has shape [331, 32] but config.json implies [331, 64]",
             {"config_extra": {"hidden_size": 64, "head_dim": 8}}),
            ("vocab", "but config.json implies [4000000, 32]", {"config_extra": {"vocab_size": 4000000}}),
            ("layers", "no tensor 'model.layers.2.", {"config_extra": {"num_hidden_layers": 1000}}),
            ("odd", "head_dim 7 is odd", {"config_extra": {"head_dim": 7}}),
            # Plausible per-key values whose KV cache (17.7 GB) is refused before any tensor is read.
            ("kv", "bytes of KV cache and activations",
             {"config_extra": {"num_hidden_layers": 1024, "hidden_size": 8192, "num_attention_heads": 128,
                               "num_key_value_heads": 128, "head_dim": 64}}),
            ("heads x dim", "is absurd for hidden_size 32", {"config_extra": {"head_dim": 1024}}),
            ("eps", "rms_norm_eps", {"config_extra": {"rms_norm_eps": "x"}}),
            # Issue 23.7: a wrongly typed field names itself instead of ending the run.
            ("act", "hidden_act", {"config_extra": {"hidden_act": 5}}),
            ("tie", "tie_word_embeddings", {"config_extra": {"tie_word_embeddings": "no"}}),
            ("rope", "rope_scaling", {"config_extra": {"rope_scaling": {"type": 5}}}),
            ("window", "use_sliding_window", {"config_extra": {"use_sliding_window": "yes"}}),
            ("bias", "attention_bias", {"config_extra": {"attention_bias": "no"}}),
        ]
        for name, needle, kw in cases:
            with self.subTest(case=name):
                d = gen.make_llm(os.path.join(self.tmp, name), "llama", **kw)
                rc, out = probe(d, EXPECT)
                self.assertEqual(rc, 1, out)
                self.assertIn(needle, out["error"])
                self.assertEqual(out["category"], "integrity", out)

    def test_hostile_tokenizer_json_exits_1(self):
        # Issue 23.5/23.7: a decoder 50,000 levels deep and a wrongly typed "special" flag.
        def edit(name, change):
            d = gen.make_llm(os.path.join(self.tmp, name), "llama")
            path = os.path.join(d, "tokenizer.json")
            with open(path, encoding="utf-8") as f:
                tok = json.load(f)
            text = change(tok)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            return d

        def deep(tok):
            tok["decoder"] = "@@"
            n = 50000
            return json.dumps(tok).replace('"@@"', '{"type": "Sequence", "decoders": [' * n + "{}" + "]}" * n)

        def special(tok):
            tok["added_tokens"][0]["special"] = "yes"
            return json.dumps(tok)

        for name, change, needle in (("deep", deep, "nested deeper than"), ("special", special, "special")):
            with self.subTest(case=name):
                rc, out = probe(edit(name, change), EXPECT)
                self.assertEqual(rc, 1, out)
                self.assertIn("tokenizer.json", out["error"])
                self.assertIn(needle, out["error"])
                self.assertLess(len(out["error"]), 600)

    def test_hostile_weight_dtype_and_truncated_shard_exit_1(self):
        d = gen.make_llm(os.path.join(self.tmp, "i64"), "llama")
        path = os.path.join(d, "model.safetensors")
        tensors = torch_reference.load_safetensors(path)
        tensors["model.norm.weight"] = tensors["model.norm.weight"].long()
        gen.write_safetensors(path, tensors)
        rc, out = probe(d, EXPECT)
        self.assertEqual(rc, 1, out)
        self.assertIn("tensor 'model.norm.weight' has dtype I64", out["error"])
        d = gen.make_llm(os.path.join(self.tmp, "trunc"), "qwen2", shards=2)
        shard = os.path.join(d, "model-00002-of-00002.safetensors")
        os.truncate(shard, os.path.getsize(shard) - 64)
        rc, out = probe(d, EXPECT)
        self.assertEqual(rc, 1, out)
        self.assertIn("outside the file", out["error"])


def bundle_files(model_dir):
    out = {}
    for name in sorted(os.listdir(model_dir)):
        with open(os.path.join(model_dir, name), "rb") as f:
            out[name] = f.read()
    return out


class LlmVerifyEndToEnd(VerifyBase):
    """The real modelbake-verify --infer --json on a flat bundle holding a tiny LLM."""

    def bundle(self, kind, expect=None, **kw):
        d = gen.make_llm(self.tmp.join("src-" + kind), kind, **kw)
        root = self.tmp.join("flat-" + kind)
        os.makedirs(root)
        write_flat(root, [spec(name="llm", repo="org/tiny-" + kind, files=bundle_files(d), expect=expect)])
        return d, root

    def test_infer_json_reports_generation(self):
        d, root = self.bundle("qwen2", expect=dict(EXPECT), dtype="BF16", shards=2, seed=21)
        proc, doc = self.run_json("--infer", root)
        (m,) = doc["models"]
        self.assertExit(proc, 0)
        self.assertEqual(m["status"], "ready", m["error"])
        self.assertEqual(m["inference"], "ok")
        self.assertEqual(m["architecture"], "Qwen2ForCausalLM")
        self.assertIsNone(m["embedding_dimension"])  # a causal LM outputs logits
        p = m["probe"]
        self.assertEqual(p["output_kind"], "next_token_logits")
        self.assertEqual(p["weight_types"], ["BF16"])
        ref = torch_reference.DecoderReference(d)
        _, ids = ref.greedy(p["token_ids"], 8, ref.cfg["eos_token_id"])
        self.assertEqual(p["generated_ids"], ids)
        self.assertEqual(p["generated_text"], reference_text(d, ids))
        for key in ("first_token_ms", "tokens_per_s", "peak_memory_bytes"):
            self.assertGreaterEqual(p[key], 0, key)
        self.assertGreater(p["peak_memory_bytes"], 0)
        # The budget counts the KV cache and activations beside the weights.
        self.assertGreater(m["memory"]["by_dtype"]["kv cache + activations"], 0)
        self.assertEqual(m["memory"]["needed"], sum(m["memory"]["by_dtype"].values()))

    def test_expect_mismatch_fails_with_exit_1(self):
        _, root = self.bundle("llama", expect=dict(EXPECT, generated_ids=[5, 5, 5]), seed=22)
        proc, doc = self.run_json("--infer", root)
        (m,) = doc["models"]
        self.assertExit(proc, 1)
        self.assertEqual(m["inference"], "failed")
        self.assertEqual(m["error"]["check"], "inference")
        self.assertIn("expect.generated_ids is [5, 5, 5]", m["error"]["message"])

    def test_kv_cache_counts_against_max_memory(self):
        _, root = self.bundle("mistral", seed=23)
        assert_kv_cache_refused(self, root)

    def test_hostile_config_exits_1(self):
        _, root = self.bundle("llama", config_extra={"num_key_value_heads": 3}, seed=24)
        proc, doc = self.run_json("--infer", root)
        (m,) = doc["models"]
        self.assertExit(proc, 1)
        self.assertIn("not a multiple of num_key_value_heads", m["error"]["message"])


if __name__ == "__main__":
    unittest.main()
