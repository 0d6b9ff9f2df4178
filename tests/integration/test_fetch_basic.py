"""modelbake lock + fetch against the test hub: the lock's bytes, the cache layout byte for
byte, --locked behaviours, offline resolution and zero requests on a complete cache."""

import json
import os
import unittest

from mbtest import (MbTestCase, RepoBuilder, describe_tree, make_cache, pseudo_random_bytes,
                    run_json, run_modelbake, sha256_hex, git_blob_sha1, snapshot_path,
                    write_manifest)

META = ".locks/modelbake/meta"


def tiny_repo(name="org/tiny"):
    r = RepoBuilder(name)
    r.add_file("config.json", b'{"hidden_size": 8}\n')
    r.add_file("README.md", b"# tiny\n")
    r.add_file("1_Pooling/config.json", b'{"pooling": "mean"}\n')
    r.add_file("model.safetensors", pseudo_random_bytes(300_000, seed=1), lfs=True)
    r.add_file("onnx/model.onnx", pseudo_random_bytes(5000, seed=2), lfs=True)
    r.add_file("empty.txt", b"")
    return r


class FetchBasics(MbTestCase):
    def setUp(self):
        super().setUp()
        self.repo = tiny_repo()
        self.hub = self.start_hub(self.repo)
        self.cache = self.tmp.join("cache")
        self.manifest = self.tmp.join("modelbake.yaml")
        write_manifest(self.manifest, [{"repo": "org/tiny", "exclude": ["onnx/*"], "as": "tiny"}])

    def mb(self, *args, env=None):
        e = dict(self.hub.env())
        e.update(env or {})
        return run_modelbake(["--cache", self.cache] + list(args), env=e, cwd=self.tmp.path)

    def test_lock_then_fetch_matches_reference_layout(self):
        p = self.mb("lock")
        self.assertExit(p, 0)
        self.hub.reset()
        p = self.mb("fetch", "--locked")
        self.assertExit(p, 0)
        # The lock is byte-identical to the reference serialisation of the same files.
        ref_cache, ref_lock = self.tmp.join("ref"), self.tmp.join("ref.lock")
        make_cache(ref_cache, [{"builder": self.repo, "revision": "main", "as": "tiny",
                                "exclude": ["onnx/*"],
                                "paths": sorted(p for p in self.repo.files_at()
                                                if not p.startswith("onnx/"))}],
                   lock_path=ref_lock)
        with open(self.tmp.join("modelbake.lock"), "rb") as a, open(ref_lock, "rb") as b:
            self.assertEqual(a.read(), b.read())
        got = {k: v for k, v in describe_tree(self.cache).items() if not k.startswith(META)}
        want = {k: v for k, v in describe_tree(ref_cache).items() if not k.startswith(META)}
        self.assertEqual(got, want)
        rd = os.path.join(self.cache, "models--org--tiny")
        self.assertFalse(os.path.exists(os.path.join(rd, "trees")))
        with open(os.path.join(rd, "refs", "main"), "rb") as f:
            self.assertEqual(f.read(), self.repo.head.encode())
        # blobs are hard links of the objects
        for path, f in self.repo.files_at().items():
            if path.startswith("onnx/"):
                continue
            blob = os.path.join(rd, "blobs", f.etag)
            obj = os.path.join(self.cache, ".locks/modelbake/objects/sha256", f.sha256[:2], f.sha256[2:])
            self.assertEqual(os.stat(blob).st_ino, os.stat(obj).st_ino)
        # nothing left in tmp/
        self.assertEqual(os.listdir(os.path.join(self.cache, ".locks/modelbake/tmp")), [])

    def test_fetch_without_lock_locks_and_json_counts(self):
        p, doc = run_json(["--cache", self.cache, "fetch"], env=self.hub.env(), cwd=self.tmp.path)
        self.assertExit(p, 0)
        self.assertTrue(doc["ok"])
        self.assertEqual(doc["models"][0]["commit"], self.repo.head)
        self.assertEqual(doc["files"]["total"], 5)
        self.assertEqual(doc["files"]["downloaded"], 5)
        self.assertTrue(os.path.exists(self.tmp.join("modelbake.lock")))
        # second run: everything reused, no request at all
        self.hub.reset()
        p, doc = run_json(["--cache", self.cache, "fetch", "--locked"], env=self.hub.env(),
                          cwd=self.tmp.path)
        self.assertExit(p, 0)
        self.assertEqual(doc["files"]["reused"], 5)
        self.assertEqual(doc["files"]["downloaded"], 0)
        self.assertEqual(self.hub.requests(), [])

    def test_second_locked_fetch_makes_no_request_even_with_hub_gone(self):
        self.assertExit(self.mb("fetch"), 0)
        self.hub.reset()
        self.assertExit(self.mb("fetch", "--locked"), 0)
        self.assertEqual(self.hub.requests(), [])
        p = self.mb("fetch", "--locked", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
        self.assertExit(p, 0)

    def test_locked_without_lock_is_usage_error(self):
        p = self.mb("fetch", "--locked")
        self.assertExit(p, 2)
        self.assertIn("modelbake lock", p.stderr)
        self.assertEqual(self.hub.requests(), [])

    def test_locked_with_stale_lock_is_usage_error(self):
        self.assertExit(self.mb("lock"), 0)
        write_manifest(self.manifest, [{"repo": "org/tiny", "as": "tiny"}])  # exclude dropped
        p = self.mb("fetch", "--locked")
        self.assertExit(p, 2)
        self.assertIn("modelbake lock", p.stderr)
        # without --locked the lock is renewed and the onnx file comes along
        self.assertExit(self.mb("fetch"), 0)
        with open(self.tmp.join("modelbake.lock")) as f:
            self.assertIn("onnx/model.onnx", f.read())

    def test_locked_digest_is_enforced(self):
        self.assertExit(self.mb("lock"), 0)
        lock_path = self.tmp.join("modelbake.lock")
        with open(lock_path) as f:
            doc = json.load(f)
        for f in doc["models"][0]["files"]:
            if f["path"] == "config.json":
                f["sha256"] = "0" * 64
        with open(lock_path, "w") as f:
            json.dump(doc, f, indent=2)
        p = self.mb("fetch", "--locked")
        self.assertExit(p, 1)
        self.assertIn("config.json", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.cache, ".locks/modelbake/objects/sha256/00")))
        self.assertFalse(os.path.lexists(snapshot_path(self.cache, "org/tiny", self.repo.head,
                                                       "config.json")))

    def test_offline_resolution_like_huggingface_hub(self):
        self.assertExit(self.mb("fetch"), 0)
        rd = os.path.join(self.cache, "models--org--tiny")
        with open(os.path.join(rd, "refs", "main")) as f:
            commit = f.read()  # read without strip, as huggingface_hub does
        for path, rf in self.repo.files_at().items():
            if path.startswith("onnx/"):
                continue
            p = os.path.join(rd, "snapshots", commit, path)
            self.assertTrue(os.path.isfile(p), path)
            with open(p, "rb") as f:
                self.assertEqual(f.read(), rf.data)

    def test_revision_tag_and_commit(self):
        old = self.repo.head
        self.repo.tag("v1")
        self.repo.add_file("config.json", b'{"hidden_size": 16}\n')
        new = self.repo.commit("bump")
        self.hub.update([self.repo])
        write_manifest(self.manifest, [
            {"repo": "org/tiny", "revision": "v1", "include": ["*.json"], "as": "old"},
            {"repo": "org/tiny", "revision": new, "include": ["config.json"], "as": "new"}])
        self.assertExit(self.mb("fetch"), 0)
        rd = os.path.join(self.cache, "models--org--tiny")
        with open(os.path.join(rd, "refs", "v1")) as f:
            self.assertEqual(f.read(), old)
        self.assertFalse(os.path.exists(os.path.join(rd, "refs", new)))
        with open(os.path.join(rd, "snapshots", new, "config.json"), "rb") as f:
            self.assertEqual(f.read(), b'{"hidden_size": 16}\n')
        self.assertTrue(os.path.isfile(os.path.join(rd, "snapshots", old, "1_Pooling/config.json")))

    def test_endpoint_precedence(self):
        # --endpoint beats HF_ENDPOINT, which beats the manifest.
        write_manifest(self.manifest, [{"repo": "org/tiny", "include": ["*.md"]}],
                       endpoint="http://127.0.0.1:9")
        p = self.mb("lock", "--retries", "0", env={"HF_ENDPOINT": None})
        self.assertExit(p, 3)
        self.assertExit(self.mb("lock"), 0)  # HF_ENDPOINT wins over the manifest
        p = self.mb("lock", "--retries", "0", "--endpoint", "http://127.0.0.1:9")
        self.assertExit(p, 3)
        p = run_modelbake(["--endpoint", self.hub.url, "--cache", self.cache, "lock"],
                          env={"HF_ENDPOINT": "http://127.0.0.1:9"}, cwd=self.tmp.path)
        self.assertExit(p, 0)

    def test_no_matching_files_is_manifest_error(self):
        write_manifest(self.manifest, [{"repo": "org/tiny", "include": ["*.nothing"]}])
        p = self.mb("lock")
        self.assertExit(p, 2)
        self.assertIn("*.nothing", p.stderr)

    def test_unknown_repo_and_revision(self):
        write_manifest(self.manifest, [{"repo": "org/absent"}])
        p = self.mb("lock")
        self.assertIn(p.returncode, (3, 4), p.stderr)
        write_manifest(self.manifest, [{"repo": "org/tiny", "revision": "nope"}])
        p = self.mb("lock")
        self.assertExit(p, 3)
        self.assertIn("nope", p.stderr)


if __name__ == "__main__":
    unittest.main()
