"""modelbake-verify against planted files (issue 10 item 5): only regular files inside ROOT are
opened, a FIFO never hangs it, links out of ROOT are refused, a model folder outside ROOT is not
ready, and files read by fixed name but absent from the lock are reported as unverified."""

import json
import os
import shutil
import unittest

import mbcache
import mbtest
from test_modelbake_verify import VerifyBase, model_files, spec, write_flat, write_hub_bundle

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


if __name__ == "__main__":
    unittest.main()
