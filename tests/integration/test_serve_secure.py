"""modelbake serve exposed to hostile or unauthorised clients: repos gated upstream stay behind
the mirror's token (cache and pull-through), hidden repos look absent in /health, upstream work
never holds a server thread, and a blob that failed its proof is not hashed again."""

import json
import os
import re
import select
import socket
import threading
import time
import unittest

from mbserve import Mirror
from mbtest import MbTestCase, RepoBuilder, git_blob_sha1, make_cache, run_modelbake, write_manifest

TOKEN = "hf_upstream_token"


def small(repo_id, **kw):
    r = RepoBuilder(repo_id, **kw)
    r.add_file("config.json", ('{"repo": "%s"}\n' % repo_id).encode())
    r.commit("init")
    return r


class GatedInTheCache(MbTestCase):
    """A cache filled by `modelbake fetch` with a token: what was gated upstream stays gated."""

    def setUp(self):
        super().setUp()
        self.gated = small("org/gated", gated="manual")
        self.public = small("org/public")
        self.hub = self.start_hub(self.gated, self.public, tokens=[TOKEN])
        self.cache = self.tmp.join("cache")
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/gated"}, {"repo": "org/public"}])
        p = run_modelbake(["--cache", self.cache, "fetch"], env=self.hub.env(token=TOKEN), cwd=self.tmp.path)
        self.assertEqual(p.returncode, 0, p.stderr)

    def start(self, *args):
        m = Mirror(self.cache, *args)
        self.addCleanup(m.stop)
        return m

    def test_gated_repo_needs_a_mirror_token(self):
        m = self.start()
        for target in ("/org/gated/resolve/main/config.json", "/api/models/org/gated/revision/main",
                       "/api/models/org/gated/tree/main"):
            st, h, body = m.request("GET", target)
            self.assertEqual((st, h.get("x-error-code")), (401, "GatedRepo"), target)
            self.assertNotIn(b"org/gated\"}", body)
        # Fetched with the same token, but public upstream: served to anyone.
        st, _, body = m.request("GET", "/org/public/resolve/main/config.json")
        self.assertEqual((st, body), (200, b'{"repo": "org/public"}\n'))
        st, _, doc = m.json("/api/models/org/public/revision/main")
        self.assertEqual((st, doc["gated"]), (200, False))

    def test_clients_with_a_mirror_token_see_it_gated(self):
        tokens = self.tmp.join("tokens")
        with open(tokens, "w") as f:
            f.write("mirror-client\n")
        m = self.start("--token-file", tokens)
        auth = {"Authorization": "Bearer mirror-client"}
        st, _, body = m.request("GET", "/org/gated/resolve/main/config.json", auth)
        self.assertEqual((st, body), (200, b'{"repo": "org/gated"}\n'))
        st, _, doc = m.json("/api/models/org/gated/revision/main", headers=auth)
        self.assertEqual((st, doc["gated"]), (200, "auto"))

    def test_operator_may_opt_out(self):
        m = self.start("--serve-gated-anonymously")
        st, _, body = m.request("GET", "/org/gated/resolve/main/config.json")
        self.assertEqual((st, body), (200, b'{"repo": "org/gated"}\n'))


class HealthHidesWhatAllowHides(MbTestCase):
    def test_health_lists_only_allowed_repos_and_no_path(self):
        cache = self.tmp.join("cache")
        make_cache(cache, [small("org/shown"), small("secret/hidden")])
        m = Mirror(cache, "--allow", "org/*")
        self.addCleanup(m.stop)
        st, _, body = m.request("GET", "/health")
        self.assertEqual(st, 200)
        doc = json.loads(body)
        self.assertEqual(doc["repos"], [{"type": "model", "repo": "org/shown"}])
        self.assertNotIn(b"secret", body)
        self.assertNotIn(os.path.abspath(cache).encode(), body)
        self.assertNotIn("cache", doc)


class FailedProofIsRemembered(MbTestCase):
    def test_a_corrupt_blob_is_hashed_once(self):
        cache = self.tmp.join("cache")
        repo = small("org/m")
        make_cache(cache, [repo])
        data = repo.files_at()["config.json"].data
        blob = os.path.join(cache, "models--org--m", "blobs", git_blob_sha1(data))
        os.unlink(blob)
        with open(blob, "wb") as f:
            f.write(b"X" * len(data))
        m = Mirror(cache)
        self.addCleanup(m.stop)
        for _ in range(4):
            self.assertEqual(m.request("GET", "/org/m/resolve/main/config.json")[0], 500)
        _, _, metrics = m.request("GET", "/metrics")
        self.assertIn("modelbake_serve_verify_hashes_total 1\n", metrics.decode())


