"""modelbake-verify end to end: a tiny BERT sentence-transformers model (random weights,
written here with numpy) in a flat bundle, a hub bundle and a cache; exit codes, JSON, and
precise failures for corrupted, truncated and inconsistent files."""

import json
import os
import shutil
import struct
import unittest

import numpy as np

import mbcache
import mbtest

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "model", "##bake", "verifies", "that",
         "this", "loads", "and", "computes", ".", "hello", "world"]
HIDDEN, LAYERS, HEADS, INTER, MAXPOS = 32, 2, 2, 64, 64


def safetensors_bytes(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, arr in tensors.items():
        data = arr.tobytes()
        dtype = {"float32": "F32", "float16": "F16", "int64": "I64"}[str(arr.dtype)]
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def bert_tensors(rng, prefix="", vocab=len(VOCAB), layers=LAYERS):
    def w(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)
    t = {f"{prefix}embeddings.word_embeddings.weight": w(vocab, HIDDEN),
         f"{prefix}embeddings.position_embeddings.weight": w(MAXPOS, HIDDEN),
         f"{prefix}embeddings.token_type_embeddings.weight": w(2, HIDDEN),
         f"{prefix}embeddings.LayerNorm.weight": np.ones(HIDDEN, np.float32),
         f"{prefix}embeddings.LayerNorm.bias": np.zeros(HIDDEN, np.float32)}
    for i in range(layers):
        p = f"{prefix}encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):
            t[p + name + ".weight"] = w(HIDDEN, HIDDEN)
            t[p + name + ".bias"] = w(HIDDEN)
        t[p + "attention.output.LayerNorm.weight"] = np.ones(HIDDEN, np.float32)
        t[p + "attention.output.LayerNorm.bias"] = np.zeros(HIDDEN, np.float32)
        t[p + "intermediate.dense.weight"] = w(INTER, HIDDEN)
        t[p + "intermediate.dense.bias"] = w(INTER)
        t[p + "output.dense.weight"] = w(HIDDEN, INTER)
        t[p + "output.dense.bias"] = w(HIDDEN)
        t[p + "output.LayerNorm.weight"] = np.ones(HIDDEN, np.float32)
        t[p + "output.LayerNorm.bias"] = np.zeros(HIDDEN, np.float32)
    return t


def tokenizer_json():
    special = [{"id": VOCAB.index(s), "content": s, "single_word": False, "lstrip": False,
                "rstrip": False, "normalized": False, "special": True}
               for s in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]
    cls, sep = VOCAB.index("[CLS]"), VOCAB.index("[SEP]")
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(VOCAB)}},
    }


