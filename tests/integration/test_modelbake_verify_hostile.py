"""modelbake-verify against planted files (issue 10 item 5): only regular files inside ROOT are
opened, a FIFO never hangs it, links out of ROOT are refused, a model folder outside ROOT is not
ready, and files read by fixed name but absent from the lock are reported as unverified."""

import json
import os
import resource
import shutil
import subprocess
import unittest

import numpy as np

import mbcache
import mbtest
from test_modelbake_verify import (HIDDEN, VerifyBase, bert_tensors, model_files, safetensors_bytes, spec,
                                   tokenizer_json, write_flat, write_hub_bundle)

# Only a guard against a hang that would otherwise stall the suite; not a speed assertion.
HANG_GUARD = 120


def without(files, *names):
    return {k: v for k, v in files.items() if k not in names}


class PlantedFiles(VerifyBase):
    def run_guarded(self, args):
        return mbtest.run_verify(args, timeout=HANG_GUARD)

    def test_fifo_as_bundled_lock_exits_with_message(self):
        root = self.flat()
        lock = os.path.join(root, "modelbake.lock")
        os.unlink(lock)
        os.mkfifo(lock)
        proc = self.run_guarded([root])
        self.assertIn(proc.returncode, (1, 2), mbtest.describe(proc))
        self.assertIn("not a regular file", proc.stderr)
        self.assertIn("modelbake.lock", proc.stderr)

    def test_fifo_as_lock_flag_exits_with_message(self):
        root = self.flat()
        fifo = self.tmp.join("lock.fifo")
        os.mkfifo(fifo)
        proc = self.run_guarded(["--lock", fifo, root])
        self.assertIn(proc.returncode, (1, 2), mbtest.describe(proc))
        self.assertIn("not a regular file", proc.stderr)

    def test_bundled_lock_linked_out_of_root_refused(self):
        root = self.flat()
        outside = self.tmp.join("outside.lock")
        shutil.move(os.path.join(root, "modelbake.lock"), outside)
        os.symlink(outside, os.path.join(root, "modelbake.lock"))
        proc = self.run_guarded([root])
        self.assertEqual(proc.returncode, 2, mbtest.describe(proc))
        self.assertIn("outside", proc.stderr)

    def test_unlocked_modules_json_linked_out_of_root_refused(self):
        files = model_files()
        root = self.flat([spec(files=without(files, "modules.json"))])
        outside = self.tmp.join("modules.json")
        with open(outside, "wb") as f:
            f.write(files["modules.json"])
        os.symlink(outside, os.path.join(root, "tiny", "modules.json"))
        proc, doc = self.run_json("--infer", root)
        self.assertExit(proc, 1)
        m = doc["models"][0]
        self.assertEqual(m["status"], "failed")
        self.assertIn("modules.json", m["error"]["message"])
        self.assertIn("outside", m["error"]["message"])

    def test_unlocked_fifo_read_by_name_does_not_hang(self):
        root = self.flat()
        os.mkfifo(os.path.join(root, "tiny", "sentence_bert_config.json"))
        proc = self.run_guarded(["--json", "--infer", root])
        self.assertExit(proc, 1)
        m = json.loads(proc.stdout)["models"][0]
        self.assertIn("sentence_bert_config.json", m["error"]["message"])
        self.assertIn("not a regular file", m["error"]["message"])

    def test_unlocked_config_is_reported_unverified(self):
        root = self.flat()
        with open(os.path.join(root, "tiny", "sentence_bert_config.json"), "w") as f:
            json.dump({"max_seq_length": 16, "do_lower_case": False}, f)
        proc, doc = self.run_json("--infer", root)
        self.assertExit(proc, 0)
        m = doc["models"][0]
        self.assertEqual(m["status"], "ready", m["error"])
        self.assertEqual(m["unverified_files"], ["sentence_bert_config.json"])
        human = mbtest.run_verify(["--infer", root])
        self.assertExit(human, 0)
        self.assertIn("unverified (not in the lock): sentence_bert_config.json", human.stdout)

    def test_locked_files_are_not_unverified(self):
        proc, doc = self.run_json("--infer", self.flat())
        self.assertExit(proc, 0)
        self.assertEqual(doc["models"][0]["unverified_files"], [])

    def test_flat_model_folder_linked_out_of_root_not_ready(self):
        root = self.flat()
        outside = self.tmp.join("elsewhere")
        shutil.move(os.path.join(root, "tiny"), outside)
        os.symlink(outside, os.path.join(root, "tiny"))
        proc, doc = self.run_json(root)
        self.assertExit(proc, 1)
        m = doc["models"][0]
        self.assertEqual(m["status"], "failed")
        self.assertIn("outside", m["error"]["message"])

    def test_hub_repo_folder_linked_out_of_root_not_ready(self):
        root = self.tmp.join("hub")
        os.makedirs(root)
        write_hub_bundle(root, [spec()])
        repo = os.path.join(root, "models--org--tiny-bert")
        outside = self.tmp.join("elsewhere")
        shutil.move(repo, outside)
        os.symlink(outside, repo)
        proc, doc = self.run_json(root)
        self.assertExit(proc, 1)
        self.assertEqual(doc["models"][0]["status"], "failed")
        self.assertIn("outside", doc["models"][0]["error"]["message"])

    def test_fifo_as_hub_ref_or_trees_file_does_not_hang(self):
        root = self.tmp.join("hub")
        os.makedirs(root)
        doc = write_hub_bundle(root, [spec()])
        repo = os.path.join(root, "models--org--tiny-bert")
        trees = os.path.join(repo, "trees", doc["models"][0]["commit"] + ".json")
        os.makedirs(os.path.dirname(trees), exist_ok=True)
        for planted in (os.path.join(repo, "refs", "main"), trees):
            saved = None
            if os.path.exists(planted):
                with open(planted, "rb") as f:
                    saved = f.read()
                os.unlink(planted)
            os.mkfifo(planted)
            proc = self.run_guarded(["--json", root])
            self.assertExit(proc, 1)
            m = json.loads(proc.stdout)["models"][0]
            self.assertIn(os.path.basename(planted), m["error"]["message"])
            self.assertIn("not a regular file", m["error"]["message"])
            os.unlink(planted)
            if saved is not None:
                with open(planted, "wb") as f:
                    f.write(saved)

    def test_hub_bundle_links_into_blobs_stay_ready(self):
        root = self.tmp.join("hub")
        os.makedirs(root)
        write_hub_bundle(root, [spec()])
        proc, doc = self.run_json("--infer", root)
        self.assertExit(proc, 0)
        self.assertEqual(doc["models"][0]["unverified_files"], [])

    def test_cache_with_hard_linked_blobs_stays_ready(self):
        cache = self.tmp.join("cache")
        lock = self.tmp.join("modelbake.lock")
        doc_lock = mbcache.make_cache(cache, [spec()], lock_path=lock)
        snap = mbcache.snapshot_path(cache, "org/tiny-bert", doc_lock["models"][0]["commit"], "config.json")
        blob = os.path.realpath(snap)
        spare = self.tmp.join("spare-link")
        os.link(blob, spare)  # a second name for the blob outside the cache: still fine
        proc, _doc = self.run_json("--infer", "--lock", lock, cache)
        self.assertExit(proc, 0)


