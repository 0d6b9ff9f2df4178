"""Planted entries at every folder and leaf position of a populated cache (issue 19).

For each position (repo folder, blobs, snapshots, snapshots/<commit> and a nested folder,
refs, trees, .no_exist, .locks, every folder of .locks/modelbake/ and its objects fan-out, and
the leaves in them), in turn: a link to a victim folder, a link to a victim file, a FIFO. Then
every command (ls, du, status, verify, verify --repair, fetch --locked offline, gc, export
dir and oci, import, rm; lock against the test hub; push and pull against Debian's
docker-registry on loopback) and a serve GET of every file. Asserts:
  * the victim folder and file are byte-identical after every command;
  * nothing outside the cache is served (no response carries the victim's bytes, and a 200
    carries exactly the locked bytes of that file);
  * a command that fails names the planted entry;
  * nothing hangs (every command has a bounded time).
One populated template is copied per case, and one cache serves the case's commands in turn.
Every case gets the serve GETs and the cheap read-only commands (ls, du, status, verify); each
other command runs at every position with one of the three plants, picked by a seeded choice
(MB_DOOR_PROPERTY_SEED, default 19), so every command meets every position and every plant
meets every position, in about half the time of the full matrix, which
MB_DOOR_PROPERTY_FULL=1 runs (every command on every case).
"""
import hashlib
import os
import random
import shutil
import stat
import subprocess
import unittest

from mbtest import (MbTestCase, RepoBuilder, TestHub, describe_tree, make_cache, run_modelbake,
                    serialize_lock, write_manifest)
from mbregistry import DockerRegistry
from mbserve import Mirror

COMMIT_LEN = 40
PLANTS = ("dirlink", "filelink", "fifo")
SEED = int(os.environ.get("MB_DOOR_PROPERTY_SEED", "19"))
FULL = os.environ.get("MB_DOOR_PROPERTY_FULL") == "1"
EVERY_CASE = {"ls", "du", "status", "verify"}  # read-only and cheap: run on every case


def model(name, seed):
    rb = RepoBuilder("org/" + name)
    rb.add_file("config.json", b'{"name": "%s"}\n' % name.encode())
    rb.add_file("sub/tokenizer.json", b'{"t": %d}\n' % seed)
    rb.add_file("model.safetensors", bytes((seed * 7 + i) % 251 for i in range(6000)), lfs=True)
    rb.commit("init")
    return rb


