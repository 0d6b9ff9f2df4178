"""A hostile hub: traversal names, absurd sizes, wrong digests, too many bytes. Every case
is a clean error with the right exit code and nothing written outside the cache or
published inside it."""

import os
import unittest

from mbtest import MbTestCase, RepoBuilder, pseudo_random_bytes, run_modelbake, write_manifest


class FetchHostile(MbTestCase):
    def fetch_repo(self, repo, *extra):
        hub = self.start_hub(repo)
        self.cache = self.tmp.join("work", "cache")
        os.makedirs(self.cache)
        write_manifest(self.tmp.join("work", "modelbake.yaml"), [{"repo": repo.id}])
        p = run_modelbake(["--cache", self.cache, "fetch", "--retries", "1"] + list(extra),
                          env=hub.env(), cwd=self.tmp.join("work"))
        return p, hub

    def assert_nothing_published(self, repo_folder):
        snaps = os.path.join(self.cache, repo_folder, "snapshots")
        if os.path.isdir(snaps):
            for _, _, files in os.walk(snaps):
                self.assertEqual(files, [])
        self.assertEqual(os.listdir(os.path.join(self.cache, ".locks/modelbake/tmp")), [])

    def test_path_traversal_names(self):
        for bad in ("../../etc/x", "a/../../b", "/abs/file", "sub//x"):
            with self.subTest(name=bad):
                repo = RepoBuilder("org/evil")
                repo.add_file("ok.txt", b"fine\n")
                repo.add_file(bad, b"evil\n")
                p, hub = self.fetch_repo(repo)
                self.assertIn(p.returncode, (1, 3), p.stderr)
                self.assertIn("modelbake: error:", p.stderr)
                # nothing outside the cache: work/ holds only the cache and the manifest
                self.assertEqual(sorted(os.listdir(self.tmp.join("work"))), ["cache", "modelbake.yaml"])
                self.assertFalse(os.path.exists(self.tmp.join("etc")))
                self.assertFalse(os.path.exists(self.tmp.join("work", "modelbake.lock")))
                hub.stop()
                import shutil
                shutil.rmtree(self.tmp.join("work"))

    def test_absurd_size_rejected_before_allocating(self):
        repo = RepoBuilder("org/huge")
        repo.add_file("model.bin", pseudo_random_bytes(1000, seed=6), lfs=True,
                      advertise={"size": 10 ** 15})
        p, _ = self.fetch_repo(repo)
        self.assertExit(p, 5)
        self.assertIn("free disk space", p.stderr)
        self.assert_nothing_published("models--org--huge")

    def test_size_beyond_any_disk_is_rejected(self):
        repo = RepoBuilder("org/huger")
        repo.add_file("model.bin", pseudo_random_bytes(1000, seed=6), lfs=True,
                      advertise={"size": 2 ** 62})
        p, _ = self.fetch_repo(repo)
        self.assertIn(p.returncode, (3, 5), p.stderr)
        self.assertFalse(os.path.exists(self.tmp.join("work", "modelbake.lock")))

    def test_wrong_lfs_digest(self):
        repo = RepoBuilder("org/liar")
        repo.add_file("model.bin", pseudo_random_bytes(5000, seed=7), lfs=True,
                      advertise={"sha256": "ab" * 32})
        p, _ = self.fetch_repo(repo)
        self.assertExit(p, 1)
        self.assertIn("digest mismatch", p.stderr)
        self.assert_nothing_published("models--org--liar")
        self.assertFalse(os.path.exists(os.path.join(self.cache, ".locks/modelbake/objects/sha256/ab")))

    def test_wrong_git_etag(self):
        repo = RepoBuilder("org/liar2")
        repo.add_file("config.json", b"{}\n", advertise={"etag": "cd" * 20})
        p, _ = self.fetch_repo(repo)
        self.assertExit(p, 1)
        self.assertIn("git blob sha1", p.stderr)
        self.assert_nothing_published("models--org--liar2")

    def test_more_bytes_than_announced(self):
        repo = RepoBuilder("org/liar3")
        repo.add_file("model.bin", pseudo_random_bytes(5000, seed=8), lfs=True,
                      advertise={"size": 4000})
        p, _ = self.fetch_repo(repo)
        self.assertExit(p, 1)
        self.assert_nothing_published("models--org--liar3")


if __name__ == "__main__":
    unittest.main()