DEPTH = 50000  # levels of nesting: far past any stack a recursive reader could afford
MEMORY_LIMIT = 1 << 30  # address space of the verifier in the num_labels case


def nested(depth, leaf, wrap):
    """JSON text of `leaf` wrapped `depth` times by wrap = (open, close)."""
    return wrap[0] * depth + leaf + wrap[1] * depth


def with_tokenizer(tok_text):
    files = model_files()
    files["tokenizer.json"] = tok_text.encode() if isinstance(tok_text, str) else tok_text
    return files


def tokenizer_with(**changes):
    tok = tokenizer_json()
    tok.update(changes)
    return json.dumps(tok)


def classifier_files(num_labels):
    """A tiny BertForSequenceClassification with 2 labels in its weights."""
    rng = np.random.default_rng(3)
    t = bert_tensors(rng, prefix="bert.")
    t["bert.pooler.dense.weight"] = (rng.standard_normal((HIDDEN, HIDDEN)) * 0.05).astype(np.float32)
    t["bert.pooler.dense.bias"] = np.zeros(HIDDEN, np.float32)
    t["classifier.weight"] = (rng.standard_normal((2, HIDDEN)) * 0.05).astype(np.float32)
    t["classifier.bias"] = np.zeros(2, np.float32)
    files = model_files(config={"architectures": ["BertForSequenceClassification"], "num_labels": num_labels},
                        tensors=t)
    for k in ("modules.json", "1_Pooling/config.json"):
        files.pop(k)
    return files


