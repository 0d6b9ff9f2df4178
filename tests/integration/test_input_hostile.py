"""Hostile input that is parsed before any work: manifests (alias bombs, duplicate keys), hub
listings and locks naming `.git/` or `.cache/`, lenient lock numbers. Each is refused with a
clear message and the documented exit code, before a request is made or a byte is written."""

import io
import json
import os
import tarfile
import unittest

from mbtest import (MbTestCase, RepoBuilder, lock_document, run_modelbake, serialize_lock,
                    write_manifest)

CONFIG = b'{"hidden_size": 8}\n'


def alias_bomb(levels=6):
    """9**levels scalars once expanded; 6 levels are 531441 (a 4 MB lock before the fix)."""
    lines = ["version: 1", "models:", "  - repo: org/tiny", "    expect:",
             "      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append("      l%d: &l%d [%s]" % (i, i, ", ".join(["*l%d" % (i - 1)] * 9)))
    return "\n".join(lines) + "\n"


class ManifestBombs(MbTestCase):
    """`lock` and `status` refuse the manifest before contacting the hub or writing a lock."""

    def setUp(self):
        super().setUp()
        repo = RepoBuilder("org/tiny").add_file("config.json", CONFIG)
        self.hub = self.start_hub(repo)
        self.project = self.tmp.join("project")
        os.makedirs(self.project)
        self.manifest = os.path.join(self.project, "modelbake.yaml")

    def run_cmd(self, *args):
        return run_modelbake(["--cache", self.tmp.join("cache")] + list(args), env=self.hub.env(),
                             cwd=self.project)

    def assert_refused(self, where, fragment):
        self.hub.reset()
        for cmd in (["lock"], ["status"], ["fetch"]):
            with self.subTest(cmd=cmd[0]):
                p = self.run_cmd(*cmd)
                self.assertExit(p, 2)
                self.assertIn("modelbake.yaml:" + where, p.stderr)
                self.assertIn(fragment, p.stderr)
                self.assertFalse(os.path.exists(os.path.join(self.project, "modelbake.lock")))
        self.assertEqual(self.hub.requests(path="^/api/"), [])

    def test_alias_bomb_refused_before_any_work(self):
        write_manifest(self.manifest, alias_bomb())
        self.assert_refused("6:16:", "YAML aliases")

    def test_duplicate_key_refused(self):
        write_manifest(self.manifest,
                       "version: 1\nmodels:\n  - repo: org/tiny\n    revision: main\n"
                       "    revision: v2\n")
        self.assert_refused("5:5:", "duplicate key 'revision' (first at line 4)")

    def test_control_same_manifest_without_aliases_locks(self):
        write_manifest(self.manifest, "version: 1\nmodels:\n  - repo: org/tiny\n"
                                      "    expect: {l0: [lol, lol]}\n")
        p = self.run_cmd("lock")
        self.assertExit(p, 0)
        with open(os.path.join(self.project, "modelbake.lock")) as f:
            self.assertEqual(json.load(f)["models"][0]["expect"], {"l0": ["lol", "lol"]})


class HostileListing(MbTestCase):
    """A hub listing `.git/config` (or `.cache/...`) is a hostile response: exit 3."""

    def test_git_and_cache_folders_in_listing_refused(self):
        for i, bad in enumerate((".git/config", "sub/.git/hooks/post-checkout", ".GIT/config",
                                 ".cache/huggingface/download/config.json.metadata")):
            with self.subTest(path=bad):
                repo = RepoBuilder("org/evil")
                repo.add_file("config.json", CONFIG)
                repo.add_file(bad, b"[core]\n\tfsmonitor = touch /tmp/pwned\n")
                hub = self.start_hub(repo)
                work = self.tmp.join("work-%d" % i)
                os.makedirs(work)
                write_manifest(os.path.join(work, "modelbake.yaml"), [{"repo": "org/evil"}])
                cache = os.path.join(work, "cache")
                for cmd in (["lock"], ["fetch", "--retries", "1"]):
                    p = run_modelbake(["--cache", cache] + cmd, env=hub.env(), cwd=work)
                    self.assertExit(p, 3)
                    self.assertIn("unsafe file name from server '%s'" % bad, p.stderr)
                    self.assertFalse(os.path.exists(os.path.join(work, "modelbake.lock")))
                for root, dirs, files in os.walk(work):
                    self.assertNotIn(bad.split("/")[0], dirs + files, root)
                hub.stop()


def lock_with(path=".git/config", size=None, data=CONFIG):
    doc = lock_document([{
        "name": "bert", "repo": "org/bert", "type": "model", "revision": "main",
        "commit": "a" * 40, "include": [], "exclude": [], "expect": None,
        "files": [("config.json", CONFIG, False), (path, data, False)]}])
    if size is not None:
        for f in doc["models"][0]["files"]:
            if f["path"] == "config.json":
                f["size"] = size
    return serialize_lock(doc)


class HostileLock(MbTestCase):
    def setUp(self):
        super().setUp()
        self.project = self.tmp.join("project")
        os.makedirs(self.project)
        write_manifest(os.path.join(self.project, "modelbake.yaml"), [{"repo": "org/bert"}])

    def run_with_lock(self, text, *args):
        with open(os.path.join(self.project, "modelbake.lock"), "w") as f:
            f.write(text)
        return run_modelbake(["--cache", self.tmp.join("cache")] + list(args), cwd=self.project,
                             env={"HF_ENDPOINT": "http://127.0.0.1:9"})

    def test_lock_naming_git_or_cache_refused(self):
        for bad in (".git/config", "a/.git/hooks/pre-commit", ".cache/huggingface/x"):
            for cmd in (["fetch", "--locked"], ["verify"], ["status"]):
                with self.subTest(path=bad, cmd=cmd[0]):
                    p = self.run_with_lock(lock_with(bad), *cmd)
                    self.assertExit(p, 2)
                    self.assertIn("invalid lock: unsafe file path in lock '%s'" % bad, p.stderr)

    def test_lenient_sizes_refused(self):
        for size in (-1, 10.9, "3"):
            with self.subTest(size=size):
                p = self.run_with_lock(lock_with("model.txt", size=size), "fetch", "--locked")
                self.assertExit(p, 2)
                self.assertIn("size of config.json must be a whole number of bytes", p.stderr)


class HostileBundleLock(MbTestCase):
    """import: a bundle whose lock names `.git/config` is refused (exit 1), nothing imported."""

    def test_bundle_planting_git_config_refused(self):
        commit = "a" * 40
        members = [("modelbake.lock", lock_with(".git/config").encode()),
                   ("models--org--bert/snapshots/%s/config.json" % commit, CONFIG),
                   ("models--org--bert/snapshots/%s/.git/config" % commit, CONFIG)]
        bundle = self.tmp.join("evil.tar")
        with tarfile.open(bundle, "w", format=tarfile.PAX_FORMAT) as tf:
            for name, data in members:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode = len(data), 0o644
                tf.addfile(ti, io.BytesIO(data))
        target = self.tmp.join("target")
        p = run_modelbake(["import", bundle, "--cache", target])
        self.assertExit(p, 1)
        self.assertIn("unsafe file path in lock '.git/config'", p.stderr)
        for root, dirs, files in os.walk(target):
            self.assertNotIn(".git", dirs + files, root)
            self.assertNotIn("models--org--bert", dirs, root)


if __name__ == "__main__":
    unittest.main()
