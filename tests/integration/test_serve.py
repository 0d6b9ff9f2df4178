"""modelbake serve: a cache filled by `modelbake fetch` from the test hub, served as a hub
mirror. Real clients read through it (@huggingface/hub, modelbake itself, raw HTTP); hostile
requests are refused without disturbing other clients; SIGTERM stops it cleanly."""

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import unittest

from mbserve import Mirror
from mbtest import (MbTestCase, RepoBuilder, TempDir, TestHub, describe_tree, git_blob_sha1,
                    make_cache, pseudo_random_bytes, run_modelbake, sha256_hex, source_dir,
                    write_manifest)

COMPAT = os.path.join(source_dir(), "tests", "compat")
META = ".locks/modelbake/meta"


def tiny_repo():
    r = RepoBuilder("org/tiny")
    r.add_file("config.json", b'{"hidden_size": 8}\n')
    r.add_file("README.md", b"# tiny\n")
    r.add_file("1_Pooling/config.json", b'{"pooling": "mean"}\n')
    r.add_file("model.safetensors", pseudo_random_bytes(300_000, seed=1), lfs=True)
    r.add_file("onnx/model.onnx", pseudo_random_bytes(5000, seed=2), lfs=True)
    r.commit("init")
    r.tag("v1.0")
    return r


def data_repo():
    d = RepoBuilder("org/data", type="dataset")
    d.add_file("train.csv", b"a,b\n1,2\n")
    d.commit("init")
    return d


MODELS = [{"repo": "org/tiny", "as": "tiny"},
          {"repo": "org/tiny", "revision": "v1.0", "as": "tiny-v1"},
          {"repo": "org/data", "type": "dataset", "as": "data"}]


