"""A shared cache may hold planted symlinks (issue 10.1): a repo folder, its blobs/, snapshots/
or refs/, or modelbake's private folders pointing somewhere else. gc, rm and fetch must never
delete or write through them: the victim's files stay byte for byte, the link is named."""

import os
import shutil
import time
import unittest

from mbtest import (MbTestCase, RepoBuilder, describe_tree, make_cache, run_json, run_modelbake,
                    write_manifest)

DAY = 86400


def repo(name, payload):
    rb = RepoBuilder("org/" + name)
    rb.add_file("config.json", b'{"name": "%s"}' % name.encode())
    rb.add_file("model.safetensors", payload, lfs=True)
    rb.commit("init")
    return rb


class PlantedLinkCase(MbTestCase):
    def setUp(self):
        super().setUp()
        self.cache = self.tmp.join("cache")
        self.lock = make_cache(self.cache, [{"builder": repo("good", b"G" * 5000), "as": "good"}])
        self.victim = self.tmp.join("victim")
        # Old files that look like blobs, temps and snapshots to a careless walker.
        old = time.time() - 30 * DAY
        for rel, data in (("blobs/" + "a" * 40, b"precious"), ("snapshots/" + "b" * 40 + "/x.txt", b"x"),
                          ("important.txt", b"keep me"), ("old.tmp", b"old temp"), ("refs/main", b"c" * 40)):
            path = os.path.join(self.victim, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (old, old))
        self.before = describe_tree(self.victim)

    def mb(self, *args, **kw):
        return run_modelbake(["--cache", self.cache] + list(args), cwd=self.tmp.path, **kw)

    def assertVictimIntact(self):
        self.assertEqual(describe_tree(self.victim), self.before)

    def assertGoodModelIntact(self):
        proc = self.mb("verify", "--lock", self.write_lock())
        self.assertExit(proc, 0)

    def write_lock(self):
        from mbtest import serialize_lock
        path = self.tmp.join("good.lock")
        with open(path, "w") as f:
            f.write(serialize_lock(self.lock))
        return path


class TestGcSkipsPlantedLinks(PlantedLinkCase):
    def test_blobs_link_in_a_repo_is_reported_and_skipped(self):
        evil = os.path.join(self.cache, "models--evil--x")
        os.makedirs(os.path.join(evil, "snapshots"))
        os.symlink(os.path.join(self.victim, "blobs"), os.path.join(evil, "blobs"))
        proc = self.mb("gc")
        self.assertExit(proc, 0)
        self.assertIn("models--evil--x/blobs is a symbolic link", proc.stderr)
        self.assertVictimIntact()
        self.assertTrue(os.path.islink(os.path.join(evil, "blobs")))
        self.assertGoodModelIntact()

    def test_repo_folder_link_is_reported_and_skipped(self):
        os.symlink(self.victim, os.path.join(self.cache, "models--evil--y"))
        proc, doc = run_json(["--cache", self.cache, "gc"], cwd=self.tmp.path)
        self.assertExit(proc, 0)
        self.assertEqual(doc["actions"], [])
        self.assertEqual(len(doc["warnings"]), 1, doc)
        self.assertIn("models--evil--y is a symbolic link", doc["warnings"][0])
        self.assertVictimIntact()
        self.assertGoodModelIntact()

    def test_snapshots_and_refs_links_are_skipped(self):
        evil = os.path.join(self.cache, "models--evil--z")
        os.makedirs(os.path.join(evil, "blobs"))
        os.symlink(os.path.join(self.victim, "snapshots"), os.path.join(evil, "snapshots"))
        os.symlink(os.path.join(self.victim, "refs"), os.path.join(evil, "refs"))
        proc = self.mb("gc", "--max-size", "1")
        self.assertExit(proc, 0)
        self.assertIn("models--evil--z/", proc.stderr)
        self.assertVictimIntact()

    def test_private_tmp_link_is_refused(self):
        tmp = os.path.join(self.cache, ".locks", "modelbake", "tmp")
        os.rename(tmp, tmp + ".orig")
        os.symlink(self.victim, tmp)
        proc = self.mb("gc")
        self.assertExit(proc, 1)
        self.assertIn("is a symbolic link", proc.stderr)
        self.assertVictimIntact()


class TestRmRefusesPlantedLinks(PlantedLinkCase):
    def test_linked_repo_folder_is_refused(self):
        link = os.path.join(self.cache, "models--evil--victim")
        os.symlink(self.victim, link)
        proc = self.mb("rm", "evil/victim")
        self.assertExit(proc, 1)
        self.assertIn("models--evil--victim is a symbolic link", proc.stderr)
        self.assertVictimIntact()
        self.assertTrue(os.path.islink(link))

    def test_linked_blobs_folder_is_refused(self):
        evil = os.path.join(self.cache, "models--evil--w")
        os.makedirs(os.path.join(evil, "snapshots", "d" * 40))
        os.symlink(os.path.join(self.victim, "blobs"), os.path.join(evil, "blobs"))
        proc = self.mb("rm", "evil/w")
        self.assertExit(proc, 1)
        self.assertIn("models--evil--w/blobs is a symbolic link", proc.stderr)
        self.assertVictimIntact()
        self.assertGoodModelIntact()


