"""Fetch recovers what it can: a corrupted transfer is downloaded again, one failing file does
not keep the other models from being completed, and an inconsistent lock is refused.
(Mid-size files resuming after SIGKILL: test_fetch_resume.py.)"""

import json
import os
import unittest

from mbtest import (MbTestCase, RepoBuilder, pseudo_random_bytes, run_json, run_modelbake,
                    snapshot_path, write_manifest)

class Recovery(MbTestCase):
    def setUp(self):
        super().setUp()
        self.one = RepoBuilder("org/one")
        self.one.add_file("config.json", b'{"one": 1}\n' * 20)
        self.one.add_file("weights.bin", pseudo_random_bytes(150_000, seed=21), lfs=True)
        self.two = RepoBuilder("org/two")
        self.two.add_file("config.json", b'{"two": 2}\n' * 20)
        self.two.add_file("model.bin", pseudo_random_bytes(120_000, seed=22), lfs=True)
        self.hub = self.start_hub(self.one, self.two)
        self.cache = self.tmp.join("cache")
        write_manifest(self.tmp.join("modelbake.yaml"),
                       [{"repo": "org/one", "as": "one"}, {"repo": "org/two", "as": "two"}])

    def fetch_json(self, *extra):
        return run_json(["--cache", self.cache, "fetch", "--retries", "3"] + list(extra),
                        env=self.hub.env(), cwd=self.tmp.path)

    def object_path(self, sha):
        return os.path.join(self.cache, ".locks/modelbake/objects/sha256", sha[:2], sha[2:])

    def ref_path(self, repo_id):
        return os.path.join(self.cache, "models--" + repo_id.replace("/", "--"), "refs", "main")

    def assert_model_complete(self, repo):
        for path, f in repo.files_at().items():
            with open(snapshot_path(self.cache, repo.id, repo.head, path), "rb") as fh:
                self.assertEqual(fh.read(), f.data, path)
        with open(self.ref_path(repo.id)) as fh:
            self.assertEqual(fh.read(), repo.head)

    def assert_not_visible(self, repo, path):
        f = repo.files_at()[path]
        self.assertFalse(os.path.lexists(snapshot_path(self.cache, repo.id, repo.head, path)))
        self.assertFalse(os.path.exists(self.object_path(f.sha256)))
        blob = os.path.join(self.cache, "models--" + repo.id.replace("/", "--"), "blobs", f.sha256)
        self.assertFalse(os.path.lexists(blob))
        self.assertFalse(os.path.lexists(self.ref_path(repo.id)))
        self.assertEqual(os.listdir(os.path.join(self.cache, ".locks/modelbake/tmp")), [])

    # --- 11.1: a corrupted transfer is discarded and downloaded again ---

    def test_corrupted_transfers_are_downloaded_again(self):
        w = self.one.files_at()["weights.bin"]
        self.hub.set_faults([
            {"type": "corrupt", "match": "^/cdn/" + w.sha256, "count": 2},
            {"type": "corrupt", "match": "/org/two/resolve/.*/config.json$", "count": 1},
        ])
        p, doc = self.fetch_json()
        self.assertExit(p, 0)
        self.assert_model_complete(self.one)
        self.assert_model_complete(self.two)
        self.assertTrue(doc["ok"])
        self.assertEqual(doc["errors"], [])
        retries = [(r["repo"], r["path"], r["kind"], r["attempt"]) for r in doc["retries"]]
        self.assertEqual(sorted(retries), [("org/one", "weights.bin", "digest_mismatch", 2),
                                           ("org/one", "weights.bin", "digest_mismatch", 3),
                                           ("org/two", "config.json", "digest_mismatch", 2)])
        self.assertIn("downloading again from scratch", p.stderr)
        gets = [r for r in self.hub.cdn_requests() if w.sha256 in r["path"] and r["method"] == "GET"]
        self.assertEqual(len(gets), 3)
        self.assertTrue(all(r["range"] is None for r in gets))  # from scratch, never resumed
        self.assertGreaterEqual(doc["bytes"]["network"], 3 * w.size)

    def test_persistent_corruption_fails_with_nothing_visible(self):
        w = self.one.files_at()["weights.bin"]
        self.hub.set_faults([{"type": "corrupt", "match": "^/cdn/" + w.sha256, "count": -1}])
        p, doc = run_json(["--cache", self.cache, "fetch", "--retries", "2"], env=self.hub.env(),
                          cwd=self.tmp.path)
        self.assertExit(p, 1)
        self.assertFalse(doc["ok"])
        self.assertEqual(doc["error"]["exit_code"], 1)
        self.assertEqual([(e["repo"], e["path"], e["category"]) for e in doc["errors"]],
                         [("org/one", "weights.bin", "integrity")])
        self.assertEqual(len(doc["retries"]), 2)
        gets = [r for r in self.hub.cdn_requests() if w.sha256 in r["path"] and r["method"] == "GET"]
        self.assertEqual(len(gets), 3)  # --retries 2: three downloads
        self.assert_not_visible(self.one, "weights.bin")
        self.assert_model_complete(self.two)

    # --- 11.2: every model whose files all arrived is completed ---

    def check_partial_run(self, p, doc, code):
        self.assertExit(p, code)
        self.assertFalse(doc["ok"])
        self.assertEqual(doc["error"]["exit_code"], code)
        self.assertEqual({m["name"]: m["complete"] for m in doc["models"]}, {"one": True, "two": False})
        self.assertEqual([(e["model"], e["repo"], e["path"]) for e in doc["errors"]],
                         [("two", "org/two", "model.bin")])
        self.assertIn("org/two: model.bin", doc["error"]["message"])
        self.assert_model_complete(self.one)
        self.assertFalse(os.path.lexists(self.ref_path("org/two")))
        # the re-run downloads only what is missing
        self.hub.clear_faults()
        self.hub.reset()
        p2, doc2 = self.fetch_json("--locked")
        self.assertExit(p2, 0)
        self.assert_model_complete(self.one)
        self.assert_model_complete(self.two)
        self.assertEqual(doc2["files"]["downloaded"], 1)
        paths = [r["path"] for r in self.hub.requests()]
        m = self.two.files_at()["model.bin"]
        self.assertTrue(paths, "the re-run made no request")
        self.assertTrue(all(p.endswith("/org/two/resolve/%s/model.bin" % self.two.head)
                            or p.startswith("/cdn/" + m.sha256) for p in paths), paths)

    def test_file_not_found_leaves_other_models_complete(self):
        self.hub.set_faults([{"type": "status", "status": 404, "error_code": "EntryNotFound",
                              "match": "/org/two/resolve/.*/model.bin$", "count": -1}])
        p, doc = self.fetch_json()
        self.check_partial_run(p, doc, 3)

    def test_persistent_corruption_leaves_other_models_complete(self):
        m = self.two.files_at()["model.bin"]
        self.hub.set_faults([{"type": "corrupt", "match": "^/cdn/" + m.sha256, "count": -1}])
        p, doc = self.fetch_json()
        self.check_partial_run(p, doc, 1)

    def test_text_output_names_what_failed(self):
        self.hub.set_faults([{"type": "status", "status": 404, "error_code": "EntryNotFound",
                              "match": "/org/two/resolve/.*/model.bin$", "count": -1}])
        p = run_modelbake(["--cache", self.cache, "fetch", "--retries", "1"], env=self.hub.env(),
                          cwd=self.tmp.path)
        self.assertExit(p, 3)
        self.assertIn("failed: ", p.stderr)
        self.assertIn("org/two: model.bin", p.stderr)
        self.assertIn("not completed: two", p.stderr)
        self.assertIn("one: complete", p.stdout)

    # --- 10.6: one sha256 with two sizes in a lock ---

    def test_lock_with_one_sha256_and_two_sizes_is_refused(self):
        self.assertExit(run_modelbake(["--cache", self.cache, "lock"], env=self.hub.env(),
                                      cwd=self.tmp.path), 0)
        lock_path = self.tmp.join("modelbake.lock")
        with open(lock_path) as f:
            lock = json.load(f)
        w = self.one.files_at()["weights.bin"]
        victim = next(f for f in lock["models"][1]["files"] if f["path"] == "model.bin")
        victim.update({"sha256": w.sha256, "etag": w.sha256, "size": 10})
        with open(lock_path, "w") as f:
            json.dump(lock, f, indent=2)
        self.hub.reset()
        p, doc = run_json(["--cache", self.cache, "fetch", "--locked"], env=self.hub.env(),
                          cwd=self.tmp.path)
        self.assertExit(p, 2)
        self.assertEqual(doc["error"]["category"], "usage")
        self.assertIn("sha256 " + w.sha256, doc["error"]["message"])
        self.assertIn("inconsistent", doc["error"]["message"])
        self.assertEqual(self.hub.requests(), [])
        self.assertFalse(os.path.exists(self.object_path(w.sha256)))


if __name__ == "__main__":
    unittest.main()
