"""GGUF decoder weights (src/runtime/decoder/decoder_gguf.*, quant.*) against a Python reference
written from the ggml block layouts (tests/support/gguf_writer.py): tiny random llama and
qwen2 files with every supported tensor type, dequantised by tests/mb_gguf_dump and compared
row by row; the llama Q/K row permutation undone; hostile files refused with a clear error."""

import json
import os
import re
import struct
import subprocess
import tempfile
import unittest

import numpy as np

import gguf_writer as gw

BUILD = os.environ.get("MODELBAKE_BUILD_DIR", "")
DUMP = os.path.join(BUILD, "tests", "mb_gguf_dump")
EXACT = {"F32", "F16", "Q8_0", "Q4_0", "Q5_0", "Q6_K"}  # no add in ggml's formula: bit-exact
# Q4_K computes d*sc*q - dmin*m, Q4_1/Q5_1 q*d + m; the C++ build contracts them to an FMA,
# one rounding fewer.
K_QUANT_TOL = 1e-6


def probe_x(n):
    return np.array([((i * 7) % 13 - 6) / 8.0 for i in range(n)], np.float32)


@unittest.skipUnless(os.path.exists(DUMP), "tests/mb_gguf_dump is not built")
class GgufReferenceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, data, name="m.gguf"):
        path = os.path.join(self.tmp.name, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def dump(self, data):
        p = subprocess.run([DUMP, self.write(data)], capture_output=True, text=True, timeout=300)
        return p.returncode, json.loads(p.stdout)

    def check_model(self, arch, tied=False):
        g, ref = gw.tiny_model(arch, seed=3, tied=tied)
        rc, out = self.dump(g.to_bytes())
        self.assertEqual(rc, 0, out)
        c = out["config"]
        self.assertEqual(c["architecture"], {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}[arch])
        self.assertEqual((c["n_layers"], c["hidden"], c["n_heads"], c["n_kv_heads"], c["head_dim"]),
                         (2, 256, 4, 2, 64))
        self.assertEqual((c["intermediate"], c["max_positions"]), (512, 128))
        self.assertEqual(c["vocab"], ref["token_embd.weight"][1].shape[0])
        self.assertEqual(c["tied_embeddings"], tied)
        self.assertAlmostEqual(c["rope_theta"], 10000.0 if arch == "llama" else 1e6)
        self.assertEqual(c["rms_eps"], float(np.float32(1e-5 if arch == "llama" else 1e-6)))
        seen = set()
        for name, (typ, deq, _) in ref.items():
            if deq.ndim == 1:
                self.assertEqual(np.array(out["vectors"][name], np.float32).tolist(), deq.tolist(), name)
                continue
            m = out["matrices"][name]
            self.assertEqual(m["type"], typ, name)
            seen.add(typ)
            rows = np.array(m["rows"], np.float32)
            self.assertEqual(rows.shape, deq.shape, name)
            if typ in EXACT:
                np.testing.assert_array_equal(rows, deq, err_msg=name)
            else:
                np.testing.assert_allclose(rows, deq, rtol=0, atol=K_QUANT_TOL, err_msg=name)
            x = probe_x(deq.shape[1])  # a Q8_0 matrix multiplies x quantised as llama.cpp does
            x = gw.quantize_activation_q8(x) if typ == "Q8_0" else x.astype(np.float64)
            y = deq.astype(np.float64) @ x
            np.testing.assert_allclose(np.array(m["matvec"]), y, rtol=1e-4, atol=1e-4, err_msg=name)
        self.assertEqual(seen, set(gw.TYPES))
        self.assertEqual(set(out["matrices"]), {n for n, r in ref.items() if r[1].ndim == 2})
        return out, ref

    def test_llama_every_type_and_rope_unpermuted(self):
        out, ref = self.check_model("llama")
        # blk.0.attn_q is F32: after the loader's row remap it is exactly the HF-order matrix
        # the writer started from (before convert_hf_to_gguf's permutation).
        q = np.array(out["matrices"]["blk.0.attn_q.weight"]["rows"], np.float32)
        np.testing.assert_array_equal(q, ref["blk.0.attn_q.weight"][2])
        self.assertEqual(out["types"].split("+")[0], "Q8_0")

    def test_qwen2_biases_not_permuted(self):
        out, ref = self.check_model("qwen2")
        q = np.array(out["matrices"]["blk.0.attn_q.weight"]["rows"], np.float32)
        np.testing.assert_array_equal(q, ref["blk.0.attn_q.weight"][2])
        self.assertIn("blk.1.attn_v.bias", out["vectors"])

    def test_tied_output(self):
        out, _ = self.check_model("llama", tied=True)
        self.assertNotIn("output.weight", out["matrices"])

    def test_rope_scaling(self):
        def linear(g):
            g.add("llama.rope.scaling.type", gw.STRING, "linear")
            g.add("llama.rope.scaling.factor", gw.F32, 4.0)
        rc, out = self.dump(self.mutate(linear).to_bytes())
        self.assertEqual(rc, 0, out)
        self.assertEqual((out["config"]["rope_scaling"], out["config"]["rope_factor"]), (1, 4.0))
        self.refused(self.mutate(lambda g: g.add("llama.rope.scaling.type", gw.STRING, "yarn")),
                     "usage", "rope scaling type 'yarn'")
        self.refused(self.mutate(lambda g: g.add_tensor("rope_freqs.weight", "F32", b"\0" * 128, [32])),
                     "usage", "rope_freqs.weight")

    # ---- the embedded tokenizer -----------------------------------------------------------

    def tokenize(self, g, text):
        path = self.write(g.to_bytes(), "t.gguf")
        p = subprocess.run([DUMP, "--tokenize", path, text], capture_output=True, text=True, timeout=60)
        return p.returncode, json.loads(p.stdout)

    def ids(self, tokens, pieces):
        return [tokens.index(p) for p in pieces]

    def test_spm_tokenizer_round_trip(self):
        g, _ = gw.tiny_model("llama", layers=1)
        tokens = gw.spm_vocab()[0]
        cases = {
            "hello world": ["<s>", "\u2581hello", "\u2581world"],
            # "\u2581is" is unreachable by merges (neither "\u2581i" nor "is" is a piece), as in
            # llama.cpp; é is not a piece: byte fallback.
            "the world is h\u00e9llo!": ["<s>", "\u2581the", "\u2581world", "\u2581", "i", "s", "\u2581",
                                      "h", "<0xC3>", "<0xA9>", "llo", "!"],
            "": ["<s>"],
        }
        for text, pieces in cases.items():
            rc, out = self.tokenize(g, text)
            self.assertEqual(rc, 0, out)
            self.assertEqual(out["model"], "llama")
            self.assertEqual(out["ids"], self.ids(tokens, pieces), text)
            self.assertEqual(out["decoded"], text)
        self.assertEqual((out["bos"], out["eos"], out["vocab"]), (1, 2, len(tokens)))

    def test_byte_level_tokenizer_round_trip(self):
        g, _ = gw.tiny_model("qwen2", layers=1)
        tokens = gw.bpe_vocab()[0]
        b = gw.byte_unicode()
        cases = {
            "hello world": ["hello", "\u0120world"],
            "the world is h\u00e9llo!": ["t", "he", "\u0120world", "\u0120is", b[32], "h", b[0xC3], b[0xA9], "llo", "!"],
            "  two\n": [b[32], "\u0120t", "w", "o", b[10]],
        }
        for text, pieces in cases.items():
            rc, out = self.tokenize(g, text)
            self.assertEqual(rc, 0, out)
            self.assertEqual(out["model"], "gpt2")
            self.assertEqual(out["ids"], self.ids(tokens, pieces), text)  # no BOS for gpt2
            self.assertEqual(out["decoded"], text)

    def decode(self, g, ids):
        path = self.write(g.to_bytes(), "d.gguf")
        p = subprocess.run([DUMP, "--decode", path, json.dumps(ids)], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return json.loads(p.stdout)["text"]

    def test_decode_matches_transformers_on_invalid_utf8(self):
        # Issue 23.3: transformers decodes a sentencepiece model's ids with ByteFallback (a run
        # of <0xNN> tokens that is not valid UTF-8 becomes one U+FFFD per token) and a
        # byte-level model's with from_utf8_lossy (one U+FFFD per maximal invalid subpart).
        g, _ = gw.tiny_model("llama", layers=1)
        tokens = gw.spm_vocab()[0]
        cases = [
            (["<s>", "\u2581the", "<0xC3>", "<0x41>", "llo", "<0xE2>", "<0x82>", "<0xAC>", "!", "</s>"],
             "the\ufffd\ufffdllo\u20ac!"),
            (["\u2581the", "<0xE2>", "<0x82>"], "the\ufffd\ufffd"),
            (["\u2581", "<0xC3>", "<0xA9>"], "\u00e9"),
        ]
        for pieces, want in cases:
            self.assertEqual(self.decode(g, self.ids(tokens, pieces)), want, pieces)
        g, _ = gw.tiny_model("qwen2", layers=1)
        tokens = gw.bpe_vocab()[0]
        b = gw.byte_unicode()
        for pieces, want in (([b[0xE2], b[0x82], "!"], "\ufffd!"), ([b[0xC3], "llo"], "\ufffdllo")):
            self.assertEqual(self.decode(g, self.ids(tokens, pieces)), want, pieces)

    def test_qwen2_and_llama3_split_matches_the_regex(self):
        # The pre-tokenizer regex with Python's re: \p{L} as [^\W\d_], \p{N} as \d (the
        # same classes for the ASCII and Latin-1 text below).
        other_nl, other_sp = r"(?:[^\w\r\n]|_)", r"(?:[^\w\s]|_)"
        texts = ["Hello's (world) 12345 a.b!!  x", "line1\n\n  line2 \t", "it'S 3x", "I'LL do_it",
                 "  leading and trailing  ", "caf\u00e9 \u00fcber-na\u00efve", "a\r\n\r\nb", "x  \n y",
                 "(1+2)*3=9?\n", "tab\tsep'd", "", "  ", "\n", "'", "__init__ ... --x",
                 "v\x0bt\x0c f\x85 x\u2028y\u2029"]  # \s is Unicode White_Space
        for digits in (1, 3):
            pat = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|" + other_nl + r"?[^\W\d_]+|\d{1,%d}| ?" % digits
                             + other_sp + r"+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
            for text in texts:
                p = subprocess.run([DUMP, "--split", str(digits), text], capture_output=True, text=True, timeout=60)
                self.assertEqual(json.loads(p.stdout), pat.findall(text), (digits, text))
        g, _ = gw.tiny_model("qwen2", layers=1)
        rc, out = self.tokenize(g, "a 12")  # qwen2: one digit per piece
        self.assertEqual(out["ids"], [ord("a"), 32, ord("1"), ord("2")])

    def test_hostile_tokenizer_metadata(self):
        def arr(key, t, values):
            def f(g):
                g.kv = [(k, v) for k, v in g.kv if k != key]
                g.add_array(key, t, values)
            return f
        g = self.mutate(arr("tokenizer.ggml.token_type", gw.I32, [1, 2, 3]))
        rc, out = self.tokenize(g, "hi")
        self.assertEqual((rc, out["category"]), (1, "integrity"), out)
        self.assertIn("token_type has 3 entries", out["error"])
        g = self.mutate(arr("tokenizer.ggml.token_type", gw.F64, [1e300] * len(gw.spm_vocab()[0])))
        rc, out = self.tokenize(g, "hi")
        self.assertEqual((rc, out["category"]), (1, "integrity"), out)
        self.assertIn("token_type of token 0", out["error"])
        g = self.mutate(lambda g: self.set_kv(g, "tokenizer.ggml.bos_token_id", gw.U32, 99999))
        rc, out = self.tokenize(g, "hi")
        self.assertEqual((rc, out["category"]), (1, "integrity"), out)
        g = self.mutate(arr("tokenizer.ggml.tokens", gw.U32, [1, 2]))
        rc, out = self.tokenize(g, "hi")
        self.assertEqual((rc, out["category"]), (1, "integrity"), out)
        self.assertIn("'tokenizer.ggml.tokens' is not an array of strings", out["error"])
        g = self.mutate(lambda g: self.set_kv(g, "tokenizer.ggml.model", gw.STRING, "t5"))
        rc, out = self.tokenize(g, "hi")
        self.assertEqual((rc, out["category"]), (1, "usage"), out)

    # ---- hostile files -------------------------------------------------------------------

    def refused(self, g, category, words):
        rc, out = self.dump(g.to_bytes() if isinstance(g, gw.GgufFile) else g)
        self.assertEqual(rc, 1, out)
        self.assertEqual(out["category"], category, out)
        self.assertIn(words, out["error"])

    def mutate(self, fn, arch="llama"):
        g, _ = gw.tiny_model(arch, seed=1, layers=1)
        fn(g)
        return g

    def set_kv(self, g, key, t, v):
        g.kv = [(k, b) for k, b in g.kv if k != key]
        g.add(key, t, v)

    def test_shape_mismatch_with_metadata(self):
        g = self.mutate(lambda g: self.set_kv(g, "llama.feed_forward_length", gw.U32, 256))
        self.refused(g, "integrity", "blk.0.ffn_gate.weight' has shape [512, 256], the metadata implies [256, 256]")

    def test_absurd_dims_and_counts(self):
        g = self.mutate(lambda g: self.set_kv(g, "llama.block_count", gw.U32, 4000000000))
        self.refused(g, "integrity", "llama.block_count")
        g = self.mutate(lambda g: self.set_kv(g, "llama.attention.head_count_kv", gw.U32, 3))
        self.refused(g, "integrity", "inconsistent")
        g = self.mutate(lambda g: self.set_kv(g, "llama.block_count", gw.U32, 7))
        self.refused(g, "integrity", "tensor 'blk.1.attn_q.weight' is missing")
        g = self.mutate(lambda g: self.set_kv(g, "llama.embedding_length", gw.F32, float("nan")))
        self.refused(g, "integrity", "llama.embedding_length")

    def test_tensor_past_end_of_file(self):
        g, _ = gw.tiny_model("llama", seed=1, layers=1)
        data = g.to_bytes()
        self.refused(data[:len(data) - 4096], "integrity", "runs past the end of the file")
        # An offset far outside the file in the first tensor info.
        name = b"token_embd.weight"
        at = data.index(struct.pack("<Q", len(name)) + name) + 8 + len(name) + 4 + 16 + 4
        bad = data[:at] + struct.pack("<Q", 1 << 60) + data[at + 8:]
        self.refused(bad, "integrity", "token_embd.weight")

    def test_wrong_tensor_type(self):
        def swap(g):  # a 1-D norm stored as Q8_0 and a matrix in an unsupported type
            g.tensors = [(n, ne, 8 if n == "output_norm.weight" else t, d) for n, ne, t, d in g.tensors]
        g = self.mutate(swap)
        self.refused(g, "integrity", "output_norm.weight")
        g = self.mutate(lambda g: self.set_kv(g, "general.architecture", gw.STRING, "mamba"))
        self.refused(g, "usage", "architecture 'mamba'")
        g = self.mutate(lambda g: g.tensors.pop(0))
        self.refused(g, "integrity", "is missing")


if __name__ == "__main__":
    unittest.main()