class ServeFetchedCache(unittest.TestCase):
    """One hub, one cache filled by `modelbake fetch`, one mirror for the class."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir()
        cls.tiny, cls.data = tiny_repo(), data_repo()
        cls.hub = TestHub([cls.tiny, cls.data]).start()
        cls.project = cls.tmp.join("project")
        os.makedirs(cls.project)
        cls.cache = cls.tmp.join("cache")
        write_manifest(os.path.join(cls.project, "modelbake.yaml"), MODELS)
        proc = run_modelbake(["--cache", cls.cache, "fetch"], env=cls.hub.env(), cwd=cls.project)
        if proc.returncode != 0:
            raise RuntimeError("fetch failed: " + proc.stderr)
        cls.commit = cls.tiny.resolve("main")
        cls.mirror = Mirror(cls.cache)

    @classmethod
    def tearDownClass(cls):
        cls.mirror.stop()
        cls.hub.stop()
        cls.tmp.cleanup()

    def snapshot_bytes(self, cache, repo, commit, repo_type="model"):
        folder = "%ss--%s" % (repo_type, repo.replace("/", "--"))
        root = os.path.join(cache, folder, "snapshots", commit)
        out = {}
        for dirpath, _, files in os.walk(root):
            for name in files:
                full = os.path.join(dirpath, name)
                with open(full, "rb") as f:
                    out[os.path.relpath(full, root)] = f.read()
        return out

    # ---- (a) @huggingface/hub ------------------------------------------------------------

    @unittest.skipUnless(shutil.which("node"), "node is not installed")
    def test_huggingface_js_downloads_identical_bytes(self):
        if not os.path.isdir(os.path.join(COMPAT, "node_modules", "@huggingface", "hub")):
            self.fail("@huggingface/hub is not installed: run `npm ci --prefix tests/compat`")
        want = self.snapshot_bytes(self.cache, "org/tiny", self.commit)
        self.assertEqual(len(want), 5)
        for repo, typ, commit, one in [("org/tiny", "model", self.commit, "model.safetensors"),
                                       ("datasets/org/data", "dataset", self.data.resolve("main"),
                                        "train.csv")]:
            name = repo.split("/", 1)[1] if typ == "dataset" else repo
            out_cache, out_file = self.tmp.join("js-" + typ), self.tmp.join("js-%s.bin" % typ)
            proc = subprocess.run(["node", os.path.join(COMPAT, "serve_download.mjs"), self.mirror.url,
                                   repo, out_cache, one, out_file],
                                  capture_output=True, text=True, timeout=120)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            folder = json.loads(proc.stdout.strip().splitlines()[-1])["folder"]
            self.assertTrue(folder.endswith(commit), folder)
            expected = self.snapshot_bytes(self.cache, name, commit, typ)
            self.assertEqual(self.snapshot_bytes(out_cache, name, commit, typ), expected)
            with open(out_file, "rb") as f:
                self.assertEqual(f.read(), expected[one])

    # ---- (b) modelbake through the mirror --------------------------------------------------

    def test_modelbake_lock_and_fetch_through_mirror_give_identical_cache_and_lock(self):
        project, cache = self.tmp.join("p-mirror"), self.tmp.join("c-mirror")
        os.makedirs(project)
        write_manifest(os.path.join(project, "modelbake.yaml"), MODELS)
        for cmd in (["lock"], ["fetch", "--locked"]):
            proc = run_modelbake(["--cache", cache, "--endpoint", self.mirror.url] + cmd, cwd=project)
            self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(project, "modelbake.lock"), "rb") as a, \
                open(os.path.join(self.project, "modelbake.lock"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        got = {k: v for k, v in describe_tree(cache).items() if not k.startswith(META)}
        want = {k: v for k, v in describe_tree(self.cache).items() if not k.startswith(META)}
        self.assertEqual(got, want)

    # ---- (c) HEAD, Range and the hub's headers ---------------------------------------------

    def test_head_of_lfs_and_regular_files(self):
        data = self.tiny.files_at()["model.safetensors"].data
        st, h, body = self.mirror.request("HEAD", "/org/tiny/resolve/main/model.safetensors")
        self.assertEqual(st, 200)
        self.assertEqual(body, b"")
        self.assertEqual(h["x-repo-commit"], self.commit)
        self.assertEqual(h["x-linked-etag"], '"%s"' % sha256_hex(data))
        self.assertEqual(h["x-linked-size"], str(len(data)))
        self.assertEqual(h["content-length"], str(len(data)))
        self.assertEqual(h["accept-ranges"], "bytes")
        cfg = self.tiny.files_at()["config.json"].data
        st, h, _ = self.mirror.request("HEAD", "/org/tiny/resolve/v1.0/config.json")
        self.assertEqual(st, 200)
        self.assertEqual(h["etag"], '"%s"' % git_blob_sha1(cfg))
        self.assertNotIn("x-linked-etag", h)
        self.assertEqual(h["content-length"], str(len(cfg)))

    def test_ranges(self):
        data = self.tiny.files_at()["model.safetensors"].data
        path = "/org/tiny/resolve/%s/model.safetensors" % self.commit
        st, h, body = self.mirror.request("GET", path, {"Range": "bytes=10-19"})
        self.assertEqual((st, body), (206, data[10:20]))
        self.assertEqual(h["content-range"], "bytes 10-19/%d" % len(data))
        st, h, body = self.mirror.request("GET", path, {"Range": "bytes=-7"})
        self.assertEqual((st, body), (206, data[-7:]))
        st, h, body = self.mirror.request("GET", path, {"Range": "bytes=299990-"})
        self.assertEqual((st, body), (206, data[299990:]))
        st, h, _ = self.mirror.request("GET", path, {"Range": "bytes=%d-" % len(data)})
        self.assertEqual(st, 416)
        self.assertEqual(h["content-range"], "bytes */%d" % len(data))
        st, h, body = self.mirror.request("GET", path, {"Range": "bytes=0-1,5-6"})  # ignored
        self.assertEqual((st, body), (200, data))

    def test_curl_resumes_a_download(self):
        if not shutil.which("curl"):
            self.skipTest("curl is not installed")
        data = self.tiny.files_at()["model.safetensors"].data
        out = self.tmp.join("curl.bin")
        with open(out, "wb") as f:
            f.write(data[:1000])
        subprocess.run(["curl", "-sSf", "-C", "-", "-o", out,
                        self.mirror.url + "/org/tiny/resolve/main/model.safetensors"], check=True, timeout=60)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), data)

    def test_api_documents(self):
        st, _, doc = self.mirror.json("/api/models/org/tiny/revision/main?blobs=true")
        self.assertEqual(st, 200)
        self.assertEqual(doc["sha"], self.commit)
        sib = {s["rfilename"]: s for s in doc["siblings"]}
        self.assertEqual(sorted(sib), sorted(self.tiny.files_at()))
        data = self.tiny.files_at()["model.safetensors"].data
        self.assertEqual(sib["model.safetensors"]["lfs"]["sha256"], sha256_hex(data))
        self.assertEqual(sib["README.md"]["blobId"], git_blob_sha1(b"# tiny\n"))
        st, _, tree = self.mirror.json("/api/models/org/tiny/tree/main/onnx")
        self.assertEqual([(e["type"], e["path"]) for e in tree], [("file", "onnx/model.onnx")])
        st, _, tree = self.mirror.json("/api/models/org/tiny/tree/main")
        self.assertEqual([e["path"] for e in tree],
                         ["1_Pooling", "README.md", "config.json", "model.safetensors", "onnx"])
        body = b"paths=config.json&paths=onnx&paths=missing&expand=true"
        st, _, raw = self.mirror.request("POST", "/api/models/org/tiny/paths-info/main", body=body,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        info = json.loads(raw)
        self.assertEqual([(e["type"], e["path"]) for e in info], [("file", "config.json"), ("directory", "onnx")])
        self.assertEqual(info[0]["lastCommit"]["id"], self.commit)
        st, _, doc = self.mirror.json("/api/datasets/org/data/revision/main")
        self.assertEqual(doc["siblings"], [{"rfilename": "train.csv"}])

    def test_tree_pages_follow_link_headers(self):
        paged = Mirror(self.cache, "--page-size", "2")
        self.addCleanup(paged.stop)
        target, seen, pages = "/api/models/org/tiny/tree/main?recursive=true&expand=false", [], 0
        while target:
            st, h, page = paged.json(target)
            self.assertEqual(st, 200)
            self.assertLessEqual(len(page), 2)
            seen += page
            pages += 1
            link = h.get("link")
            if link:
                url = link.split(";")[0].strip("<>")
                self.assertTrue(url.startswith(paged.url), url)
                target = url[len(paged.url):]
            else:
                target = None
        _, _, full = self.mirror.json("/api/models/org/tiny/tree/main?recursive=true")
        self.assertEqual(seen, full)
        self.assertEqual(pages, 4)  # 7 entries (5 files, 2 folders)

    def test_hub_error_codes(self):
        cases = [("/org/nope/resolve/main/config.json", 404, "RepoNotFound"),
                 ("/org/tiny/resolve/nobranch/config.json", 404, "RevisionNotFound"),
                 ("/org/tiny/resolve/%s/config.json" % ("0" * 40), 404, "RevisionNotFound"),
                 ("/org/tiny/resolve/main/nope.json", 404, "EntryNotFound"),
                 ("/api/models/org/tiny/revision/nobranch", 404, "RevisionNotFound"),
                 ("/api/datasets/org/tiny/revision/main", 404, "RepoNotFound")]
        for target, status, code in cases:
            st, h, _ = self.mirror.request("GET", target)
            self.assertEqual((st, h.get("x-error-code")), (status, code), target)
        st, h, _ = self.mirror.request("GET", "/org/tiny/resolve/main/nope.json")
        self.assertEqual(h["x-repo-commit"], self.commit)
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            st, h, _ = self.mirror.request(method, "/org/tiny/resolve/main/config.json", body=b"x")
            self.assertEqual(st, 405, method)
        st, _, _ = self.mirror.request("POST", "/org/tiny/resolve/main/config.json", body=b"")
        self.assertEqual(st, 405)

    def test_health_metrics_and_access_log(self):
        st, _, doc = self.mirror.json("/health")
        self.assertEqual(st, 200)
        self.assertTrue(doc["ready"])
        self.assertIn({"type": "dataset", "repo": "org/data"}, doc["repos"])
        self.mirror.request("GET", "/org/tiny/resolve/main/README.md")
        st, h, text = self.mirror.request("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn("text/plain", h["content-type"])
        self.assertRegex(text.decode(), r'modelbake_serve_requests_total\{route="resolve",status="200"\} \d+')
        self.assertRegex(text.decode(), r"modelbake_serve_bytes_sent_total \d+")
        line = '"GET /org/tiny/resolve/main/README.md" 200 7 '
        self.assertIn(line, self.mirror.stderr_once_it_has(line))

    # ---- (f) hostile requests --------------------------------------------------------------

    def test_traversal_in_repo_revision_and_path_is_refused(self):
        targets = ["/..%2F..%2Fetc/resolve/main/passwd",
                   "/org/..%2F..%2F..%2Fetc/resolve/main/passwd",
                   "/org/tiny/resolve/..%2F..%2F..%2F/config.json",
                   "/org/tiny/resolve/main/..%2F..%2F..%2Frefs/main",
                   "/org/tiny/resolve/main/../../blobs/x",
                   "/org/tiny/resolve/main/%2Fetc%2Fpasswd",
                   "/org/tiny/resolve/main/a%00b",
                   "/org/tiny/resolve/main/bad%zz",
                   "/api/models/org/tiny/tree/main/..%2F..",
                   "/api/models/..%2F..%2Fx/revision/main",
                   "/api/models/org/tiny/revision/..%2F..%2F..%2Fsnapshots"]
        for t in targets:
            st, _, body = self.mirror.request("GET", t)
            self.assertTrue(400 <= st < 500, "%s -> %d" % (t, st))
            self.assertNotIn(b"root:", body)
        # A normal request still works afterwards.
        st, _, _ = self.mirror.request("GET", "/org/tiny/resolve/main/config.json")
        self.assertEqual(st, 200)

    def test_huge_headers_get_4xx_and_others_are_served(self):
        results = []

        def huge():
            try:
                st, _, _ = self.mirror.request("GET", "/org/tiny/resolve/main/config.json",
                                               {"X-Junk": "a" * (256 * 1024)})
                results.append(st)
            except (ConnectionError, http.client.HTTPException) as e:
                results.append(e)

        threads = [threading.Thread(target=huge) for _ in range(4)]
        for t in threads:
            t.start()
        st, _, _ = self.mirror.request("GET", "/org/tiny/resolve/main/config.json")
        for t in threads:
            t.join(60)
        self.assertEqual(st, 200)
        for r in results:  # a 4xx, or the connection cut while we were still sending
            self.assertTrue(isinstance(r, Exception) or 400 <= r < 500, r)
        # Just over the 64 KiB limit: small enough to be sent whole, so the answer is readable.
        st, _, _ = self.mirror.request("GET", "/org/tiny/resolve/main/config.json", {"X-Junk": "a" * (80 * 1024)})
        self.assertIn(st, (413, 431))

    def test_slow_clients_do_not_block_others(self):
        slow = []
        for _ in range(20):  # more silent connections than the server has threads
            s = socket.create_connection((self.mirror.host, self.mirror.port))
            s.sendall(b"GET /org/tiny/resolve/main/config.json HTTP/1.1\r\nHost: x\r\n")  # never ends
            slow.append(s)
        # A reader that never reads: the server must not wait on it either.
        stalled = socket.create_connection((self.mirror.host, self.mirror.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET /org/tiny/resolve/main/model.safetensors HTTP/1.1\r\nHost: x\r\n\r\n")
        slow.append(stalled)
        try:
            for _ in range(5):
                st, _, body = self.mirror.request("GET", "/org/tiny/resolve/main/model.safetensors", timeout=10)
                self.assertEqual((st, len(body)), (200, 300_000))
        finally:
            for s in slow:
                s.close()


class ServeAccessControl(MbTestCase):
    def setUp(self):
        super().setUp()
        self.cache = self.tmp.join("cache")
        other = RepoBuilder("other/model")
        other.add_file("config.json", b"{}")
        other.commit("x")
        make_cache(self.cache, [tiny_repo(), data_repo(), other])

    def start(self, *args):
        m = Mirror(self.cache, *args)
        self.addCleanup(m.stop)
        return m

    def test_allow_patterns(self):
        m = self.start("--allow", "org/*", "--allow", "datasets/org/data")
        self.assertEqual(m.request("GET", "/org/tiny/resolve/main/config.json")[0], 200)
        self.assertEqual(m.request("GET", "/datasets/org/data/resolve/main/train.csv")[0], 200)
        st, h, _ = m.request("GET", "/other/model/resolve/main/config.json")
        self.assertEqual((st, h.get("x-error-code")), (404, "RepoNotFound"))
        st, h, _ = m.request("GET", "/api/models/other/model/revision/main")
        self.assertEqual((st, h.get("x-error-code")), (404, "RepoNotFound"))
        m2 = self.start("--allow", "other/*")
        self.assertEqual(m2.request("GET", "/datasets/org/data/resolve/main/train.csv")[0], 404)

    def test_bearer_tokens(self):
        secret = "hf_mirrorSecretToken123"
        tokens = self.tmp.join("tokens")
        with open(tokens, "w") as f:
            f.write("# mirror clients\n\n  %s  \nhf_second_token_456\n" % secret)
        m = self.start("--token-file", tokens)
        target = "/org/tiny/resolve/main/config.json"
        st, h, _ = m.request("GET", target)
        self.assertEqual(st, 401)
        self.assertIn("bearer", h["www-authenticate"].lower())
        self.assertEqual(m.request("GET", target, {"Authorization": "Bearer wrong"})[0], 401)
        self.assertEqual(m.request("GET", target, {"Authorization": "Bearer " + secret[:-1]})[0], 401)
        self.assertEqual(m.request("GET", target, {"Authorization": secret})[0], 401)
        self.assertEqual(m.request("GET", target, {"Authorization": "Bearer " + secret})[0], 200)
        self.assertEqual(m.request("GET", target, {"Authorization": "bearer hf_second_token_456"})[0], 200)
        self.assertEqual(m.request("GET", "/metrics")[0], 401)
        st, _, body = m.request("GET", "/health")  # probes need no token, and learn no repo names
        self.assertEqual(st, 200)
        self.assertNotIn("repos", json.loads(body))
        # modelbake itself: HF_TOKEN reaches the mirror; without it the fetch is an auth error.
        project = self.tmp.join("p")
        os.makedirs(project)
        write_manifest(os.path.join(project, "modelbake.yaml"), [{"repo": "org/tiny"}])
        proc = run_modelbake(["--cache", self.tmp.join("c2"), "--endpoint", m.url, "lock"], cwd=project)
        self.assertEqual(proc.returncode, 4, proc.stderr)
        proc = run_modelbake(["--cache", self.tmp.join("c2"), "--endpoint", m.url, "fetch"], cwd=project,
                             env={"HF_TOKEN": secret})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        m.stop()
        self.assertNotIn(secret, m.stderr())
        self.assertNotIn("hf_second", m.stderr())

    def test_json_access_log(self):
        m = self.start("--json")
        self.assertEqual(m.request("GET", "/org/tiny/resolve/main/config.json", {"Range": "bytes=0-3"})[0], 206)
        m.stop()
        lines = [json.loads(line) for line in m.stderr().splitlines() if line.startswith("{")]
        self.assertEqual(len(lines), 1, m.stderr())
        entry = lines[0]
        self.assertEqual((entry["method"], entry["target"], entry["route"], entry["status"], entry["bytes"],
                          entry["completed"]), ("GET", "/org/tiny/resolve/main/config.json", "resolve", 206, 4, True))

    def test_bad_options_are_usage_errors_and_a_taken_port_is_io(self):
        for args in (["--listen", "nohost:80"], ["--listen", "127.0.0.1:99999"], ["--listen", "8080"],
                     ["--upstream", "ftp://x"]):
            proc = run_modelbake(["--cache", self.cache, "serve"] + args)
            self.assertEqual(proc.returncode, 2, (args, proc.stderr))
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        self.addCleanup(taken.close)
        proc = run_modelbake(["--cache", self.cache, "serve", "--listen", "127.0.0.1:%d" % taken.getsockname()[1]])
        self.assertEqual(proc.returncode, 5, proc.stderr)

    def test_empty_token_file_is_a_usage_error(self):
        tokens = self.tmp.join("tokens")
        with open(tokens, "w") as f:
            f.write("# nobody\n")
        proc = run_modelbake(["--cache", self.cache, "serve", "--listen", "127.0.0.1:0", "--token-file", tokens])
        self.assertEqual(proc.returncode, 2, proc.stderr)


class ServeOnlyVerifiedContent(MbTestCase):
    def setUp(self):
        super().setUp()
        self.cache = self.tmp.join("cache")
        self.repo = tiny_repo()
        make_cache(self.cache, [self.repo])
        self.snap = os.path.join(self.cache, "models--org--tiny", "snapshots", self.repo.resolve("main"))
        self.blobs = os.path.join(self.cache, "models--org--tiny", "blobs")

    def replace_blob(self, etag, data):
        path = os.path.join(self.blobs, etag)
        os.unlink(path)
        with open(path, "wb") as f:
            f.write(data)

    def test_corrupt_blobs_are_not_served(self):
        files = {p: f.data for p, f in self.repo.files_at().items()}
        lfs, regular = files["model.safetensors"], files["README.md"]
        self.replace_blob(sha256_hex(lfs), b"\0" * len(lfs))          # a copy, wrong bytes
        self.replace_blob(git_blob_sha1(regular), b"# tinX\n")
        m = Mirror(self.cache)
        self.addCleanup(m.stop)
        for path in ("model.safetensors", "README.md"):
            st, _, body = m.request("GET", "/org/tiny/resolve/main/" + path)
            self.assertEqual(st, 500, path)
            self.assertNotIn(b"\0\0\0\0", body)
            self.assertNotIn(b"tinX", body)
        # A copy with the right bytes (a cache on a filesystem without hard links) is served.
        self.replace_blob(sha256_hex(lfs), lfs)
        st, _, body = m.request("GET", "/org/tiny/resolve/main/model.safetensors")
        self.assertEqual((st, body), (200, lfs))

    def test_links_leaving_blobs_are_not_served(self):
        secret = self.tmp.join("secret.txt")
        with open(secret, "w") as f:
            f.write("top secret")
        os.symlink(secret, os.path.join(self.snap, "escape.txt"))
        os.symlink(os.path.join(self.snap, "config.json"), os.path.join(self.snap, "again.json"))
        os.symlink(self.tmp.path, os.path.join(self.snap, "dirlink"))
        etag = "e" * 40
        with open(os.path.join(self.blobs, etag), "w") as f:
            f.write("not linked from a snapshot")
        m = Mirror(self.cache)
        self.addCleanup(m.stop)
        for path in ("escape.txt", "dirlink/secret.txt", "../blobs/" + etag):
            st, _, body = m.request("GET", "/org/tiny/resolve/main/" + path)
            self.assertTrue(400 <= st < 500, path)
            self.assertNotIn(b"top secret", body)
        # again.json reaches blobs/ only through another link: not the exact snapshot-link
        # shape (../../blobs/<etag>), the only link the cache door follows (issue 19).
        st, _, body = m.request("GET", "/org/tiny/resolve/main/again.json")
        self.assertEqual(st, 404)
        st, _, body = m.request("GET", "/org/tiny/resolve/main/config.json")
        self.assertEqual((st, body), (200, self.repo.files_at()["config.json"].data))
        _, _, tree = m.json("/api/models/org/tiny/tree/main?recursive=true")
        self.assertNotIn("escape.txt", [e["path"] for e in tree])


class ServeShutdown(MbTestCase):
    def test_sigterm_mid_transfer_exits_cleanly(self):
        big = RepoBuilder("org/big")
        big.add_file("weights.bin", pseudo_random_bytes(48 << 20, seed=3), lfs=True)
        big.commit("x")
        cache = self.tmp.join("cache")
        make_cache(cache, [big])
        before = describe_tree(cache)
        m = Mirror(cache, "--grace", "1")
        sock = socket.create_connection((m.host, m.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.sendall(b"GET /org/big/resolve/main/weights.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(4096)
        self.assertIn(b"200 OK", first)
        self.assertEqual(m.stop(signal.SIGTERM), 0)
        self.assertIn("stopped (SIGTERM)", m.stderr())
        received = len(first)
        sock.settimeout(10)
        while True:  # the server is gone: the body ends early, the client sees the cut
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
        sock.close()
        self.assertLess(received, 48 << 20)
        self.assertEqual(describe_tree(cache), before)
        # A new mirror on the same cache serves the whole file.
        m2 = Mirror(cache)
        self.addCleanup(m2.stop)
        st, _, body = m2.request("GET", "/org/big/resolve/main/weights.bin")
        self.assertEqual((st, hashlib.sha256(body).hexdigest()),
                         (200, sha256_hex(big.files_at()["weights.bin"].data)))

    def test_sigint_stops_an_idle_server(self):
        cache = self.tmp.join("cache")
        make_cache(cache, [data_repo()])
        m = Mirror(cache)
        self.assertEqual(m.request("GET", "/health")[0], 200)
        self.assertEqual(m.stop(signal.SIGINT), 0)


if __name__ == "__main__":
    unittest.main()
