"""Hub quirks and huggingface_hub parity against the test hub (issues 11.5, 11.6, 11.7, 10.6):
renamed repos (307 on API and /resolve/), RateLimit-only 429 windows, offline mode with zero
requests, HF_HUB_DISABLE_IMPLICIT_TOKEN, ~/$VARS in cache variables, and response deadlines."""

import json
import os
import unittest

from mbtest import (MbTestCase, RepoBuilder, pseudo_random_bytes, repo_dir, run_json,
                    run_modelbake, write_manifest)

OLD = "distilbert-base-uncased-finetuned-sst-2-english"
NEW = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
TOKEN = "hf_parityTestToken123"


def small_repo(name="org/tiny", **kwargs):
    r = RepoBuilder(name, **kwargs)
    r.add_file("config.json", b'{"hidden_size": 8}\n')
    r.add_file("model.safetensors", pseudo_random_bytes(20_000, seed=3), lfs=True)
    return r


def offline_path(cache, repo_id, filename, revision="main"):
    """hf_hub_download(repo_id, filename) with HF_HUB_OFFLINE=1: refs/<rev> read without strip,
    then snapshots/<commit>/<filename> must exist (symlinks resolved). None when not found."""
    folder = repo_dir(cache, repo_id)
    try:
        with open(os.path.join(folder, "refs", revision)) as f:
            commit = f.read()
    except OSError:
        return None
    path = os.path.join(folder, "snapshots", commit, filename)
    return path if os.path.exists(path) else None


class Base(MbTestCase):
    def setUp(self):
        super().setUp()
        self.cache = self.tmp.join("cache")
        self.manifest = self.tmp.join("modelbake.yaml")

    def mb(self, *args, env=None, cache=True):
        e = dict(self.hub.env(token=TOKEN))
        e.update(env or {})
        pre = ["--cache", self.cache] if cache else []
        return run_modelbake(pre + list(args), env=e, cwd=self.tmp.path)


class RenamedRepo(Base):
    def setUp(self):
        super().setUp()
        self.repo = small_repo(NEW, renamed_from=[OLD])
        self.hub = self.start_hub(self.repo, tokens=[TOKEN], page_size=1)  # Link pages too
        write_manifest(self.manifest, [{"repo": OLD}])

    def test_lock_fetch_and_offline_load_by_the_old_id(self):
        p = self.mb("lock")
        self.assertExit(p, 0)
        self.assertIn("renamed to " + NEW, p.stdout + p.stderr)
        with open(self.tmp.join("modelbake.lock")) as f:
            lock = json.load(f)
        model = lock["models"][0]
        self.assertEqual((model["repo"], model["renamed_to"]), (OLD, NEW))
        self.assertEqual(model["commit"], self.repo.head)
        self.assertEqual(list(model)[:3], ["name", "repo", "renamed_to"])
        self.assertEqual(self.hub.requests(path="/api/.*" + OLD)[0]["status"], 307)

        p, doc = run_json(["--cache", self.cache, "fetch", "--locked"],
                          env=self.hub.env(token=TOKEN), cwd=self.tmp.path)
        self.assertExit(p, 0)
        self.assertEqual(doc["models"][0]["renamed_to"], NEW)
        # The cache is written under the id the manifest names, as huggingface_hub does.
        self.assertEqual(sorted(n for n in os.listdir(self.cache) if n.startswith("models--")),
                         ["models--" + OLD])
        for path, rf in self.repo.files_at().items():
            found = offline_path(self.cache, OLD, path)
            self.assertIsNotNone(found, path)
            with open(found, "rb") as f:
                self.assertEqual(f.read(), rf.data)
        # /resolve/ was redirected too, and the token never reached the CDN host.
        self.assertTrue(any(r["status"] == 307 for r in self.hub.requests(path="^/" + OLD + "/resolve/")))
        self.assertFalse(any(r["authorization"] for r in self.hub.cdn_requests()))

        p, doc = run_json(["--cache", self.cache, "status"], cwd=self.tmp.path)
        self.assertExit(p, 0)
        self.assertEqual((doc["models"][0]["repo"], doc["models"][0]["renamed_to"]), (OLD, NEW))
        p = run_modelbake(["--cache", self.cache, "status"], cwd=self.tmp.path)
        self.assertIn("renamed to " + NEW, p.stdout)

    def test_cross_origin_api_redirect_is_refused(self):
        elsewhere = "http://localhost:%d/api/models/%s/revision/main" % (self.hub.port, NEW)
        self.hub.set_faults([{"type": "redirect", "location": elsewhere,
                              "match": "^/api/models/%s/revision/" % OLD}])
        p = self.mb("lock")
        self.assertExit(p, 3)
        self.assertIn("another server", p.stderr)
        self.assertNotIn(TOKEN, p.stderr + p.stdout)
        self.assertEqual(self.hub.requests(host="^localhost"), [])
        self.assertFalse(os.path.exists(self.tmp.join("modelbake.lock")))


