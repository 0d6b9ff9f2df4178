"""Caches made before modelbake moved its private state from <cache>/.modelbake to
<cache>/.locks/modelbake (issue 11.8: hub cache scanners warn about .modelbake/) are migrated by
the first command that writes: one rename under the old layout's cache lock, objects keep their
inodes (so every blobs/ hard link stays valid), meta and resume state keep their bytes, and
nothing is downloaded again."""

import fcntl
import json
import os
import subprocess
import time
import unittest

from mbtest import (MbTestCase, RepoBuilder, describe_tree, make_cache, modelbake_bin, run_modelbake,
                    tool_env, write_manifest)

NEW = os.path.join(".locks", "modelbake")
OLD = ".modelbake"


def tiny():
    rb = RepoBuilder("org/tiny")
    rb.add_file("config.json", b'{"hidden_size": 8}')
    rb.add_file("model.safetensors", b"\x07" * 20_000, lfs=True)
    rb.commit("init")
    return rb


class MigrationCase(MbTestCase):
    def setUp(self):
        super().setUp()
        self.rb = tiny()
        self.make_project([{"builder": self.rb, "as": "tiny"}])
        write_manifest(self.manifest, [{"repo": "org/tiny", "as": "tiny"}])
        # The old layout, made by moving the new one back where older versions kept it.
        os.rename(os.path.join(self.cache, NEW), os.path.join(self.cache, OLD))
        os.rmdir(os.path.join(self.cache, ".locks"))
        with open(os.path.join(self.cache, OLD, "tmp", "abc.partial.json"), "w") as f:
            f.write('{"resume": "state"}')
        self.old_tree = describe_tree(os.path.join(self.cache, OLD), skip=("locks",))
        self.inodes = self.object_inodes(OLD)

    def object_inodes(self, private):
        out = {}
        root = os.path.join(self.cache, private, "objects", "sha256")
        for dirpath, _, names in os.walk(root):
            for n in names:
                out[os.path.relpath(os.path.join(dirpath, n), root)] = os.stat(os.path.join(dirpath, n)).st_ino
        return out

    def assertMigrated(self):
        self.assertFalse(os.path.lexists(os.path.join(self.cache, OLD)))
        new_tree = describe_tree(os.path.join(self.cache, NEW), skip=("locks",))
        for rel, desc in self.old_tree.items():  # everything moved, bytes and modes intact
            if rel.startswith("meta/") and desc[0] == "file":  # fetch rewrites the times
                with open(os.path.join(self.cache, NEW, rel)) as f:
                    self.assertEqual(json.load(f)["commit"], self.lock["models"][0]["commit"], rel)
                continue
            self.assertEqual(new_tree.get(rel), desc, rel)
        self.assertEqual(self.object_inodes(NEW), self.inodes)
        for f in self.lock["models"][0]["files"]:
            blob = os.path.join(self.cache, "models--org--tiny", "blobs", f["etag"])
            obj = os.path.join(self.cache, NEW, "objects", "sha256", f["sha256"][:2], f["sha256"][2:])
            self.assertEqual(os.stat(blob).st_ino, os.stat(obj).st_ino)

    def mb(self, *args, env=None):
        return run_modelbake(["--cache", self.cache] + list(args), cwd=self.project, env=env)


class TestMigration(MigrationCase):
    def test_fetch_migrates_without_a_request(self):
        hub = self.start_hub(self.rb)
        proc = self.mb("fetch", "--locked", env=hub.env())
        self.assertExit(proc, 0)
        self.assertMigrated()
        self.assertEqual(hub.requests(), [])
        self.assertExit(self.mb("verify"), 0)

    def test_gc_migrates_and_keeps_everything_referenced(self):
        proc = self.mb("gc")
        self.assertExit(proc, 0)
        self.assertMigrated()
        self.assertExit(self.mb("verify"), 0)

    def test_waits_for_an_older_writer_holding_the_old_lock(self):
        with open(os.path.join(self.cache, OLD, "locks", "cache.lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)  # an older modelbake in the middle of a fetch
            proc = subprocess.Popen([modelbake_bin(), "--cache", self.cache, "gc"], cwd=self.project,
                                    env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(0.5)
            self.assertTrue(os.path.isdir(os.path.join(self.cache, OLD)))
            self.assertFalse(os.path.exists(os.path.join(self.cache, NEW)))
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertMigrated()

    def test_read_only_commands_leave_the_old_layout_alone(self):
        self.assertExit(self.mb("verify"), 0)
        self.assertExit(self.mb("ls"), 0)
        self.assertTrue(os.path.isdir(os.path.join(self.cache, OLD)))
        self.assertFalse(os.path.exists(os.path.join(self.cache, ".locks")))


if __name__ == "__main__":
    unittest.main()