class CacheDoorProperty(MbTestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.base = tempfile.mkdtemp(prefix="mb-door-prop-")
        cls.template = os.path.join(cls.base, "template")
        cls.alpha, cls.beta = model("alpha", 1), model("beta", 2)
        cls.lock = make_cache(cls.template, [{"builder": cls.alpha, "as": "alpha"},
                                             {"builder": cls.beta, "as": "beta"}])
        cls.files = {}  # (repo, path) -> bytes
        for rb in (cls.alpha, cls.beta):
            for p, f in rb.files_at().items():
                cls.files[(rb.id, p)] = f.data
        a = os.path.join(cls.template, "models--org--alpha")
        commit = cls.alpha.head
        cls.commit = commit
        # Folders huggingface_hub (not modelbake) makes, and modelbake's optional ones.
        os.makedirs(os.path.join(a, "trees"))
        with open(os.path.join(a, "trees", commit + ".json"), "w") as f:
            f.write("{}")
        os.makedirs(os.path.join(a, ".no_exist", commit))
        open(os.path.join(a, ".no_exist", commit, "missing.bin"), "w").close()
        os.makedirs(os.path.join(cls.template, ".locks", "models--org--alpha"))
        os.makedirs(os.path.join(cls.template, ".locks", "modelbake", "layers"))
        open(os.path.join(cls.template, ".locks", "modelbake", "locks", "cache.lock"), "w").close()
        lfs = [f for f in cls.lock["models"][0]["files"] if f["path"] == "model.safetensors"][0]
        cls.sha = lfs["sha256"]
        cls.etag = lfs["etag"]
        cls.bundle = os.path.join(cls.base, "bundle")
        lock_path = os.path.join(cls.base, "modelbake.lock")
        cls.manifest = write_manifest(os.path.join(cls.base, "modelbake.yaml"),
                                      [{"repo": "org/alpha", "as": "alpha"},
                                       {"repo": "org/beta", "as": "beta"}])
        with open(lock_path, "w") as f:
            f.write(serialize_lock(cls.lock))
        cls.lock_path = lock_path
        p = run_modelbake(["--cache", cls.template, "-f", cls.manifest, "export", "-o",
                           cls.bundle], cwd=cls.base)
        assert p.returncode == 0, p.stderr
        # `lock` asks this hub; `pull` takes the image pushed here from the intact template.
        cls.hub = TestHub([cls.alpha, cls.beta]).start()
        cls.registry = DockerRegistry(os.path.join(cls.base, "registry")).start()
        cls.image = cls.registry.host + "/door/template:v1"
        p = run_modelbake(["--cache", cls.template, "-f", cls.manifest, "push", cls.image,
                           "--plain-http"], cwd=cls.base)
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        cls.registry.stop()
        cls.hub.stop()
        shutil.rmtree(cls.base, ignore_errors=True)

    def positions(self):
        a = "models--org--alpha"
        c = self.commit
        priv = ".locks/modelbake"
        fan = priv + "/objects/sha256/" + self.sha[:2]
        folders = [a, a + "/blobs", a + "/snapshots", a + "/snapshots/" + c,
                   a + "/snapshots/" + c + "/sub", a + "/refs", a + "/trees", a + "/.no_exist",
                   ".locks", ".locks/" + a, priv, priv + "/objects", priv + "/objects/sha256",
                   fan, priv + "/tmp", priv + "/locks", priv + "/meta", priv + "/meta/" + a,
                   priv + "/layers"]
        leaves = [a + "/blobs/" + self.etag, a + "/refs/main", a + "/trees/" + c + ".json",
                  a + "/snapshots/" + c + "/config.json", fan + "/" + self.sha[2:],
                  priv + "/meta/" + a + "/" + c + ".json", priv + "/locks/cache.lock",
                  priv + "/tmp/" + self.etag + ".partial", "CACHEDIR.TAG"]
        return folders + leaves

    def setUp(self):
        super().setUp()
        self.victim = self.tmp.join("victim")
        os.makedirs(os.path.join(self.victim, "blobs"))
        for rel, data in (("settings.json", b"victim settings"), ("main", b"v" * 40),
                          ("blobs/" + self.etag, b"not the model"),
                          (self.commit + ".json", b"victim meta"), ("cache.lock", b"victim")):
            with open(os.path.join(self.victim, rel), "wb") as f:
                f.write(data)
        self.victim_file = self.tmp.join("victim.txt")
        with open(self.victim_file, "wb") as f:
            f.write(b"precious victim bytes")
        os.chmod(self.victim_file, 0o644)
        self.victim_before = describe_tree(self.victim)
        self.victim_file_before = self.describe_file()

    def describe_file(self):
        st = os.lstat(self.victim_file)
        with open(self.victim_file, "rb") as f:
            return (f.read(), stat.S_IMODE(st.st_mode))

    def plant(self, cache, rel, kind):
        path = os.path.join(cache, rel)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if kind == "dirlink":
            os.symlink(self.victim, path)
        elif kind == "filelink":
            os.symlink(self.victim_file, path)
        else:
            os.mkfifo(path)

    def assertVictimIntact(self, what):
        self.assertEqual(describe_tree(self.victim), self.victim_before, what)
        self.assertEqual(self.describe_file(), self.victim_file_before, what)

    def commands(self, cache, out):
        lock = self.lock_path
        return [
            ["ls"], ["du"], ["status", "--lock", lock], ["verify", "--lock", lock],
            ["verify", "--lock", lock, "--repair"], ["fetch", "--locked"],
            ["export", "-o", os.path.join(out, "dir")],
            ["export", "--format", "oci", "-o", os.path.join(out, "oci")],
            ["import", self.bundle],
            ["lock"],
            ["push", self.registry.host + "/door/case:v1", "--plain-http"],
            ["pull", self.image, "--plain-http"],
            ["gc"], ["gc", "--max-size", "0"], ["rm", "org/alpha"],
        ]

    def serve_check(self, cache, rel, kind):
        victim_bytes = {b"precious victim bytes", b"not the model", b"victim settings"}
        try:
            m = Mirror(cache)
        except RuntimeError as e:
            # A serve that refuses to start must say why, naming the entry.
            self.assertIn(os.path.basename(rel), str(e))
            return
        try:
            for (repo, path), data in self.files.items():
                status, _, body = m.request("GET", "/%s/resolve/main/%s" % (repo, path))
                self.assertNotIn(body, victim_bytes, "%s %s: served the victim" % (rel, kind))
                if status == 200:
                    self.assertEqual(body, data, "%s %s: %s served other bytes" % (rel, kind, path))
        finally:
            m.stop()

    def runs(self, rel, kind, index, args):
        """Whether command `index` runs on the case (`rel`, `kind`)."""
        if FULL or args[0] in EVERY_CASE:
            return True
        return self.chosen[(rel, index)] == kind

    def run_case(self, rel, kind):
        cache = self.tmp.join("cache-" + kind + "-" + rel.replace("/", "_"))
        shutil.copytree(self.template, cache, symlinks=True)
        self.plant(cache, rel, kind)
        out = self.tmp.join("out-" + kind + "-" + rel.replace("/", "_"))
        os.makedirs(out)
        # The project folder of the case: `lock` rewrites its lock, the others read it.
        manifest = os.path.join(out, "modelbake.yaml")
        shutil.copyfile(self.manifest, manifest)
        shutil.copyfile(self.lock_path, os.path.join(out, "modelbake.lock"))
        self.serve_check(cache, rel, kind)
        self.assertVictimIntact("%s %s after serve" % (rel, kind))
        for index, args in enumerate(self.commands(cache, out)):
            if not self.runs(rel, kind, index, args):
                continue
            what = "%s planted at %s: modelbake %s" % (kind, rel, " ".join(args))
            # Only `lock` may reach the hub; push and pull talk to the registry alone.
            env = self.hub.env() if args[0] == "lock" else {"HF_HUB_OFFLINE": "1"}
            try:
                p = run_modelbake(["--cache", cache, "-f", manifest] + args, env=env, cwd=out,
                                  timeout=60)
            except subprocess.TimeoutExpired:
                self.fail(what + " hung")
            self.assertVictimIntact(what)
            if p.returncode not in (0,):
                # The planted entry is named (its last component at least: messages may show
                # the path through a link of the root); `status` says it on stdout.
                self.assertIn(os.path.basename(rel), p.stderr + p.stdout,
                              what + "\n" + p.stderr + p.stdout)

    def test_every_position_every_plant(self):
        rng = random.Random(SEED)
        count = len(self.commands("", ""))
        self.chosen = {(rel, i): rng.choice(PLANTS) for rel in self.positions() for i in range(count)}
        for rel in self.positions():
            for kind in PLANTS:
                with self.subTest(position=rel, plant=kind):
                    self.run_case(rel, kind)


if __name__ == "__main__":
    unittest.main()
