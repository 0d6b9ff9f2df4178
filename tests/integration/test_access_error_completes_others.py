"""When the hub refuses one model of a run for lack of access (a gated repo without a token:
401 GatedRepo), every other model whose files verified is still completed: refs and snapshot
links, so it loads offline by branch name (issue 19). The run fails with exit 4 naming the
gated repo and writes no partial lock.

huggingface_hub is not installable here: hub_load() applies its offline rules
(try_to_load_from_cache / snapshot_download with HF_HUB_OFFLINE=1: refs/<revision> holds the
commit, snapshots/<commit>/<file> resolves to a regular file); when /usr/bin/python3 has
huggingface_hub, it is used instead."""

import os
import subprocess
import unittest

from mbtest import (MbTestCase, RepoBuilder, pseudo_random_bytes, repo_dir, run_modelbake,
                    write_manifest)

TOKEN = "hf_access_token_for_tests_0001"


def has_huggingface_hub():
    return subprocess.run(["/usr/bin/python3", "-c", "import huggingface_hub"],
                          capture_output=True).returncode == 0


def hub_load(cache, repo_id, filename, revision="main"):
    """The path huggingface_hub would load offline, or None."""
    if has_huggingface_hub():
        code = ("import sys; from huggingface_hub import try_to_load_from_cache as t; "
                "p = t(sys.argv[2], sys.argv[3], cache_dir=sys.argv[1], revision=sys.argv[4]); "
                "print(p if isinstance(p, str) else '')")
        out = subprocess.run(["/usr/bin/python3", "-c", code, cache, repo_id, filename, revision],
                             capture_output=True, text=True, env=dict(os.environ,
                                                                      HF_HUB_OFFLINE="1"))
        return out.stdout.strip() or None
    folder = repo_dir(cache, repo_id)
    ref = os.path.join(folder, "refs", revision)
    if not os.path.isfile(ref):
        return None
    with open(ref) as f:
        commit = f.read()
    path = os.path.join(folder, "snapshots", commit, filename)
    if not os.path.isfile(path):
        return None
    # What the loader opens: the link must resolve into the repo's own blobs/.
    real = os.path.realpath(path)
    if os.path.dirname(real) != os.path.realpath(os.path.join(folder, "blobs")):
        return None
    return path


def public(name, seed):
    rb = RepoBuilder("org/" + name)
    rb.add_file("config.json", b'{"name": "%s"}\n' % name.encode())
    rb.add_file("model.safetensors", pseudo_random_bytes(9000, seed=seed), lfs=True)
    rb.commit("init")
    return rb


class AccessErrorCompletesOthers(MbTestCase):
    def setUp(self):
        super().setUp()
        self.a = public("alpha", 1)
        self.b = public("beta", 2)
        self.gated = RepoBuilder("org/gated", gated=True)
        self.gated.add_file("config.json", b"{}\n")
        self.gated.add_file("model.safetensors", pseudo_random_bytes(7000, seed=3), lfs=True)
        self.gated.commit("init")
        self.hub = self.start_hub(self.a, self.gated, self.b, tokens=[TOKEN])
        self.cache = self.tmp.join("cache")
        write_manifest(self.tmp.join("modelbake.yaml"),
                       [{"repo": "org/alpha"}, {"repo": "org/gated"}, {"repo": "org/beta"}])

    def fetch(self, *extra, token=None):
        return run_modelbake(["--cache", self.cache, "fetch"] + list(extra),
                             env=self.hub.env(token=token), cwd=self.tmp.path)

    def assertLoadsOffline(self, rb):
        for name, f in rb.files_at().items():
            path = hub_load(self.cache, rb.id, name)
            self.assertIsNotNone(path, "%s: %s does not load offline" % (rb.id, name))
            with open(path, "rb") as fh:
                self.assertEqual(fh.read(), f.data)

    def assertNotLoadable(self, rb):
        for name in rb.files_at():
            self.assertIsNone(hub_load(self.cache, rb.id, name))

    def test_locking_run_completes_the_public_models(self):
        p = self.fetch()
        self.assertExit(p, 4)
        self.assertIn("org/gated", p.stderr)
        self.assertLoadsOffline(self.a)
        self.assertLoadsOffline(self.b)
        self.assertNotLoadable(self.gated)
        self.assertFalse(os.path.exists(self.tmp.join("modelbake.lock")))

    def test_locked_run_completes_the_public_models(self):
        # The lock was made by someone with access; this run has no token.
        self.assertExit(run_modelbake(["--cache", self.tmp.join("other"), "lock"],
                                      env=self.hub.env(token=TOKEN), cwd=self.tmp.path), 0)
        p = self.fetch("--locked")
        self.assertExit(p, 4)
        self.assertIn("org/gated", p.stderr)
        self.assertLoadsOffline(self.a)
        self.assertLoadsOffline(self.b)
        self.assertNotLoadable(self.gated)


if __name__ == "__main__":
    unittest.main()
