"""A folder swapped for a link while gc, rm, fetch, verify --repair, export and serve run
(issue 19): a hostile co-tenant of a shared cache renames a folder away and puts a link to a
victim folder in its place, back and forth, as fast as it can. Whatever the interleaving,
nothing outside the cache changes, no export holds the victim's bytes and `serve` never answers
with them: every operation below the root is relative to descriptors opened without following
links, so there is no window between a check and a use.

Seeded: MB_RACE_ROUNDS (default 30) rounds of commands and MB_SERVE_ROUNDS (default 8) rounds of
GETs against one `serve` each; MB_RACE_SEED (default 1919) picks the folder to swap and the
command each round.
"""
import os
import random
import shutil
import threading
import time
import unittest

from mbtest import (MbTestCase, RepoBuilder, describe_tree, make_cache, run_modelbake,
                    serialize_lock, write_manifest)
from mbserve import Mirror

ROUNDS = int(os.environ.get("MB_RACE_ROUNDS", "30"))
SEED = int(os.environ.get("MB_RACE_SEED", "1919"))
SERVE_ROUNDS = int(os.environ.get("MB_SERVE_ROUNDS", "8"))
# Passes over every file of both models per serve round (a count, not a duration).
SERVE_PASSES = 25


def model(name, seed):
    rb = RepoBuilder("org/" + name)
    rb.add_file("config.json", b'{"name": "%s"}\n' % name.encode())
    rb.add_file("sub/settings.json", b'{"s": %d}\n' % seed)
    rb.add_file("model.safetensors", bytes((seed + i) % 251 for i in range(5000)), lfs=True)
    rb.commit("init")
    return rb


class Swapper(threading.Thread):
    """Swaps `path` for a link to `victim` and back until stopped."""

    def __init__(self, path, victim, rng):
        super().__init__(daemon=True)
        self.path, self.victim, self.rng = path, victim, rng
        self.stop_flag = threading.Event()
        self.swaps = 0

    def run(self):
        away = self.path + ".away"
        while not self.stop_flag.is_set():
            try:
                if os.path.isdir(self.path) and not os.path.islink(self.path):
                    os.rename(self.path, away)
                    os.symlink(self.victim, self.path)
                    self.swaps += 1
                    # Mostly a link: the command meets it at every stage of its run.
                    time.sleep(self.rng.uniform(0, 0.003))
                    os.unlink(self.path)
                    os.rename(away, self.path)
                    time.sleep(self.rng.uniform(0, 0.0005))
            except OSError:
                pass  # modelbake removed or renamed it meanwhile


