"""modelbake-verify --infer on GGUF LLMs (issue 14.1): a model folder holding a .gguf (as
manifests/llm-gguf bakes Qwen/Qwen2.5-0.5B-Instruct-GGUF) is probed with the GGUF loader and
the file's embedded tokenizer. Tiny random llama and qwen2 files from tests/support/
gguf_writer.py hold every tensor type (F32, F16, Q8_0, Q4_0, Q4_K, Q6_K, Q4_1, Q5_0, Q5_1);
the reference is gguf_writer.reference_logits (float64 numpy on the dequantised matrices)
with a greedy loop here. Logits after the prompt agree within 1e-4 (float32 accumulation
against float64); greedy ids must be identical."""

import json
import os
import subprocess
import unittest

import numpy as np

import gguf_writer as gw
from test_modelbake_verify import VerifyBase, spec, write_flat

BUILD = os.environ.get("MODELBAKE_BUILD_DIR", "")
PROBE = os.path.join(BUILD, "tests", "mb_probe")
TEXT = "hello world, the cat is good"
LOGITS_TOL = 1e-4


def greedy(ref, arch, prompt, n, eos):
    """n argmax tokens after `prompt` (stopping after eos), recomputed from scratch per step."""
    ids, out = list(prompt), []
    for _ in range(n):
        t = int(np.argmax(gw.reference_logits(ref, arch, ids)))
        out.append(t)
        ids.append(t)
        if t == eos:
            break
    return out


def eos_of(arch):
    return 2 if arch == "llama" else len(gw.bpe_vocab()[0]) - 1


def assert_kv_cache_refused(test, root):
    """--max-memory just above the weights refuses --infer for the KV cache, before loading
    (also used by test_llm_reference). Returns the model's report."""
    _, doc = test.run_json(root)
    weights_only = doc["models"][0]["memory"]["needed"]
    proc, doc = test.run_json("--infer", "--max-memory", str(weights_only + 1024), root)
    (m,) = doc["models"]
    test.assertExit(proc, 1)
    test.assertEqual(m["error"]["check"], "memory")
    test.assertIn("kv cache + activations", m["error"]["message"])
    test.assertEqual(m["inference"], "not run")  # refused before loading
    return m


