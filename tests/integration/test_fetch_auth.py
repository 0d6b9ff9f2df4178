"""Gated repos and tokens: no token -> exit 4, token works, never sent to the CDN host and
never printed."""

import json
import os
import unittest

from mbtest import (MbTestCase, RepoBuilder, pseudo_random_bytes, run_modelbake, snapshot_path,
                    write_manifest)

TOKEN = "hf_secret_token_123456"


class FetchAuth(MbTestCase):
    def setUp(self):
        super().setUp()
        self.repo = RepoBuilder("org/gated", gated=True)
        self.repo.add_file("config.json", b"{}\n")
        self.repo.add_file("model.safetensors", pseudo_random_bytes(70_000, seed=5), lfs=True)
        self.hub = self.start_hub(self.repo, tokens=[TOKEN])
        self.cache = self.tmp.join("cache")
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/gated"}])

    def run_mb(self, env, *extra):
        return run_modelbake(["--cache", self.cache, "fetch"] + list(extra), env=env,
                             cwd=self.tmp.path)

    def test_gated_without_token_is_auth_error(self):
        p = self.run_mb(self.hub.env())
        self.assertExit(p, 4)
        self.assertIn("org/gated", p.stderr)

    def test_wrong_token_is_auth_error_and_not_printed(self):
        p = self.run_mb(self.hub.env(token="hf_wrong_token_999"), "-v")
        self.assertExit(p, 4)
        self.assertNotIn("hf_wrong_token_999", p.stderr + p.stdout)

    def test_token_works_and_never_reaches_cdn_or_output(self):
        p = self.run_mb(self.hub.env(token=TOKEN), "-v")
        self.assertExit(p, 0)
        self.assertNotIn(TOKEN, p.stderr + p.stdout)
        cdn = self.hub.cdn_requests()
        self.assertTrue(cdn)
        self.assertFalse(any(r["authorization"] for r in cdn))
        api = self.hub.requests(path="^/api/")
        self.assertTrue(all(r["authorization"] for r in api))
        path = snapshot_path(self.cache, "org/gated", self.repo.head, "model.safetensors")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), self.repo.files_at()["model.safetensors"].data)

    def test_json_log_lines_carry_no_token(self):
        # --log-format json: every stderr line is one JSON object, the error included.
        p = self.run_mb(self.hub.env(token="hf_wrong_token_999"), "-v", "--log-format", "json")
        self.assertExit(p, 4)
        lines = [json.loads(l) for l in p.stderr.splitlines()]
        self.assertTrue(lines)
        for line in lines:
            self.assertEqual(list(line), ["time", "level", "message"])
            self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertIn("debug", {l["level"] for l in lines})
        errors = [l for l in lines if l["level"] == "error"]
        self.assertEqual(len(errors), 1)
        self.assertIn("org/gated", errors[0]["message"])
        self.assertNotIn("hf_wrong_token_999", p.stderr + p.stdout)

    def test_bad_log_format_is_usage_error(self):
        p = self.run_mb(self.hub.env(), "--log-format", "xml")
        self.assertExit(p, 2)
        self.assertEqual(self.hub.requests(), [])

    def test_token_file(self):
        token_file = self.tmp.join("token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        env = dict(self.hub.env())
        env["HF_TOKEN_PATH"] = token_file
        p = self.run_mb(env, "--json")
        self.assertExit(p, 0)
        self.assertNotIn(TOKEN, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
