"""The cache directory is resolved once per run (issue 21): given as a relative path, with
`..`, through HF_HUB_CACHE, or with bytes that are not UTF-8, every command uses and prints the
same absolute, normal form of it, and none ends in an internal error."""

import json
import os
import subprocess
import unittest

from mbtest import MbTestCase, RepoBuilder, make_cache, modelbake_bin, tool_env, write_manifest

INTERNAL = b"internal error"


def tiny_repo():
    rb = RepoBuilder("org/paths")
    rb.add_file("config.json", b'{"a": 1}')
    rb.add_file("model.safetensors", b"W" * 5000, lfs=True)
    rb.commit("init")
    return rb


def json_text(raw_path):
    """What a JSON document holds for a path: invalid UTF-8 replaced by U+FFFD."""
    return raw_path.decode("utf-8", "replace")


class CachePathForms(MbTestCase):
    def setUp(self):
        super().setUp()
        root = os.fsencode(self.tmp.join(""))
        self.abs_cache = os.path.join(root, b"caf\xe9-models", b"cache")  # not valid UTF-8
        self.project = os.path.join(root, b"project")
        os.makedirs(os.path.join(root, b"elsewhere"))
        os.makedirs(self.project)
        self.lock = make_cache(os.fsdecode(self.abs_cache), [{"builder": tiny_repo(), "as": "m"}],
                               lock_path=os.fsdecode(os.path.join(self.project, b"modelbake.lock")))
        write_manifest(os.fsdecode(os.path.join(self.project, b"modelbake.yaml")),
                       [{"repo": "org/paths", "as": "m"}])
        # The same directory, relative to the project and through a `..` detour.
        self.rel_cache = b"../elsewhere/../caf\xe9-models/./cache"

    def run_mb(self, args, env=None):
        full_env = {os.fsencode(k): os.fsencode(v) for k, v in tool_env(env).items()}
        return subprocess.run([os.fsencode(modelbake_bin())] + args, cwd=self.project,
                              env=full_env, capture_output=True, timeout=120)

    def check_forms(self, args, field=None, human=False):
        """Runs `args` with the cache given three ways; returns the outputs."""
        forms = [
            ([b"--cache", self.rel_cache], None),
            ([b"--cache", self.abs_cache + b"/../cache/"], None),
            ([], {"HF_HUB_CACHE": os.fsdecode(self.rel_cache), "HF_HUB_OFFLINE": "1"}),
        ]
        for extra, env in forms:
            proc = self.run_mb(extra + args, env)
            what = b" ".join(extra + args).decode("utf-8", "replace")
            self.assertNotIn(INTERNAL, proc.stderr, what)
            self.assertEqual(proc.returncode, 0, "%s\n%s" % (what, proc.stderr.decode("utf-8", "replace")))
            if field:
                doc = json.loads(proc.stdout)
                self.assertEqual(doc[field], json_text(self.abs_cache), what)
            if human:
                self.assertIn(b"cache " + self.abs_cache + b"\n", proc.stdout, what)

    def test_ls_du_and_gc_print_one_absolute_form(self):
        self.check_forms([b"--json", b"ls"], field="cache")
        self.check_forms([b"--json", b"du"], field="cache")
        self.check_forms([b"--json", b"gc", b"--dry-run"], field="cache")

    def test_verify_and_status(self):
        self.check_forms([b"--json", b"verify"], field="cache")
        self.check_forms([b"--json", b"status"])
        self.check_forms([b"verify"])

    def test_fetch_locked_from_a_complete_cache(self):
        self.check_forms([b"fetch", b"--locked"], human=True)
        self.check_forms([b"--json", b"fetch", b"--locked"])

    def test_export_records_the_same_cache(self):
        for i, (extra, env) in enumerate([([b"--cache", self.rel_cache], None),
                                          ([], {"HF_HUB_CACHE": os.fsdecode(self.rel_cache)})]):
            out = os.path.join(os.fsencode(self.tmp.join("")), b"bundle%d" % i)
            proc = self.run_mb(extra + [b"--json", b"export", b"-o", out], env)
            self.assertEqual(proc.returncode, 0, proc.stderr.decode("utf-8", "replace"))
            self.assertEqual(json.loads(proc.stdout)["cache"], json_text(self.abs_cache))

    def test_rm_of_a_missing_repo_is_no_internal_error(self):
        proc = self.run_mb([b"--cache", self.rel_cache, b"--json", b"rm", b"org/absent"])
        self.assertNotIn(INTERNAL, proc.stderr)
        json.loads(proc.stdout)  # a document, even for the error


if __name__ == "__main__":
    unittest.main()
