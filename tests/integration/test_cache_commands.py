"""ls, du, gc, rm through the binary on caches written by make_cache, and gc racing a writer
that holds the cache lock shared (as fetch/import/pull do) while it adds a model."""

import fcntl
import json
import os
import subprocess
import time
import unittest

from mbtest import (MbTestCase, RepoBuilder, make_cache, modelbake_bin, repo_dir, run_json,
                    run_modelbake, tool_env, write_manifest)

DAY = 86400


def repo(name, payload, extra=b""):
    rb = RepoBuilder("org/" + name)
    rb.add_file("config.json", b'{"name": "%s"}' % name.encode())
    rb.add_file("model.safetensors", payload, lfs=True)
    if extra:
        rb.add_file("extra.bin", extra, lfs=True)
    rb.commit("init")
    return rb


class CacheCase(MbTestCase):
    def setUp(self):
        super().setUp()
        self.cache = self.tmp.join("cache")
        self.project = self.tmp.join("project")
        os.makedirs(self.project)
        now = int(time.time())
        shared = b"S" * 200_000
        # "old" was used long ago, "twin" shares its weights with "new".
        self.old = make_cache(self.cache, [{"builder": repo("old", b"O" * 300_000), "as": "old"}], now=now - 30 * DAY)
        self.new = make_cache(self.cache, [{"builder": repo("new", shared), "as": "new"}], now=now - DAY)
        self.twin = make_cache(self.cache, [{"builder": repo("twin", shared, b"T" * 1000), "as": "twin"}], now=now - 2 * DAY)

    def mb(self, *args):
        return run_modelbake(["--cache", self.cache] + list(args), cwd=self.project)

    def json(self, *args):
        proc, doc = run_json(["--cache", self.cache] + list(args), cwd=self.project)
        self.assertIsNotNone(doc, proc.stdout + proc.stderr)
        return proc, doc

    def write_lock(self, name, *locks):
        path = os.path.join(self.project, name)
        from mbtest import serialize_lock
        models = [m for l in locks for m in l["models"]]
        with open(path, "w") as f:
            f.write(serialize_lock({"version": 1, "models": sorted(models, key=lambda m: m["name"])}))
        return path

    def verify(self, *locks):
        path = self.write_lock("check.lock", *locks)
        return self.mb("verify", "--lock", path)


class TestLsDu(CacheCase):
    def test_ls_lists_revisions_with_sizes_and_pins(self):
        self.write_lock("modelbake.lock", self.new)
        write_manifest(os.path.join(self.project, "modelbake.yaml"), [{"repo": "org/new", "as": "new"}])
        proc, doc = self.json("ls")
        self.assertExit(proc, 0)
        self.assertEqual([r["repo"] for r in doc["repos"]], ["org/new", "org/old", "org/twin"])
        new = doc["repos"][0]["revisions"][0]
        m = self.new["models"][0]
        self.assertEqual((new["commit"], new["refs"], new["files"]), (m["commit"], ["main"], 2))
        self.assertEqual(new["bytes"], sum(f["size"] for f in m["files"]))
        self.assertEqual(len(new["pinned_by"]), 1)
        self.assertEqual(doc["repos"][1]["revisions"][0]["pinned_by"], [])
        human = self.mb("ls")
        self.assertExit(human, 0)
        self.assertIn("org/old", human.stdout)

    def test_du_counts_shared_content_once(self):
        proc, doc = self.json("du")
        self.assertExit(proc, 0)
        content = 300_000 + 200_000 + 1000
        self.assertGreaterEqual(doc["apparent_bytes"], content)
        self.assertLess(doc["apparent_bytes"], content + 200_000)  # shared weights not twice
        self.assertGreaterEqual(doc["linked_bytes"], 2 * content + 200_000)