class CacheDoorRace(MbTestCase):
    def setUp(self):
        super().setUp()
        self.template = self.tmp.join("template")
        self.alpha, self.beta = model("alpha", 3), model("beta", 4)
        self.lock = make_cache(self.template, [{"builder": self.alpha, "as": "alpha"},
                                               {"builder": self.beta, "as": "beta"}])
        self.lock_path = self.tmp.join("modelbake.lock")
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/alpha", "as": "alpha"},
                                                         {"repo": "org/beta", "as": "beta"}])
        with open(self.lock_path, "w") as f:
            f.write(serialize_lock(self.lock))
        self.victim = self.tmp.join("victim")
        c = self.alpha.head
        # huggingface_hub's trees/ folder: gc unlinks trees/<commit>.json when it evicts.
        trees = os.path.join(self.template, "models--org--alpha", "trees")
        os.makedirs(trees)
        with open(os.path.join(trees, c + ".json"), "w") as f:
            f.write("{}")
        # Names the cache has at every swapped level, so a followed link finds something: the
        # snapshot's files, blob names, a ref, meta and trees files.
        # Blobs and objects of the victim have the sizes of the real ones (other bytes), so
        # that a size check cannot be what keeps them from being served.
        files = [f for m in self.lock["models"] for f in m["files"]]
        victim_files = [("settings.json", b"victim"), (c + ".json", b"victim meta"),
                        ("main", b"v" * 40), ("sub/settings.json", b"nested victim"),
                        ("config.json", b"victim config")]
        victim_files += [(f["etag"], (b"victim blob " * f["size"])[:f["size"]]) for f in files]
        victim_files += [(f["sha256"][:2] + "/" + f["sha256"][2:],
                          (b"victim object " * f["size"])[:f["size"]]) for f in files]
        self.victim_bytes = [data for _, data in victim_files if data != b"v" * 40]
        for rel, data in victim_files:
            path = os.path.join(self.victim, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        self.before = describe_tree(self.victim)

    def targets(self):
        a = "models--org--alpha"
        c = self.alpha.head
        return [a + "/snapshots/" + c, a + "/snapshots/" + c + "/sub", a + "/refs", a + "/blobs",
                a + "/trees",
                a + "/snapshots", ".locks/modelbake/meta/" + a, ".locks/modelbake/meta",
                ".locks/modelbake/tmp", ".locks/modelbake/objects/sha256"]

    def test_swapped_folders_never_leak_a_write_or_delete(self):
        rng = random.Random(SEED)
        commands = [["gc", "--max-size", "0"], ["rm", "org/alpha"],
                    ["fetch", "--locked"], ["gc"],
                    ["verify", "--lock", self.lock_path, "--repair"],
                    ["export", "-o", "OUT"], ["export", "--format", "oci", "-o", "OUT"]]
        swaps = 0
        for i in range(ROUNDS):
            cache = self.tmp.join("cache%d" % i)
            shutil.copytree(self.template, cache, symlinks=True)
            target = rng.choice(self.targets())
            args = rng.choice(commands)
            out = self.tmp.join("out%d" % i)
            args = [out if a == "OUT" else a for a in args]
            with self.subTest(round=i, folder=target, command=" ".join(args)):
                swapper = Swapper(os.path.join(cache, target), self.victim, random.Random(rng.random()))
                swapper.start()
                try:
                    run_modelbake(["--cache", cache] + args, env={"HF_HUB_OFFLINE": "1"},
                                  cwd=self.tmp.path, timeout=120)
                finally:
                    swapper.stop_flag.set()
                    swapper.join()
                swaps += swapper.swaps
                self.assertEqual(describe_tree(self.victim), self.before)
                self.assertNoVictimIn(out)
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
        self.assertGreater(swaps, 0, "the swapper never ran: the test proves nothing")

    def assertNoVictimIn(self, out):
        """No file an export wrote holds a victim file's bytes (dir layout: whole files; OCI:
        uncompressed tar layers, so a substring)."""
        if not os.path.isdir(out):
            return
        for dirpath, _, names in os.walk(out):
            for name in names:
                path = os.path.join(dirpath, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                self.assertFalse(data in self.victim_bytes, "%s holds the victim's bytes" % path)
                if len(data) > 512:  # a tar layer: members are stored as they are
                    for v in self.victim_bytes:
                        self.assertFalse(v + b"\0" in data, "%s holds the victim's bytes" % path)

    def test_serve_never_answers_with_what_is_outside(self):
        rng = random.Random(SEED + 1)
        files = {}
        for rb in (self.alpha, self.beta):
            for path, f in rb.files_at().items():
                files[(rb.id, path)] = f.data
        swaps = answered = 0
        for i in range(SERVE_ROUNDS):
            cache = self.tmp.join("serve%d" % i)
            shutil.copytree(self.template, cache, symlinks=True)
            target = rng.choice(self.targets())
            with self.subTest(round=i, folder=target):
                mirror = Mirror(cache)
                swapper = Swapper(os.path.join(cache, target), self.victim, random.Random(rng.random()))
                swapper.start()
                try:
                    for _ in range(SERVE_PASSES):
                        for (repo, path), data in files.items():
                            status, _, body = mirror.request(
                                "GET", "/%s/resolve/main/%s" % (repo, path))
                            self.assertFalse(body in self.victim_bytes,
                                             "%s swapped: served the victim for %s" % (target, path))
                            if status == 200:
                                answered += 1
                                self.assertEqual(body, data, "%s swapped: %s" % (target, path))
                finally:
                    swapper.stop_flag.set()
                    swapper.join()
                    mirror.stop()
                swaps += swapper.swaps
                self.assertEqual(describe_tree(self.victim), self.before)
            shutil.rmtree(cache, ignore_errors=True)
        self.assertGreater(swaps, 0, "the swapper never ran: the test proves nothing")
        self.assertGreater(answered, 0, "serve never answered: the test proves nothing")


if __name__ == "__main__":
    unittest.main()
