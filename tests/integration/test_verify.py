"""modelbake verify / status through the binary: the corruption matrix on caches written by
make_cache (no fetch involved), --repair (local relinking, and re-fetching damaged content
from the test hub), --fast, --json, and verify inside a network namespace."""

import json
import os
import shutil
import subprocess
import unittest

from mbtest import (MbTestCase, RepoBuilder, make_cache, modelbake_bin, repo_dir, run_json,
                    run_modelbake, snapshot_path, tool_env, write_manifest)

REPO = "org/mini"


def build_repo():
    rb = RepoBuilder(REPO)
    rb.add_file("config.json", b'{"hidden_size": 8}')
    rb.add_file("model.safetensors", bytes(range(256)) * 64, lfs=True)
    rb.add_file("sub/vocab.txt", b"[PAD]\n[UNK]\nhello\n")
    rb.commit("init")
    return rb


class VerifyCase(MbTestCase):
    def setUp(self):
        super().setUp()
        self.rb = build_repo()
        self.make_project([self.rb])
        write_manifest(self.manifest, [{"repo": REPO, "as": "mini"}])
        self.commit = self.lock["models"][0]["commit"]
        self.files = {f["path"]: f for f in self.lock["models"][0]["files"]}

    def mb(self, *args, env=None):
        return run_modelbake(["--cache", self.cache] + list(args), cwd=self.project, env=env)

    def verify_json(self, *args):
        proc, doc = run_json(["--cache", self.cache, "verify"] + list(args), cwd=self.project)
        self.assertIsNotNone(doc, proc.stderr)
        return proc, doc

    def snap(self, path):
        return snapshot_path(self.cache, REPO, self.commit, path)

    def blob(self, path):
        return os.path.join(repo_dir(self.cache, REPO), "blobs", self.files[path]["etag"])

    def ref(self):
        return os.path.join(repo_dir(self.cache, REPO), "refs", "main")

    def rewrite(self, path, data):
        os.chmod(path, 0o644)
        with open(path, "r+b") as f:
            f.write(data)


class TestVerifyReady(VerifyCase):
    def test_ready_cache_exits_0_and_ends_with_the_runtime_environment(self):
        proc = self.mb("verify")
        self.assertExit(proc, 0)
        lines = proc.stdout.strip().splitlines()
        self.assertEqual(lines[-2:], ["  HF_HUB_CACHE=" + os.path.abspath(self.cache), "  HF_HUB_OFFLINE=1"])
        proc, doc = self.verify_json()
        self.assertExit(proc, 0)
        self.assertTrue(doc["ok"])
        self.assertEqual(doc["mode"], "full")
        total = sum(f["size"] for f in self.files.values())
        self.assertEqual(doc["bytes_hashed"], total)
        self.assertEqual(doc["findings"], [])
        self.assertEqual(doc["environment"], {"HF_HUB_CACHE": os.path.abspath(self.cache), "HF_HUB_OFFLINE": "1"})

    def test_fast_does_not_read_content(self):
        self.rewrite(self.blob("model.safetensors"), b"\xff")
        proc, doc = self.verify_json("--fast")
        self.assertExit(proc, 0)
        self.assertEqual(doc["mode"], "fast")
        self.assertEqual(doc["bytes_hashed"], 0)
        self.assertExit(self.mb("verify"), 1)

    def test_missing_lock_is_a_usage_error(self):
        os.unlink(os.path.join(self.project, "modelbake.lock"))
        proc = self.mb("verify")
        self.assertExit(proc, 2)
        self.assertIn("modelbake lock", proc.stderr)

    def test_verify_without_network_namespace_access(self):
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest("unshare -n is not permitted here: %s" % probe.stderr.decode().strip())
        proc = subprocess.run(["unshare", "-n", modelbake_bin(), "--cache", self.cache, "verify"],
                              cwd=self.project, env=tool_env(), capture_output=True, text=True)
        self.assertExit(proc, 0)
        self.assertIn("HF_HUB_OFFLINE=1", proc.stdout)