class RateLimitWindow(Base):
    def test_fetch_waits_for_the_window_and_says_so(self):
        self.hub = self.start_hub(small_repo())
        write_manifest(self.manifest, [{"repo": "org/tiny"}])
        self.hub.set_faults([{"type": "rate_limit", "seconds": 2, "match": "^/api/"}])
        p = self.mb("fetch", "--no-progress")
        self.assertExit(p, 0)
        self.assertIn("rate limited", p.stderr)
        self.assertIn('"api" limit, 500 requests per 300 s', p.stderr)
        self.assertIn("as the server asked", p.stderr)
        limited = [r for r in self.hub.requests(path="^/api/") if r["status"] == 429]
        self.assertGreaterEqual(len(limited), 1)
        self.assertIsNotNone(offline_path(self.cache, "org/tiny", "model.safetensors"))

    def test_a_wait_beyond_the_cap_gives_up_at_once(self):
        self.hub = self.start_hub(small_repo())
        write_manifest(self.manifest, [{"repo": "org/tiny"}])
        self.hub.set_faults([{"type": "status", "status": 429, "count": -1, "match": "^/api/",
                              "retry_after": 3600}])
        p = self.mb("lock")
        self.assertExit(p, 3)
        self.assertIn("modelbake waits at most", p.stderr)
        self.assertEqual(len(self.hub.requests(path="^/api/")), 1)