class TestGcRm(CacheCase):
    def test_gc_dry_run_then_max_size_evicts_lru_unpinned(self):
        keep = self.write_lock("keep.lock", self.twin)
        proc, dry = self.json("gc", "--dry-run", "--max-size", "100K", "--keep-manifest", keep)
        self.assertExit(proc, 0)
        evicted = [a["repo"] for a in dry["actions"] if a["kind"] == "evict_revision"]
        self.assertEqual(evicted, ["org/old", "org/new"])  # least recently used first; twin pinned
        self.assertExit(self.verify(self.old), 0)  # dry run changed nothing

        proc, real = self.json("gc", "--max-size", "100K", "--keep-manifest", keep)
        self.assertExit(proc, 0)
        self.assertEqual([a["kind"] for a in real["actions"]], [a["kind"] for a in dry["actions"]])
        self.assertFalse(real["limit_reached"])  # twin alone is above 100K
        self.assertExit(self.verify(self.twin), 0)
        self.assertExit(self.verify(self.old), 1)
        self.assertFalse(os.path.exists(repo_dir(self.cache, "org/old")))

    def test_gc_sweeps_only_old_temp_files(self):
        tmp = os.path.join(self.cache, ".locks", "modelbake", "tmp")
        old, fresh = os.path.join(tmp, "old.tmp"), os.path.join(tmp, "fresh.tmp")
        incomplete = os.path.join(repo_dir(self.cache, "org/new"), "blobs", "abc.incomplete")
        for p in (old, fresh, incomplete):
            with open(p, "wb") as f:
                f.write(b"partial")
        two_days_ago = time.time() - 2 * DAY
        os.utime(old, (two_days_ago, two_days_ago))
        os.utime(incomplete, (two_days_ago, two_days_ago))
        self.assertExit(self.mb("gc"), 0)
        self.assertTrue(os.path.exists(fresh))
        self.assertFalse(os.path.exists(old))
        self.assertFalse(os.path.exists(incomplete))
        self.assertExit(self.verify(self.old, self.new, self.twin), 0)

    def test_rm_revision_and_repo(self):
        self.assertExit(self.mb("rm", "org/new@main"), 0)
        self.assertExit(self.verify(self.new), 1)
        self.assertExit(self.verify(self.twin), 0)  # shared weights survive
        self.assertExit(self.mb("rm", "org/old"), 0)
        self.assertFalse(os.path.exists(repo_dir(self.cache, "org/old")))
        proc = self.mb("rm", "org/absent")
        self.assertExit(proc, 2)
        self.assertIn("modelbake ls", proc.stderr)
        self.assertExit(self.mb("rm", "org/twin@nope"), 2)
        self.assertExit(self.mb("rm", "../etc"), 2)


class TestGcRace(CacheCase):
    def test_gc_waits_for_a_writer_and_loses_nothing(self):
        lock_file = os.path.join(self.cache, ".locks", "modelbake", "locks", "cache.lock")
        os.makedirs(os.path.dirname(lock_file), exist_ok=True)
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # what fetch holds for its whole run
            gc = subprocess.Popen([modelbake_bin(), "--cache", self.cache, "gc"],
                                  env=tool_env(), cwd=self.project, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
            # The writer adds a model (objects, blobs, snapshot links, ref) while gc is queued.
            added = make_cache(self.cache, [{"builder": repo("added", b"A" * 50_000), "as": "added"}])
            self.assertIsNone(gc.poll(), "gc must wait for the shared lock")
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        out, err = gc.communicate(timeout=120)
        self.assertEqual(gc.returncode, 0, err)
        # Content adopted and linked while gc waited is referenced by then: nothing is lost.
        self.assertExit(self.verify(added, self.old, self.new, self.twin), 0)


class TestStatusAgreesWithFetchLocked(CacheCase):
    def test_lock_commit_differing_from_pinned_revision_is_stale_for_both(self):
        # The manifest pins a full commit; the lock claims that revision but records another
        # commit (a hand-edited or merged lock). fetch --locked refuses such a lock, so status
        # must not call the model ready.
        pinned = "ab" * 20
        lock = json.loads(json.dumps(self.new))
        lock["models"][0]["revision"] = pinned
        self.write_lock("modelbake.lock", lock)
        write_manifest(os.path.join(self.project, "modelbake.yaml"),
                       [{"repo": "org/new", "as": "new", "revision": pinned}])
        proc, doc = self.json("status")
        self.assertExit(proc, 1)
        self.assertEqual(doc["models"][0]["state"], "stale-lock")
        self.assertIn("locked commit differs from revision", doc["models"][0]["detail"])
        fetch = self.mb("fetch", "--locked")
        self.assertExit(fetch, 2)
        self.assertIn("locked commit differs from revision", fetch.stderr)


if __name__ == "__main__":
    unittest.main()