class TestCorruptionMatrix(VerifyCase):
    """Each damage gives exactly the right finding and exit 1; --repair makes verify pass."""

    def damage(self, case):
        if case == "flip_byte":
            self.rewrite(self.blob("model.safetensors"), b"\x07")
        elif case == "truncate":
            os.chmod(self.blob("model.safetensors"), 0o644)
            os.truncate(self.blob("model.safetensors"), 10)
        elif case == "delete_blob":
            os.unlink(self.blob("config.json"))
        elif case == "delete_link":
            os.unlink(self.snap("sub/vocab.txt"))
        elif case == "escaping_link":
            outside = self.tmp.join("outside.json")
            with open(outside, "wb") as f:
                f.write(b'{"hidden_size": 8}')
            os.unlink(self.snap("config.json"))
            os.symlink(outside, self.snap("config.json"))
        elif case == "ref_newline":
            with open(self.ref(), "w") as f:
                f.write(self.commit + "\n")
        elif case == "ref_other_commit":
            with open(self.ref(), "w") as f:
                f.write("0" * 40)
        elif case == "ref_removed":
            os.unlink(self.ref())
        elif case == "stale_trees":
            trees = os.path.join(repo_dir(self.cache, REPO), "trees", self.commit + ".json")
            os.makedirs(os.path.dirname(trees), exist_ok=True)
            with open(trees, "w") as f:
                json.dump({"format_version": 1, "files": {"config.json": {"size": 1},
                                                          "pytorch_model.bin": {"size": 1}}}, f)

    EXPECTED = {
        "flip_byte": ("digest_mismatch", "model.safetensors"),
        "truncate": ("size_mismatch", "model.safetensors"),
        "delete_blob": ("dangling_link", "config.json"),
        "delete_link": ("missing_file", "sub/vocab.txt"),
        "escaping_link": ("escaping_link", "config.json"),
        "ref_newline": ("ref_newline", ""),
        "ref_other_commit": ("wrong_ref", ""),
        "ref_removed": ("missing_ref", ""),
        "stale_trees": ("stale_trees_file", ""),
    }

    def check_case(self, case, hub=None):
        self.damage(case)
        kind, path = self.EXPECTED[case]
        proc, doc = self.verify_json()
        self.assertExit(proc, 1)
        self.assertFalse(doc["ok"])
        self.assertEqual([(f["kind"], f["path"]) for f in doc["findings"]], [(kind, path)], case)
        finding = doc["findings"][0]
        self.assertEqual(finding["model"], "mini")
        self.assertTrue(finding["message"])
        if kind == "digest_mismatch":
            self.assertEqual(finding["expected"], self.files["model.safetensors"]["sha256"])
            self.assertNotEqual(finding["actual"], finding["expected"])
        if kind == "wrong_ref":
            self.assertEqual((finding["expected"], finding["actual"]), (self.commit, "0" * 40))
        human = self.mb("verify")
        self.assertExit(human, 1)
        self.assertIn("modelbake fetch --locked", human.stdout)

        env = hub.env() if hub else None
        repair = self.mb("verify", "--repair", env=env)
        self.assertExit(repair, 0)
        self.assertExit(self.mb("verify"), 0)
        with open(self.snap("model.safetensors"), "rb") as f:
            self.assertEqual(f.read(), bytes(range(256)) * 64)

    def test_layout_damage_is_repaired_without_network(self):
        for case in ["delete_blob", "delete_link", "escaping_link", "ref_newline",
                     "ref_other_commit", "ref_removed", "stale_trees"]:
            with self.subTest(case=case):
                shutil.rmtree(self.cache)
                make_cache(self.cache, [self.rb])
                self.check_case(case)

    def test_content_damage_is_repaired_by_refetching_only_the_damaged_file(self):
        hub = self.start_hub(self.rb)
        for case in ["flip_byte", "truncate"]:
            with self.subTest(case=case):
                shutil.rmtree(self.cache)
                make_cache(self.cache, [self.rb])
                hub.reset()
                self.check_case(case, hub)
                requests = hub.requests()
                self.assertTrue(requests, "repair should download the damaged file")
                intact = [r for r in requests if "config.json" in r["path"] or "vocab.txt" in r["path"]]
                self.assertEqual(intact, [], "intact files must not be downloaded again")

    def test_repair_honours_retries(self):
        # verify --repair downloads with the same hub set-up as fetch, --retries included.
        hub = self.start_hub(self.rb)
        for retries, code in [("0", 3), ("1", 0)]:
            with self.subTest(retries=retries):
                shutil.rmtree(self.cache)
                make_cache(self.cache, [self.rb])
                self.damage("flip_byte")
                hub.set_faults([{"type": "status", "status": 503, "match": "model.safetensors", "count": 1}])
                repair = self.mb("verify", "--repair", "--retries", retries, env=hub.env())
                self.assertExit(repair, code)
                self.assertExit(self.mb("verify"), 1 if code else 0)