class TestFetchRefusesPlantedLinks(PlantedLinkCase):
    def setUp(self):
        super().setUp()
        self.rb = repo("target", b"T" * 3000)
        self.hub = self.start_hub(self.rb)
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/target", "as": "target"}])

    def fetch(self):
        return run_modelbake(["--cache", self.cache, "fetch"], env=self.hub.env(), cwd=self.tmp.path)

    def test_blobs_link_is_refused(self):
        folder = os.path.join(self.cache, "models--org--target")
        os.makedirs(folder)
        os.symlink(os.path.join(self.victim, "blobs"), os.path.join(folder, "blobs"))
        proc = self.fetch()
        self.assertExit(proc, 1)
        self.assertIn("models--org--target/blobs is a symbolic link", proc.stderr)
        self.assertVictimIntact()

    def test_snapshot_subfolder_link_is_refused(self):
        self.assertExit(self.fetch(), 0)
        folder = os.path.join(self.cache, "models--org--target")
        snaps = os.path.join(folder, "snapshots")
        commit = os.listdir(snaps)[0]
        os.rename(os.path.join(snaps, commit), self.tmp.join("moved"))
        os.symlink(self.victim, os.path.join(snaps, commit))
        proc = self.fetch()
        self.assertExit(proc, 1)
        self.assertIn("is a symbolic link", proc.stderr)
        self.assertVictimIntact()

    def test_repo_folder_link_is_refused(self):
        os.symlink(self.victim, os.path.join(self.cache, "models--org--target"))
        proc = self.fetch()
        self.assertExit(proc, 1)
        self.assertIn("models--org--target is a symbolic link", proc.stderr)
        self.assertVictimIntact()


class TestIssue19Attacks(PlantedLinkCase):
    """The attacks of issue 19, each of which destroyed files outside the cache."""

    def victim_file(self):
        path = self.tmp.join("victim.bin")
        with open(path, "wb") as f:
            f.write(b"the user's own file")
        os.chmod(path, 0o644)
        return path

    def test_partial_link_is_never_written_truncated_or_chmodded(self):
        big = repo("big", bytes(range(256)) * (5 * 4096 + 7))  # > 4 MiB: a resumable partial
        hub = self.start_hub(big)
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/big", "as": "big"}])
        etag = [f for f in big.files_at().values() if f.path == "model.safetensors"][0].sha256
        victim = self.victim_file()
        partial = os.path.join(self.cache, ".locks", "modelbake", "tmp", etag + ".partial")
        os.symlink(victim, partial)
        proc = run_modelbake(["--cache", self.cache, "fetch"], env=hub.env(), cwd=self.tmp.path)
        self.assertExit(proc, 1)
        self.assertIn(etag + ".partial is a symbolic link", proc.stderr)
        with open(victim, "rb") as f:
            self.assertEqual(f.read(), b"the user's own file")
        self.assertEqual(os.stat(victim).st_mode & 0o777, 0o644)

    def test_rm_never_deletes_through_a_linked_trees_folder(self):
        folder = os.path.join(self.cache, "models--org--good")
        os.makedirs(os.path.join(folder, "snapshots", "settings"))
        os.symlink(self.victim, os.path.join(folder, "trees"))
        with open(os.path.join(self.victim, "settings.json"), "wb") as f:
            f.write(b"victim settings")
        self.before = describe_tree(self.victim)
        proc = self.mb("rm", "org/good")
        self.assertExit(proc, 1)
        self.assertIn("models--org--good/trees is a symbolic link", proc.stderr)
        self.assertVictimIntact()

    def test_rm_never_deletes_through_a_linked_meta_folder(self):
        meta = os.path.join(self.cache, ".locks", "modelbake", "meta")
        # The user's own hub cache, holding a copy of the same model.
        own = self.tmp.join("own-hub-cache")
        os.makedirs(os.path.join(own, "models--org--good", "snapshots"))
        with open(os.path.join(own, "models--org--good", "keep"), "wb") as f:
            f.write(b"mine")
        before = describe_tree(own)
        shutil.rmtree(meta)
        os.symlink(own, meta)
        proc = self.mb("rm", "org/good")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(".locks/modelbake/meta is a symbolic link", proc.stderr)
        self.assertEqual(describe_tree(own), before)

    def test_linked_object_is_not_already_cached(self):
        # objects/sha256/<digest> planted as a link: fetch --locked must not link it as a blob.
        lock = self.write_lock()
        lfs = [f for f in self.lock["models"][0]["files"] if f["path"] == "model.safetensors"][0]
        sha = lfs["sha256"]
        obj = os.path.join(self.cache, ".locks", "modelbake", "objects", "sha256", sha[:2], sha[2:])
        victim = self.victim_file()
        blob = os.path.join(self.cache, "models--org--good", "blobs", lfs["etag"])
        os.unlink(blob)
        os.unlink(obj)
        os.symlink(victim, obj)
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/good", "as": "good"}])
        shutil.copy(lock, self.tmp.join("modelbake.lock"))
        proc = self.mb("fetch", "--locked", env={"HF_HUB_OFFLINE": "1"})
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("following arguments", proc.stderr)
        self.assertFalse(os.path.islink(blob))
        self.assertFalse(os.path.exists(blob) and os.path.samefile(blob, victim))
        with open(victim, "rb") as f:
            self.assertEqual(f.read(), b"the user's own file")


if __name__ == "__main__":
    unittest.main()
