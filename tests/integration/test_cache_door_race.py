"""A folder swapped for a link while gc, rm and fetch run (issue 19): a hostile co-tenant of a
shared cache renames a folder away and puts a link to a victim folder in its place, back and
forth, as fast as it can. Whatever the interleaving, nothing outside the cache changes: every
operation below the root is relative to descriptors opened without following links, so there
is no window between a check and a use.

Seeded: MB_RACE_ROUNDS (default 30) rounds, MB_RACE_SEED (default 1919) picks the folder to
swap and the command each round.
"""
import os
import random
import shutil
import threading
import time
import unittest

from mbtest import (MbTestCase, RepoBuilder, describe_tree, make_cache, run_modelbake,
                    serialize_lock, write_manifest)

ROUNDS = int(os.environ.get("MB_RACE_ROUNDS", "30"))
SEED = int(os.environ.get("MB_RACE_SEED", "1919"))


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
        for rel, data in (("settings.json", b"victim"), (c + ".json", b"victim meta"),
                          ("main", b"v" * 40), ("sub/settings.json", b"nested victim"),
                          ("config.json", b"victim config")):
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
                    ["verify", "--lock", self.lock_path, "--repair"]]
        swaps = 0
        for i in range(ROUNDS):
            cache = self.tmp.join("cache%d" % i)
            shutil.copytree(self.template, cache, symlinks=True)
            target = rng.choice(self.targets())
            args = rng.choice(commands)
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
            shutil.rmtree(cache, ignore_errors=True)
        self.assertGreater(swaps, 0, "the swapper never ran: the test proves nothing")


if __name__ == "__main__":
    unittest.main()