class TestAfterRealFetch(MbTestCase):
    def test_fetch_from_the_test_hub_then_verify_offline(self):
        rb = build_repo()
        hub = self.start_hub(rb)
        cache = self.tmp.join("cache")
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": REPO, "as": "mini"}])
        fetch = run_modelbake(["--cache", cache, "fetch"], env=hub.env(), cwd=self.tmp.path)
        self.assertExit(fetch, 0)
        hub.stop()  # nothing below may need the network
        proc, doc = run_json(["--cache", cache, "verify"], cwd=self.tmp.path)
        self.assertExit(proc, 0)
        self.assertEqual(doc["models"][0]["files_ok"], 3)
        self.assertEqual(doc["bytes_hashed"], sum(f.size for f in rb.files_at("main").values()))


class TestStatus(VerifyCase):
    def status(self):
        proc, doc = run_json(["--cache", self.cache, "status"], cwd=self.project)
        self.assertIsNotNone(doc, proc.stderr)
        return proc, doc

    def test_states(self):
        proc, doc = self.status()
        self.assertExit(proc, 0)
        m = doc["models"][0]
        self.assertEqual((m["name"], m["repo"], m["revision"], m["commit"], m["state"]),
                         ("mini", REPO, "main", self.commit, "ready"))
        self.assertEqual(m["files"], 3)
        self.assertEqual(m["bytes"], sum(f["size"] for f in self.files.values()))
        self.assertIsInstance(m["fetched_at"], int)

        os.chmod(self.blob("model.safetensors"), 0o644)
        os.truncate(self.blob("model.safetensors"), 3)
        proc, doc = self.status()
        self.assertExit(proc, 1)
        self.assertEqual(doc["models"][0]["state"], "corrupt")

        shutil.rmtree(repo_dir(self.cache, REPO))
        proc, doc = self.status()
        self.assertEqual(doc["models"][0]["state"], "missing")

        write_manifest(os.path.join(self.project, "modelbake.yaml"),
                       [{"repo": REPO, "as": "mini", "revision": "v2"}])
        proc, doc = self.status()
        self.assertEqual(doc["models"][0]["state"], "stale-lock")


class TestPlantedFifos(VerifyCase):
    """A FIFO where a file belongs (a shared cache, a hostile bundle) would block open(2)
    forever; every command must refuse it at once. The subprocess timeout is only a hang guard."""

    def plant_fifo(self, path):
        if os.path.lexists(path):
            os.remove(path)
        os.mkfifo(path)

    def test_fifo_as_the_lock(self):
        lock = os.path.join(self.project, "modelbake.lock")
        self.plant_fifo(lock)
        for cmd in (["verify"], ["status"], ["fetch", "--locked"]):
            proc = run_modelbake(["--cache", self.cache] + cmd, cwd=self.project, timeout=60)
            self.assertNotEqual(proc.returncode, 0, cmd)
            self.assertIn("not a regular file (a FIFO)", proc.stderr, cmd)

    def test_fifo_as_a_ref_makes_the_cache_not_ready(self):
        self.plant_fifo(self.ref())
        proc = run_modelbake(["--cache", self.cache, "verify"], cwd=self.project, timeout=60)
        self.assertExit(proc, 1)


if __name__ == "__main__":
    unittest.main()