class HostileJson(VerifyBase):
    """Issue 23 items 5-7: hostile config/tokenizer JSON fails *that* model with a short, clear
    message; the other models are checked and the report is printed (never "internal error",
    a crash or an allocation sized by the attacker)."""

    def limited_run(self, root):
        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        proc = subprocess.run([mbtest.verify_bin(), "--json", "--infer", root], env=mbtest.tool_env(None),
                              capture_output=True, text=True, timeout=HANG_GUARD, preexec_fn=limit)
        self.assertNotIn("internal error", proc.stderr)
        self.assertEqual(proc.returncode, 1, mbtest.describe(proc))
        try:
            return json.loads(proc.stdout)
        except ValueError:
            self.fail("no JSON report:\n" + mbtest.describe(proc))

    def check(self, cases):
        """cases: name -> (files, needles in the model's error message or inference line)."""
        specs = [spec(name="good", repo="org/good")]
        specs += [spec(name=n, repo="org/" + n, files=f) for n, (f, _) in cases.items()]
        root = self.tmp.join("hostile")
        os.makedirs(root)
        write_flat(root, specs)
        doc = self.limited_run(root)
        models = {m["name"]: m for m in doc["models"]}
        self.assertEqual(models["good"]["status"], "ready", models["good"]["error"])
        self.assertEqual(models["good"]["inference"], "ok")
        for name, (_, needles) in cases.items():
            with self.subTest(model=name):
                m = models[name]
                self.assertEqual(m["status"], "failed", m)
                text = m["error"]["message"]
                self.assertLess(len(text), 600, text[:600])  # no dump of attacker JSON
                for needle in needles:
                    self.assertIn(needle, text)

    def test_deeply_nested_tokenizer_json(self):
        seq = ('{"type": "Sequence", "normalizers": [', ']}')
        pre = ('{"type": "Sequence", "pretokenizers": [', ']}')
        post = ('{"type": "Sequence", "processors": [', ']}')
        tok = tokenizer_json()
        def text_with(key, wrap, leaf):
            body = json.dumps(dict(tok, **{key: "@@"}))
            return body.replace('"@@"', nested(DEPTH, leaf, wrap))
        self.check({
            "deep-normalizer": (with_tokenizer(text_with("normalizer", seq, '{"type": "Lowercase"}')),
                                ["tokenizer.json", "nested deeper than"]),
            "deep-pre": (with_tokenizer(text_with("pre_tokenizer", pre, '{"type": "Whitespace"}')),
                         ["tokenizer.json", "nested deeper than"]),
            "deep-post": (with_tokenizer(text_with("post_processor", post, '{"type": "BertProcessing"}')),
                          ["tokenizer.json", "nested deeper than"]),
            # A pattern that is itself 50,000 arrays deep: naming it must not serialise it.
            "deep-pattern": (with_tokenizer(text_with("normalizer", ("", ""),
                                                      '{"type": "Replace", "pattern": {"Regex": %s}, "content": ""}'
                                                      % nested(DEPTH, "1", ("[", "]")))),
                             ["tokenizer.json"]),
        })

    def test_num_labels_is_bounded_by_the_weights(self):
        self.check({"labels": (classifier_files(1 << 24), ["classifier.weight", "16777216"])})

    def test_wrongly_typed_fields_fail_that_model(self):
        bpe = dict(tokenizer_json()["model"], type="BPE", merges=[], byte_fallback="no")
        bpe.pop("max_input_chars_per_word")
        pool = model_files()
        pool["1_Pooling/config.json"] = b'{"word_embedding_dimension": 32, "pooling_mode_mean_tokens": "yes"}'
        modules = model_files()
        modules["modules.json"] = json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": 2, "type": "sentence_transformers.models.Normalize"}]).encode()
        self.check({
            "lowercase": (with_tokenizer(tokenizer_with(normalizer={"type": "BertNormalizer", "lowercase": "yes"})),
                          ["tokenizer.json", "lowercase"]),
            "byte-fallback": (with_tokenizer(tokenizer_with(model=bpe)), ["tokenizer.json", "byte_fallback"]),
            "truncation": (with_tokenizer(tokenizer_with(truncation={"max_length": "5"})),
                           ["tokenizer.json", "max_length"]),
            "prepend": (with_tokenizer(tokenizer_with(normalizer={"type": "Prepend", "prepend": 7})),
                        ["tokenizer.json", "prepend"]),
            "pooling": (pool, ["pooling_mode_mean_tokens"]),
            "modules": (modules, ["modules.json", "path"]),
            "truncated-json": (with_tokenizer(b'{"model": {"type": "WordPiece", "vocab": {"a": 1'),
                               ["tokenizer.json"]),
        })


if __name__ == "__main__":
    unittest.main()
