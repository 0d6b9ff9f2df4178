"""The helper library itself (tests/support/mbtest.py, mbcache.py, mbrepo.py and
tests/hub/mkdata.py): other tests trust make_cache() to write exactly what the store writes,
and tool_env() to keep a test from touching the user's real cache or token."""

import json
import os
import subprocess
import sys
import unittest

import test_testhub as base
from mbtest import (MbTestCase, RepoBuilder, TestHub, describe_tree, git_blob_sha1,
                    make_cache, manifest_text, run_binary, sha256_hex, snapshot_path,
                    source_dir, tool_env)

BIG = base.BIG
CONFIG = base.CONFIG
Client = base.Client


class TestToolEnv(MbTestCase):
    def test_scrubs_hf_variables_and_isolates_home(self):
        os.environ["HF_TOKEN"] = "hf_leak"
        os.environ["HUGGINGFACE_HUB_CACHE"] = "/nowhere"
        self.addCleanup(os.environ.pop, "HF_TOKEN")
        self.addCleanup(os.environ.pop, "HUGGINGFACE_HUB_CACHE")
        env = tool_env({"HF_ENDPOINT": "http://x", "PATH": None})
        self.assertNotIn("HF_TOKEN", env)
        self.assertNotIn("HUGGINGFACE_HUB_CACHE", env)
        self.assertNotIn("PATH", env)
        self.assertEqual(env["HF_ENDPOINT"], "http://x")
        self.assertIn("mbtest-hfhome", env["HF_HOME"])
        p = run_binary("/bin/sh", ["-c", 'printf "%s|%s" "$HF_TOKEN" "$HF_ENDPOINT"'],
                       env={"HF_TOKEN": "t1", "HF_ENDPOINT": "e1"})
        self.assertEqual((p.returncode, p.stdout), (0, "t1|e1"))

    def test_manifest_text(self):
        text = manifest_text([{"repo": "org/x", "revision": "refs/pr/1",
                               "include": ["*.json", "a b/"], "as": "x"}],
                             endpoint="http://127.0.0.1:1")
        self.assertEqual(text, 'version: 1\nendpoint: "http://127.0.0.1:1"\nmodels:\n'
                               '  - repo: "org/x"\n    revision: "refs/pr/1"\n'
                               '    include: ["*.json", "a b/"]\n    as: "x"\n')


class TestMkdata(MbTestCase):
    def test_cli_data_dir_is_served(self):
        data = self.tmp.join("hubdata")
        script = os.path.join(source_dir(), "tests", "hub", "mkdata.py")
        p = subprocess.run([sys.executable, "-B", script, data, "--demo", "--repo", "b/many",
                            "--many", "f/=3:10", "--repo", "b/big", "--random", "w.bin=2K:lfs",
                            "--gated", "--token", "tk"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        hub = TestHub(data_dir=data).start()
        self.addCleanup(hub.stop)
        c = Client(hub.url)
        self.addCleanup(c.close)
        resp, body = c.request("GET", "/b/many/resolve/main/f/0002.txt")
        self.assertEqual((resp.status, len(body)), (200, 10))
        self.assertEqual(c.request("HEAD", "/b/big/resolve/main/w.bin")[0].status, 401)
        resp, _ = c.request("HEAD", "/b/big/resolve/main/w.bin", {"Authorization": "Bearer tk"})
        self.assertEqual((resp.status, resp.getheader("X-Linked-Size")), (302, "2048"))
        resp, _ = c.request("HEAD", "/demo/tiny-model/resolve/main/model.safetensors")
        resp, body = c.request("GET", resp.getheader("Location"))
        header_len = int.from_bytes(body[:8], "little")
        header = json.loads(body[8:8 + header_len])
        self.assertEqual(header["dense.weight"]["shape"], [4, 4])
        self.assertEqual(len(body), 8 + header_len + 64)


class TestMakeCache(MbTestCase):
    def test_layout(self):
        repo = RepoBuilder("org/m").add_file("config.json", CONFIG)
        repo.add_file("sub/w.bin", BIG, lfs=True)
        cache = self.tmp.join("cache")
        lock = make_cache(cache, [repo], lock_path=self.tmp.join("modelbake.lock"), now=1000)
        commit = repo.head
        rdir = os.path.join(cache, "models--org--m")
        with open(os.path.join(rdir, "refs", "main"), "rb") as f:
            self.assertEqual(f.read(), commit.encode())
        link = os.path.join(rdir, "snapshots", commit, "sub", "w.bin")
        self.assertEqual(os.readlink(link), "../../../blobs/" + sha256_hex(BIG))
        link = snapshot_path(cache, "org/m", commit, "config.json")
        self.assertEqual(os.readlink(link), "../../blobs/" + git_blob_sha1(CONFIG))
        with open(link, "rb") as f:
            self.assertEqual(f.read(), CONFIG)
        obj = os.path.join(cache, ".locks", "modelbake", "objects", "sha256", sha256_hex(BIG)[:2],
                           sha256_hex(BIG)[2:])
        blob = os.path.join(rdir, "blobs", sha256_hex(BIG))
        self.assertEqual(os.stat(obj).st_ino, os.stat(blob).st_ino)
        self.assertEqual(os.stat(obj).st_mode & 0o777, 0o444)
        with open(self.tmp.join("modelbake.lock")) as f:
            text = f.read()
        self.assertEqual(json.loads(text), lock)
        self.assertEqual(list(lock["models"][0]), ["name", "repo", "type", "revision", "commit",
                                                   "include", "exclude", "files"])
        self.assertTrue(text.endswith("}\n"))
        self.assertIn('\n  "models": [\n', text)
        tree = describe_tree(cache)
        self.assertEqual(tree["models--org--m/refs/main"][0:2], ("file", 40))
        self.assertEqual(tree["models--org--m/snapshots/%s/config.json" % commit],
                         ("link", "../../blobs/" + git_blob_sha1(CONFIG)))
        self.assertEqual(tree["CACHEDIR.TAG"][0], "file")
        self.assertEqual(len([k for k in tree if k.startswith(".locks/modelbake/objects/sha256/")
                              and tree[k][0] == "file"]), 2)
        again = make_cache(cache, [repo], now=1000)  # idempotent
        self.assertEqual(again, lock)
        self.assertEqual(describe_tree(cache), tree)

    def test_dedup_across_repos_and_dict_models(self):
        cache = self.tmp.join("cache")
        lock = make_cache(cache, [
            {"repo": "a/one", "files": {"w.bin": (BIG, True), "c.json": CONFIG}},
            {"repo": "b/two", "type": "dataset", "as": "zeta", "revision": "v2",
             "files": {"x/w.bin": {"data": BIG, "lfs": True}}},
        ])
        self.assertEqual([m["name"] for m in lock["models"]], ["one", "zeta"])
        objects = [k for k, v in describe_tree(cache).items()
                   if k.startswith(".locks/modelbake/objects/") and v[0] == "file"]
        self.assertEqual(len(objects), 2)
        two = lock["models"][1]
        ref = os.path.join(cache, "datasets--b--two", "refs", "v2")
        with open(ref) as f:
            self.assertEqual(f.read(), two["commit"])
        self.assertEqual([f["path"] for f in lock["models"][0]["files"]], ["c.json", "w.bin"])


if __name__ == "__main__":
    unittest.main()