class GgufVerifyEndToEnd(VerifyBase):
    def bundle(self, arch, expect=None, mutate=None, seed=5, tied=False, tag=""):
        g, ref = gw.tiny_model(arch, seed=seed, tied=tied)
        if mutate:
            mutate(g)
        files = {"tiny-%s-q4_k_m.gguf" % arch: g.to_bytes(), "README.md": b"# tiny gguf\n"}
        root = self.tmp.join("flat-%s-%d%s" % (arch, seed, tag))
        os.makedirs(root)
        write_flat(root, [spec(name="llm", repo="org/tiny-%s-GGUF" % arch, files=files, expect=expect)])
        return ref, root

    def check_generation(self, arch, tied=False):
        ref, root = self.bundle(arch, expect={"probe_text": TEXT}, tied=tied)
        proc, doc = self.run_json("--infer", root)
        (m,) = doc["models"]
        self.assertExit(proc, 0)
        self.assertEqual(m["status"], "ready", m["error"])
        self.assertEqual(m["inference"], "ok")
        self.assertEqual(m["architecture"], arch)
        self.assertEqual(m["weights_format"], "gguf")
        self.assertIsNone(m["embedding_dimension"])  # a causal LM outputs logits
        p = m["probe"]
        self.assertEqual(p["output_kind"], "next_token_logits")
        self.assertEqual(p["text"], TEXT)
        self.assertEqual(set(p["weight_types"]), set(gw.TYPES))
        if arch == "llama":  # add_bos_token
            self.assertEqual(p["token_ids"][0], 1)
        self.assertEqual(p["generated_ids"], greedy(ref, arch, p["token_ids"], 8, eos_of(arch)))
        self.assertGreater(p["peak_memory_bytes"], 0)
        mem = m["memory"]
        self.assertGreater(mem["by_dtype"]["kv cache + activations"], 0)
        self.assertEqual(mem["needed"], sum(mem["by_dtype"].values()))
        # The logits after the prompt, from the test driver (the report leaves them out).
        out = subprocess.run([PROBE, os.path.join(root, "llm"), json.dumps({"probe_text": TEXT})],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        r = json.loads(out.stdout)
        self.assertEqual(r["token_ids"], p["token_ids"])
        want = gw.reference_logits(ref, arch, r["token_ids"])
        np.testing.assert_allclose(np.array(r["output"], np.float64), want, rtol=0, atol=LOGITS_TOL)
        return p

    def test_llama_gguf_generates_the_reference_ids(self):
        self.check_generation("llama")

    def test_qwen2_gguf_generates_the_reference_ids(self):
        self.check_generation("qwen2")

    def test_tied_output_embedding(self):
        self.check_generation("qwen2", tied=True)

    def test_bench_decode_driver_reads_a_gguf_file_or_folder(self):
        # bench/infer_llm.sh FORMAT=gguf-q8_0 times `mb_probe --decode` on a .gguf path; a
        # folder holding one works as under --infer. No EOS stop: always 8 tokens.
        ref, root = self.bundle("qwen2", seed=7)
        folder = os.path.join(root, "llm")
        (name,) = [f for f in os.listdir(folder) if f.endswith(".gguf")]
        runs = []
        for path, threads in ((folder, "1"), (os.path.join(folder, name), "2")):
            out = subprocess.run([PROBE, "--decode", "8", path, TEXT], capture_output=True, text=True,
                                 timeout=120, env=dict(os.environ, MB_INFER_THREADS=threads))
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            runs.append(json.loads(out.stdout))
        self.assertEqual(runs[0]["generated_ids"], greedy(ref, "qwen2", runs[0]["prompt_ids"], 8, -1))
        self.assertEqual(runs[1]["prompt_ids"], runs[0]["prompt_ids"])
        self.assertEqual(runs[1]["generated_ids"], runs[0]["generated_ids"])

    def test_expect_pins_generated_ids(self):
        ref, root = self.bundle("qwen2", expect={"probe_text": TEXT}, seed=6)
        _, doc = self.run_json("--infer", root)
        ids = doc["models"][0]["probe"]["generated_ids"]
        _, root = self.bundle("qwen2", expect={"probe_text": TEXT, "generated_ids": ids}, seed=6, tag="-pinned")
        proc, doc = self.run_json("--infer", root)
        self.assertExit(proc, 0)
        self.assertEqual(doc["models"][0]["status"], "ready")
        wrong = [(ids[0] + 1) % 300] + ids[1:]
        _, root = self.bundle("qwen2", expect={"probe_text": TEXT, "generated_ids": wrong}, seed=6, tag="-wrong")
        proc, doc = self.run_json("--infer", root)
        (m,) = doc["models"]
        self.assertExit(proc, 1)
        self.assertEqual(m["inference"], "failed")
        self.assertEqual(m["error"]["check"], "inference")
        self.assertIn("expect.generated_ids is %s" % wrong, m["error"]["message"])

    def test_hostile_gguf_exits_1(self):
        def kv_heads(g):
            g.kv = [(k, v) for k, v in g.kv if k != "llama.attention.head_count_kv"]
            g.add("llama.attention.head_count_kv", gw.U32, 3)

        _, root = self.bundle("llama", mutate=kv_heads)
        proc, doc = self.run_json("--infer", root)
        (m,) = doc["models"]
        self.assertExit(proc, 1)
        self.assertEqual(m["inference"], "failed")
        self.assertIn("attention heads 4/3", m["error"]["message"])
        # A file cut short (locked as such): its last tensors lie past the end.
        g, _ = gw.tiny_model("llama", seed=5)
        root = self.tmp.join("flat-cut")
        os.makedirs(root)
        data = g.to_bytes()[:-4096]
        write_flat(root, [spec(name="llm", repo="org/cut-GGUF", files={"cut.gguf": data})])
        proc, doc = self.run_json("--infer", root)
        (m,) = doc["models"]
        self.assertExit(proc, 1)
        self.assertEqual(m["error"]["check"], "structure")
        self.assertIn("cut.gguf", m["error"]["message"])
        self.assertIn("past the end", m["error"]["message"])

    def test_nan_in_gguf_weights_fails_the_weights_check(self):
        # Issue 23.4: the NaN/Inf scan covers GGUF tensors: F32/F16 elements and the F16
        # scales of quantised blocks (a NaN scale makes its whole block NaN).
        def poke(name, at, value):
            def mutate(g):
                for i, (n, ne, tid, data) in enumerate(g.tensors):
                    if n == name:
                        b = bytearray(data)
                        b[at(len(b)):at(len(b)) + len(value)] = value
                        g.tensors[i] = (n, ne, tid, bytes(b))
            return mutate

        nan16 = b"\x00\x7e"
        # The last Q8_0 block (34 bytes, F16 scale first) of the embedding: a row the probe
        # never reads, found by the sampled scan without --infer.
        _, root = self.bundle("llama", mutate=poke("token_embd.weight", lambda n: n - 34, nan16), tag="-q8")
        proc, doc = self.run_json(root)
        (m,) = doc["models"]
        self.assertExit(proc, 1)
        self.assertEqual(m["error"]["check"], "weights", m["error"])
        self.assertIn("token_embd.weight", m["error"]["message"])
        self.assertIn("NaN or Inf", m["error"]["message"])
        # An Inf in the middle of an F32 matrix: only the full scan of --infer reads it, and
        # it fails the weights check before inference runs.
        _, root = self.bundle("llama", mutate=poke("blk.0.attn_q.weight", lambda n: n // 2, b"\x00\x00\x80\x7f"),
                              tag="-f32")
        proc, doc = self.run_json(root)
        self.assertExit(proc, 0)
        proc, doc = self.run_json("--infer", root)
        (m,) = doc["models"]
        self.assertExit(proc, 1)
        self.assertEqual(m["error"]["check"], "weights", m["error"])
        self.assertIn("blk.0.attn_q.weight", m["error"]["message"])
        # A Q4_K super-block's dmin (bytes 2-3), a Q6_K's d (its last two bytes), a Q5_1's m
        # and an F16 element too.
        for name, at in (("blk.0.attn_output.weight", lambda n: 144 * 3 + 2),
                         ("output.weight", lambda n: 210 * 5 + 208),
                         ("blk.1.attn_q.weight", lambda n: 24 * 7 + 2),
                         ("blk.1.attn_v.weight", lambda n: 2 * 1001)):
            with self.subTest(tensor=name):
                _, root = self.bundle("llama", mutate=poke(name, at, nan16), tag="-" + name)
                proc, doc = self.run_json("--infer", root)
                (m,) = doc["models"]
                self.assertExit(proc, 1)
                self.assertEqual(m["error"]["check"], "weights", m["error"])
                self.assertIn(name, m["error"]["message"])

    def test_unlocked_gguf_beside_the_model_is_not_probed(self):
        _, root = self.bundle("qwen2", expect={"probe_text": TEXT}, seed=9)
        planted = os.path.join(root, "llm", "zz-planted.gguf")
        with open(planted, "wb") as f:  # larger than the model: "the largest .gguf" would pick it
            f.write(b"GGUF" + b"\xff" * (4 << 20))
        proc, doc = self.run_json("--infer", root)
        (m,) = doc["models"]
        self.assertExit(proc, 0)
        self.assertEqual(m["inference"], "ok", m["error"])
        self.assertEqual(m["unverified_files"], [])

    def test_unsupported_gguf_architecture_is_reported(self):
        def gemma(g):
            g.kv = [(k, v) for k, v in g.kv if k != "general.architecture"]
            g.add("general.architecture", gw.STRING, "gemma")

        _, root = self.bundle("llama", mutate=gemma)
        proc, doc = self.run_json("--infer", root)
        (m,) = doc["models"]
        self.assertExit(proc, 0)
        self.assertTrue(m["inference"].startswith("unsupported architecture gemma"), m["inference"])
        self.assertIn("architecture 'gemma'", m["inference"])

    def test_kv_cache_counts_against_max_memory(self):
        _, root = self.bundle("llama", seed=8)
        m = assert_kv_cache_refused(self, root)
        needed = m["memory"]["needed"]
        proc, doc = self.run_json("--infer", "--max-memory", str(needed), root)
        self.assertExit(proc, 0)
        self.assertEqual(doc["models"][0]["inference"], "ok")


if __name__ == "__main__":
    unittest.main()
