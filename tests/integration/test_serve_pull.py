"""modelbake serve --upstream: an empty cache in front of the test hub. Misses are fetched once
(verified, into the cache) however many clients ask; upstream faults never reach a client as
bad bytes; gated repos need a mirror token; SIGTERM while clients wait."""

import hashlib
import http.client
import os
import signal
import threading
import unittest

from mbserve import Mirror
from mbtest import MbTestCase, RepoBuilder, pseudo_random_bytes, run_modelbake, sha256_hex, write_manifest

BIG = 64 << 20


class ServePullThrough(MbTestCase):
    """--upstream: an empty cache in front of the test hub."""

    def setUp(self):
        super().setUp()
        self.big = RepoBuilder("org/big")
        self.big.add_file("config.json", b'{"big": true}\n')
        self.big.add_file("weights.bin", pseudo_random_bytes(BIG, seed=7), lfs=True)
        self.big.commit("init")
        self.gated = RepoBuilder("org/gated", gated=True)
        self.gated.add_file("config.json", b'{"gated": true}\n')
        self.gated.commit("init")
        self.hub = self.start_hub(self.big, self.gated, tokens=["hf_upstream_token"])
        self.cache = self.tmp.join("cache")
        self.weights = self.big.files_at()["weights.bin"].data

    def start(self, *args):
        m = Mirror(self.cache, "--upstream", self.hub.url, *args, env={"HF_TOKEN": "hf_upstream_token"})
        self.addCleanup(m.stop)
        return m

    def parallel_get(self, mirror, target, n, headers=None):
        results = [None] * n

        def get(i):
            try:
                results[i] = mirror.request("GET", target, headers, timeout=120)
            except Exception as e:  # noqa: BLE001 - reported by the assertions
                results[i] = e

        threads = [threading.Thread(target=get, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        return results

    def test_concurrent_clients_share_one_upstream_download(self):
        m = self.start()
        for st, h, body in self.parallel_get(m, "/org/big/resolve/main/weights.bin", 4):
            self.assertEqual((st, len(body)), (200, BIG))
            self.assertEqual(hashlib.sha256(body).hexdigest(), sha256_hex(self.weights))
            self.assertEqual(h["x-repo-commit"], self.big.resolve("main"))
        self.assertEqual(len(self.hub.requests(path="/resolve/.*/weights.bin$")), 1)
        cdn = self.hub.requests(path="^/cdn/" + sha256_hex(self.weights), method="GET")
        self.assertEqual(len(cdn), 1, cdn)
        # Into the cache like any fetch: verified object, blob link, snapshot link, refs/main.
        with open(os.path.join(self.cache, "models--org--big", "refs", "main")) as f:
            self.assertEqual(f.read(), self.big.resolve("main"))
        sha = sha256_hex(self.weights)
        self.assertTrue(os.path.isfile(os.path.join(self.cache, ".locks/modelbake/objects/sha256", sha[:2], sha[2:])))
        # The next client is a hit: no new upstream request for the file.
        self.hub.reset()
        st, _, body = m.request("GET", "/org/big/resolve/main/weights.bin", {"Range": "bytes=0-9"})
        self.assertEqual((st, body), (206, self.weights[:10]))
        self.assertEqual(self.hub.requests(path="weights.bin"), [])
        _, _, metrics = m.request("GET", "/metrics")
        self.assertIn("modelbake_serve_upstream_downloads_total 1", metrics.decode())

    def test_listings_and_regular_files_come_from_upstream(self):
        m = self.start()
        st, _, doc = m.json("/api/models/org/big/revision/main")
        self.assertEqual((st, doc["sha"]), (200, self.big.resolve("main")))
        self.assertEqual(sorted(s["rfilename"] for s in doc["siblings"]), ["config.json", "weights.bin"])
        st, _, body = m.request("GET", "/org/big/resolve/main/config.json")
        self.assertEqual((st, body), (200, b'{"big": true}\n'))
        st, h, _ = m.request("GET", "/org/big/resolve/main/nope.txt")
        self.assertEqual((st, h.get("x-error-code")), (404, "EntryNotFound"))
        st, h, _ = m.request("GET", "/org/nope/resolve/main/x")
        self.assertEqual((st, h.get("x-error-code")), (404, "RepoNotFound"))
        # modelbake through the pull-through mirror: the same lock as straight from the hub.
        project = self.tmp.join("p")
        os.makedirs(project)
        write_manifest(os.path.join(project, "modelbake.yaml"), [{"repo": "org/big", "include": ["*.json"]}])
        proc = run_modelbake(["--cache", self.tmp.join("c2"), "--endpoint", m.url, "fetch"], cwd=project)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_upstream_faults_are_retried_and_bad_bytes_never_served(self):
        m = self.start()
        sha = sha256_hex(self.weights)
        self.hub.set_faults([{"type": "drop", "match": "^/cdn/" + sha, "after_bytes": 1 << 20, "count": 2}])
        for st, _, body in self.parallel_get(m, "/org/big/resolve/main/weights.bin", 4):
            self.assertEqual((st, hashlib.sha256(body).hexdigest()), (200, sha))
        self.assertEqual(len(self.hub.requests(path="/resolve/.*/weights.bin$")), 1)
        # Corrupt bytes upstream: the download fails verification, clients get an error, not bytes.
        cfg = "/org/big/resolve/main/config.json"
        self.hub.set_faults([{"type": "corrupt", "match": "/resolve/.*/config.json$", "count": -1}])
        for r in self.parallel_get(m, cfg, 3):
            self.assertEqual(r[0], 502, r)
        self.assertFalse(os.path.exists(os.path.join(self.cache, "models--org--big", "snapshots",
                                                     self.big.resolve("main"), "config.json")))
        self.hub.clear_faults()
        self.assertEqual(m.request("GET", cfg)[2], b'{"big": true}\n')

    def test_gated_repos_need_a_mirror_token(self):
        m = self.start()
        st, h, _ = m.request("GET", "/org/gated/resolve/main/config.json")
        self.assertEqual((st, h.get("x-error-code")), (401, "GatedRepo"))
        st, h, _ = m.request("GET", "/api/models/org/gated/revision/main")
        self.assertEqual((st, h.get("x-error-code")), (401, "GatedRepo"))
        self.assertEqual(self.hub.requests(path="/resolve/.*gated", method="GET"), [])
        tokens = self.tmp.join("tokens")
        with open(tokens, "w") as f:
            f.write("mirror-client-token\n")
        m2 = self.start("--token-file", tokens)
        auth = {"Authorization": "Bearer mirror-client-token"}
        self.assertEqual(m2.request("GET", "/org/gated/resolve/main/config.json")[0], 401)
        st, _, body = m2.request("GET", "/org/gated/resolve/main/config.json", auth)
        self.assertEqual((st, body), (200, b'{"gated": true}\n'))
        # Cached now; the first mirror (no tokens) still refuses it.
        self.assertEqual(m.request("GET", "/org/gated/resolve/main/config.json")[0], 401)
        self.assertNotIn("hf_upstream_token", m2.stderr() + m.stderr())
        # The operator may opt out.
        m3 = self.start("--serve-gated-anonymously")
        st, _, body = m3.request("GET", "/org/gated/resolve/main/config.json")
        self.assertEqual((st, body), (200, b'{"gated": true}\n'))

    def test_offline_mode_refuses_upstream(self):
        proc = run_modelbake(["--cache", self.cache, "serve", "--listen", "127.0.0.1:0",
                              "--upstream", self.hub.url], env={"HF_HUB_OFFLINE": "1"})
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("HF_HUB_OFFLINE", proc.stderr)
        self.assertEqual(self.hub.requests(), [])

    def test_sigterm_while_clients_wait_for_upstream(self):
        sha = sha256_hex(self.weights)
        self.hub.set_faults([{"type": "slow", "match": "^/cdn/" + sha, "bytes_per_sec": 4 << 20}])
        m = Mirror(self.cache, "--upstream", self.hub.url, "--grace", "1", env={"HF_TOKEN": "hf_upstream_token"})
        results = []

        def get():
            try:
                results.append(m.request("GET", "/org/big/resolve/main/weights.bin", timeout=60))
            except (http.client.HTTPException, OSError) as e:
                results.append(e)

        t = threading.Thread(target=get)
        t.start()
        self.wait_until(lambda: self.hub.requests(path="^/cdn/"))
        self.assertEqual(m.stop(signal.SIGTERM), 0)
        t.join(60)
        # Still waiting for the first bytes: 503. Already streaming them: cut short of its
        # Content-Length (never a whole response, the download was not verified).
        if isinstance(results[0], tuple):
            self.assertEqual(results[0][0], 503)
        else:
            self.assertIsInstance(results[0], http.client.IncompleteRead)
        self.assertIn("resumable", m.stderr())
        snap = os.path.join(self.cache, "models--org--big", "snapshots", self.big.resolve("main"), "weights.bin")
        self.assertFalse(os.path.lexists(snap))


if __name__ == "__main__":
    unittest.main()