def model_files(seed=0, **overrides):
    """{path: bytes} of a tiny sentence-transformers BERT model."""
    rng = np.random.default_rng(seed)
    config = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": len(VOCAB),
              "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
              "intermediate_size": INTER, "max_position_embeddings": MAXPOS,
              "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
              "pad_token_id": 0}
    config.update(overrides.get("config", {}))
    tensors = overrides.get("tensors") or bert_tensors(rng)
    enc = lambda d: json.dumps(d, indent=2).encode()  # noqa: E731
    return {
        "config.json": enc(config),
        "tokenizer.json": enc(tokenizer_json()),
        "model.safetensors": safetensors_bytes(tensors, {"format": "pt"}),
        "modules.json": enc([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"}]),
        "1_Pooling/config.json": enc({"word_embedding_dimension": overrides.get("pool_dim", HIDDEN),
                                      "pooling_mode_mean_tokens": True}),
    }


def spec(name="tiny", repo="org/tiny-bert", files=None, **kw):
    return dict({"name": name, "repo": repo, "files": files or model_files()}, **kw)


def write_flat(root, specs):
    """A flat bundle: <root>/<name>/<path> real files and <root>/modelbake.lock."""
    norm = [mbcache._model_spec(s) for s in specs]
    for m in norm:
        for path, data, _lfs in m["files"]:
            p = os.path.join(root, m["name"], path)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
    doc = mbcache.lock_document(norm)
    with open(os.path.join(root, "modelbake.lock"), "w") as f:
        f.write(mbcache.serialize_lock(doc))
    return doc


def write_hub_bundle(root, specs):
    """A hub bundle: the cache tree without modelbake's private area, lock at the root."""
    doc = mbcache.make_cache(root, specs, lock_path=os.path.join(root, "modelbake.lock"))
    shutil.rmtree(os.path.join(root, ".locks", "modelbake"), onerror=lambda f, p, e: (os.chmod(p, 0o700), f(p)))
    os.unlink(os.path.join(root, "CACHEDIR.TAG"))
    return doc


class VerifyBase(mbtest.MbTestCase):
    def run_json(self, *args, env=None):
        proc = mbtest.run_verify(["--json", *args], env=env)
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            self.fail("no JSON on stdout:\n" + mbtest.describe(proc))
        return proc, doc

    def flat(self, specs=None):
        root = self.tmp.join("flat")
        os.makedirs(root)
        write_flat(root, specs or [spec()])
        return root


class FlatBundle(VerifyBase):
    def test_ready_flat_bundle_json(self):
        root = self.flat()
        proc, doc = self.run_json(root)
        self.assertExit(proc, 0)
        self.assertEqual(doc["layout"], "flat")
        self.assertEqual(doc["status"], "ready")
        (m,) = doc["models"]
        self.assertEqual((m["name"], m["repo"], m["status"]), ("tiny", "org/tiny-bert", "ready"))
        self.assertEqual(m["files_checked"], 5)
        self.assertEqual(m["bytes"], sum(len(d) for d in model_files().values()))
        self.assertEqual(m["embedding_dimension"], HIDDEN)
        self.assertEqual(m["device"], "cpu")
        self.assertEqual(m["weights_format"], "safetensors")
        n_params = sum(a.size for a in bert_tensors(np.random.default_rng(0)).values())
        self.assertEqual(m["memory"]["needed"], 4 * n_params)
        self.assertEqual(m["memory"]["by_dtype"], {"F32": 4 * n_params})
        self.assertIsNone(m["error"])
        self.assertEqual(m["inference"], "not requested")
        self.assertIn("vocab_size", m["checked"])
        self.assertIn("num_hidden_layers", m["checked"])

    def test_human_output(self):
        proc = mbtest.run_verify([self.flat()])
        self.assertExit(proc, 0)
        self.assertIn("tiny", proc.stdout)
        self.assertIn("1 of 1 models ready", proc.stdout)

    def test_corrupt_byte_fails_integrity_naming_the_file(self):
        root = self.flat()
        p = os.path.join(root, "tiny", "model.safetensors")
        with open(p, "r+b") as f:
            f.seek(os.path.getsize(p) - 3)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xFF]))
        proc, doc = self.run_json(root)
        self.assertExit(proc, 1)
        err = doc["models"][0]["error"]
        self.assertEqual(err["check"], "integrity")
        self.assertIn("model.safetensors", err["message"])
        self.assertEqual(doc["models"][0]["status"], "failed")

    def test_missing_file_fails(self):
        root = self.flat()
        os.unlink(os.path.join(root, "tiny", "tokenizer.json"))
        proc, doc = self.run_json(root)
        self.assertExit(proc, 1)
        self.assertIn("tokenizer.json", doc["models"][0]["error"]["message"])

    def structural_failure(self, files):
        """Files whose lock matches them (integrity passes) but whose content is hostile."""
        root = self.flat([spec(files=files)])
        proc, doc = self.run_json(root)
        self.assertExit(proc, 1)
        shutil.rmtree(root)
        return doc["models"][0]["error"]

    def test_truncated_safetensors(self):
        files = model_files()
        files["model.safetensors"] = files["model.safetensors"][:-100]
        err = self.structural_failure(files)
        self.assertEqual(err["check"], "structure")
        self.assertIn("model.safetensors", err["message"])

    def test_header_length_beyond_eof(self):
        files = model_files()
        files["model.safetensors"] = struct.pack("<Q", 1 << 30) + files["model.safetensors"][8:]
        err = self.structural_failure(files)
        self.assertIn("header length", err["message"])

    def test_nan_weights(self):
        t = bert_tensors(np.random.default_rng(0))
        t["embeddings.word_embeddings.weight"][3, 5] = np.nan
        err = self.structural_failure(model_files(tensors=t))
        self.assertEqual(err["check"], "weights")
        self.assertIn("embeddings.word_embeddings.weight", err["message"])
        self.assertIn("NaN", err["message"])

    def test_config_disagrees_with_weights(self):
        err = self.structural_failure(model_files(config={"num_hidden_layers": 3}))
        self.assertEqual(err["check"], "consistency")
        self.assertIn("num_hidden_layers", err["message"])
        err = self.structural_failure(model_files(config={"hidden_size": 48}))
        self.assertIn("hidden_size", err["message"])

    def test_pooling_dimension_mismatch(self):
        err = self.structural_failure(model_files(pool_dim=HIDDEN * 2))
        self.assertEqual(err["check"], "consistency")
        self.assertIn("1_Pooling/config.json", err["message"])

    def test_bad_json(self):
        files = model_files()
        files["config.json"] = b"{\"model_type\": "
        err = self.structural_failure(files)
        self.assertIn("config.json", err["message"])

    def test_max_memory(self):
        root = self.flat()
        proc, doc = self.run_json("--max-memory", "1K", root)
        self.assertExit(proc, 1)
        err = doc["models"][0]["error"]
        self.assertEqual(err["check"], "memory")
        self.assertIn("--max-memory is 1024 bytes", err["message"])
        self.assertEqual(doc["models"][0]["memory"]["limit"], 1024)
        proc, _ = self.run_json("--max-memory", "1G", root)
        self.assertExit(proc, 0)

    def test_cgroup_limit_from_fake_sys_root(self):
        root = self.flat()
        sys_root = self.tmp.join("sysroot")
        os.makedirs(os.path.join(sys_root, "proc", "self"))
        os.makedirs(os.path.join(sys_root, "sys", "fs", "cgroup"))
        with open(os.path.join(sys_root, "proc", "self", "cgroup"), "w") as f:
            f.write("0::/\n")
        with open(os.path.join(sys_root, "sys", "fs", "cgroup", "memory.max"), "w") as f:
            f.write("20000\n")
        with open(os.path.join(sys_root, "sys", "fs", "cgroup", "memory.current"), "w") as f:
            f.write("5000\n")
        env = dict(os.environ, MODELBAKE_VERIFY_SYS_ROOT=sys_root)
        proc, doc = self.run_json(root, env=env)
        self.assertExit(proc, 1)
        m = doc["models"][0]
        self.assertEqual(m["memory"]["available"], 15000)
        self.assertEqual(m["error"]["check"], "memory")
        self.assertIn("cgroup v2", m["error"]["message"])

    def test_infer_runs_or_reports_unsupported(self):
        root = self.flat()
        proc, doc = self.run_json("--infer", root)
        m = doc["models"][0]
        self.assertExit(proc, 0 if m["status"] == "ready" else 1)
        self.assertEqual(m["status"], "ready", m["error"])
        self.assertEqual(m["inference"], "ok")
        self.assertEqual(len(m["probe"]["output"]), HIDDEN)
        self.assertEqual(m["embedding_dimension"], HIDDEN)
        self.assertEqual(m["probe"]["token_ids"][0], VOCAB.index("[CLS]"))
        self.assertEqual(m["probe"]["token_ids"][-1], VOCAB.index("[SEP]"))

    def test_infer_unsupported_architecture_is_not_a_failure(self):
        files = model_files(config={"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})
        root = self.flat([spec(files=files)])
        proc, doc = self.run_json("--infer", root)
        self.assertExit(proc, 0)
        self.assertTrue(doc["models"][0]["inference"].startswith("unsupported architecture"))


class HubBundleAndCache(VerifyBase):
    def test_hub_bundle(self):
        root = self.tmp.join("hub")
        os.makedirs(root)
        write_hub_bundle(root, [spec(), spec(name="second", repo="org/second", files=model_files(1))])
        proc, doc = self.run_json(root)
        self.assertExit(proc, 0)
        self.assertEqual(doc["layout"], "hub")
        self.assertEqual([m["name"] for m in doc["models"]], ["second", "tiny"])
        self.assertTrue(all(m["status"] == "ready" for m in doc["models"]))

    def test_cache_with_lock_flag_and_corruption(self):
        cache = self.tmp.join("cache")
        lock = self.tmp.join("modelbake.lock")
        doc_lock = mbcache.make_cache(cache, [spec()], lock_path=lock)
        proc, doc = self.run_json("--lock", lock, cache)
        self.assertExit(proc, 0)
        self.assertEqual(doc["layout"], "cache")
        self.assertEqual(doc["models"][0]["commit"], doc_lock["models"][0]["commit"])
        # A cache has no lock of its own: without --lock it is a usage error.
        proc = mbtest.run_verify([cache])
        self.assertExit(proc, 2)
        self.assertIn("--lock", proc.stderr)
        # Truncate the blob behind config.json.
        snap = mbcache.snapshot_path(cache, "org/tiny-bert", doc_lock["models"][0]["commit"], "config.json")
        blob = os.path.realpath(snap)
        os.chmod(blob, 0o644)
        with open(blob, "r+b") as f:
            f.truncate(10)
        proc, doc = self.run_json("--lock", lock, cache)
        self.assertExit(proc, 1)
        self.assertIn("config.json", doc["models"][0]["error"]["message"])


class Usage(VerifyBase):
    def test_usage_errors_exit_2(self):
        for args in ([], ["--bogus", "x"], ["--max-memory", "lots", "x"], ["a", "b"],
                     [self.tmp.join("does-not-exist")], ["--lock"]):
            proc = mbtest.run_verify(args)
            self.assertExit(proc, 2)
            self.assertIn("error", proc.stderr)

    def test_help(self):
        proc = mbtest.run_verify(["--help"])
        self.assertExit(proc, 0)
        self.assertIn("--max-memory", proc.stdout)


if __name__ == "__main__":
    unittest.main()