class OfflineMode(Base):
    def setUp(self):
        super().setUp()
        self.hub = self.start_hub(small_repo(), tokens=[TOKEN])
        write_manifest(self.manifest, [{"repo": "org/tiny"}])
        self.assertExit(self.mb("fetch"), 0)
        with open(self.tmp.join("modelbake.lock"), "rb") as f:
            self.lock_bytes = f.read()
        self.hub.reset()

    def test_complete_cache_is_served_with_zero_requests(self):
        for env in ({"HF_HUB_OFFLINE": "1"}, {"TRANSFORMERS_OFFLINE": "yes"}):
            for args in (["fetch", "--locked"], ["fetch"], ["lock"]):
                p = self.mb(*args, env=env)
                self.assertExit(p, 0)
            p, doc = run_json(["--cache", self.cache, "lock"], env=dict(self.hub.env(), **env),
                              cwd=self.tmp.path)
            self.assertExit(p, 0)
            self.assertFalse(doc["locked"])
        with open(self.tmp.join("modelbake.lock"), "rb") as f:
            self.assertEqual(f.read(), self.lock_bytes)
        self.assertEqual(self.hub.requests(), [])

    def test_anything_missing_is_an_error_naming_the_variable(self):
        other = self.tmp.join("empty-cache")
        p = run_modelbake(["--cache", other, "fetch", "--locked"],
                          env=dict(self.hub.env(), HF_HUB_OFFLINE="1"), cwd=self.tmp.path)
        self.assertExit(p, 3)
        self.assertIn("HF_HUB_OFFLINE=1", p.stderr)
        self.assertIn("not in the cache", p.stderr)
        self.assertIn("config.json", p.stderr)
        write_manifest(self.manifest, [{"repo": "org/tiny", "include": ["*.json"]}])
        for args in (["fetch"], ["lock"]):
            p = self.mb(*args, env={"TRANSFORMERS_OFFLINE": "1"})
            self.assertExit(p, 3)
            self.assertIn("TRANSFORMERS_OFFLINE=1", p.stderr)
            self.assertIn("does not match the manifest", p.stderr)
        # HF_HUB_OFFLINE=0 wins over TRANSFORMERS_OFFLINE, as in huggingface_hub.
        self.assertEqual(self.hub.requests(), [])
        self.assertExit(self.mb("lock", env={"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"}), 0)
        self.assertNotEqual(self.hub.requests(), [])


    def test_repair_that_needs_the_hub_is_refused_offline(self):
        blob = os.path.realpath(offline_path(self.cache, "org/tiny", "model.safetensors"))
        os.chmod(blob, 0o644)
        with open(blob, "r+b") as f:
            first = f.read(1)
            f.seek(0)
            f.write(bytes([first[0] ^ 0xFF]))
        p = self.mb("verify", "--repair", env={"HF_HUB_OFFLINE": "1"})
        self.assertExit(p, 3)
        self.assertIn("HF_HUB_OFFLINE=1", p.stderr)
        self.assertEqual(self.hub.requests(), [])


class TokenAndPaths(Base):
    def test_disable_implicit_token_sends_none(self):
        self.hub = self.start_hub(small_repo("org/gated", gated=True), tokens=[TOKEN])
        write_manifest(self.manifest, [{"repo": "org/gated"}])
        p = self.mb("lock", env={"HF_HUB_DISABLE_IMPLICIT_TOKEN": "1"})
        self.assertExit(p, 4)
        self.assertFalse(any(r["authorization"] for r in self.hub.requests()))
        self.assertExit(self.mb("lock"), 0)

    def test_cache_variables_are_expanded_like_huggingface_hub(self):
        self.hub = self.start_hub(small_repo())
        write_manifest(self.manifest, [{"repo": "org/tiny"}])
        home = self.tmp.join("home")
        os.makedirs(home)
        p = self.mb("fetch", cache=False,
                    env={"HOME": home, "MB_SCRATCH": self.tmp.join("scratch"),
                         "HF_HUB_CACHE": "$MB_SCRATCH/hub-cache"})
        self.assertExit(p, 0)
        self.assertIsNotNone(offline_path(self.tmp.join("scratch", "hub-cache"), "org/tiny", "config.json"))
        p = self.mb("fetch", cache=False, env={"HOME": home, "HF_HOME": "~/hf"})
        self.assertExit(p, 0)
        self.assertIsNotNone(offline_path(os.path.join(home, "hf", "hub"), "org/tiny", "config.json"))
        self.assertFalse(os.path.exists(self.tmp.join("$MB_SCRATCH")))
        self.assertFalse(os.path.exists(self.tmp.join("~")))


class Deadlines(Base):
    def test_dripping_tree_page_hits_the_metadata_deadline(self):
        repo = RepoBuilder("org/many")
        for i in range(300):
            repo.add_file("files/file-%03d.txt" % i, b"%d\n" % i)
        self.hub = self.start_hub(repo)
        write_manifest(self.manifest, [{"repo": "org/many"}])
        self.hub.set_faults([{"type": "slow", "bytes_per_sec": 2048, "match": "/tree/", "count": -1}])
        p = self.mb("lock", "--metadata-timeout", "2", "--retries", "0")
        self.assertExit(p, 3)
        self.assertIn("timed out", p.stderr.lower())
        self.assertFalse(os.path.exists(self.tmp.join("modelbake.lock")))


if __name__ == "__main__":
    unittest.main()