class UpstreamNeverBlocksServerThreads(MbTestCase):
    def test_cached_files_and_health_while_upstream_hangs(self):
        cached, slow = small("org/cached"), small("org/slow")
        hub = self.start_hub(cached, slow, tokens=[TOKEN])
        cache = self.tmp.join("cache")
        m = Mirror(cache, "--upstream", hub.url, "--threads", "2", env={"HF_TOKEN": TOKEN})
        self.addCleanup(m.stop)
        self.assertEqual(m.request("GET", "/org/cached/resolve/main/config.json")[0], 200)
        # Every upstream call about org/slow now hangs (as under a long rate-limit wait).
        hub.set_faults([{"type": "hang", "match": "org/slow", "seconds": 300, "count": -1}])
        stuck = []
        for _ in range(6):  # more than the server has threads
            t = threading.Thread(target=lambda: stuck.append(
                self.request_or_error(m, "/api/models/org/slow/revision/main")), daemon=True)
            t.start()
        self.wait_until(lambda: len(hub.requests(path="org/slow")) >= 1)
        for target in ("/org/cached/resolve/main/config.json", "/health"):
            st, _, _ = m.request("GET", target, timeout=20)
            self.assertEqual(st, 200, target)
        hub.clear_faults()

    @staticmethod
    def request_or_error(m, target):
        try:
            return m.request("GET", target, timeout=400)
        except Exception as e:  # noqa: BLE001 - the server is stopped under it
            return e


class Slowloris(MbTestCase):
    """One address holding hundreds of connections that drip header lines: each client address
    gets a bounded share, dripping does not extend a header's deadline, others are served."""

    ATTACKERS = 300

    def test_dripping_client_gets_a_bounded_share_and_its_deadline(self):
        cache = self.tmp.join("cache")
        make_cache(cache, [small("org/m")])
        m = Mirror(cache, "--header-timeout", "2", "--idle-timeout", "600",
                   "--max-connections-per-client", "32")
        self.addCleanup(m.stop)
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(self.ATTACKERS):  # from 127.0.0.2: its own address, its own share
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.2", 0))
            s.connect((m.host, m.port))
            socks.append(s)
        drip = Dripper(socks)
        drip.start()
        self.addCleanup(drip.stop)
        for _ in range(3):
            st, _, body = m.request("GET", "/org/m/resolve/main/config.json", timeout=30)
            self.assertEqual((st, body), (200, b'{"repo": "org/m"}\n'))
        _, _, metrics = m.request("GET", "/metrics")
        open_now = int(re.search(r"^modelbake_serve_connections (\d+)$", metrics.decode(), re.M).group(1))
        # The attacker's share, plus this client's 4 connections (closing ones may still count).
        self.assertLessEqual(open_now, 32 + 4)
        # Dripping a header line every 0.2 s does not keep a connection past its deadline
        # (the idle timeout is 600 s): the server closes every one of them.
        self.wait_until(lambda: drip.open_count() == 0, timeout=60)


class Dripper(threading.Thread):
    """Sends one header line on every open socket every 0.2 s, forever; notes which ones the
    server closed."""

    def __init__(self, socks):
        super().__init__(daemon=True)
        self.socks, self.closed, self.halt = socks, set(), threading.Event()
        self.lock = threading.Lock()
        for s in socks:
            self.send(s, b"GET /org/m/resolve/main/config.json HTTP/1.1\r\nHost: x\r\n")

    def send(self, s, data):
        try:
            readable, _, _ = select.select([s], [], [], 0)
            if readable:  # EOF or an answer: the server gave up on this request
                raise OSError("closed by the server")
            s.sendall(data)
        except OSError:
            with self.lock:
                self.closed.add(s)

    def open_count(self):
        with self.lock:
            return len(self.socks) - len(self.closed)

    def run(self):
        while not self.halt.wait(0.2):
            for s in self.socks:
                if s not in self.closed:
                    self.send(s, b"X-Drip: 1\r\n")

    def stop(self):
        self.halt.set()
        self.join(10)


if __name__ == "__main__":
    unittest.main()
