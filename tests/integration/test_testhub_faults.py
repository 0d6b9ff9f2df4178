"""Fault injection of the test hub (tests/hub/faults.py): each fault type behaves as
documented in tests/hub/README.md, with the stdlib HTTP client only."""

import http.client
import socket
import threading
import unittest
from urllib.parse import urlsplit

import test_testhub as base
from mbtest import MbTestCase, RepoBuilder, TestHub

BIG = base.BIG
Client = base.Client


class TestFaults(MbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.hub = TestHub(base.build_repos()[:1], page_size=100).start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.stop()

    def setUp(self):
        super().setUp()
        self.hub.reset(faults=True)
        self.c = Client(self.hub.url)
        self.addCleanup(self.c.close)

    def cdn_url(self):
        resp, _ = self.c.request("HEAD", "/org/tiny/resolve/main/weights/model.safetensors")
        return resp.getheader("Location")

    def raw_get(self, url, headers=None, timeout=30):
        """Reads a response until the server closes: returns (status, headers, body bytes)."""
        u = urlsplit(url if "://" in url else self.hub.url + url)
        s = socket.create_connection((u.hostname, u.port), timeout=timeout)
        target = u.path + ("?" + u.query if u.query else "")
        lines = ["GET %s HTTP/1.1" % target, "Host: %s" % u.netloc, "Connection: close"]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1]) if head else None
        hdrs = {}
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.decode().partition(":")
            hdrs[k.strip().lower()] = v.strip()
        return status, hdrs, body

    def test_drop_mid_body(self):
        self.hub.set_faults([{"type": "drop", "match": "^/cdn/", "after_bytes": 1000}])
        url = self.cdn_url()
        status, hdrs, body = self.raw_get(url)
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["content-length"], str(len(BIG)))
        self.assertEqual(body, BIG[:1000])
        resp, body = self.c.request("GET", url)  # count 1: the next request is whole
        self.assertEqual(body, BIG)

    def test_drop_with_reset(self):
        self.hub.set_faults([{"type": "drop", "match": "config", "after_bytes": 0, "rst": True}])
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.c.request("GET", "/org/tiny/resolve/main/config.json")
            self.c.request("GET", "/org/tiny/resolve/main/config.json")

    def test_reset_without_response(self):
        self.hub.set_faults([{"type": "reset", "match": "config", "methods": ["HEAD"]}])
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            self.c.request("HEAD", "/org/tiny/resolve/main/config.json")
        self.assertIsNone(self.hub.requests()[0]["status"])
        c = Client(self.hub.url)
        self.addCleanup(c.close)
        self.assertEqual(c.request("HEAD", "/org/tiny/resolve/main/config.json")[0].status, 200)

    def test_stall_mid_body(self):
        self.hub.set_faults([{"type": "hang", "match": "^/cdn/", "after_bytes": 5000,
                              "seconds": 5}])
        u = urlsplit(self.cdn_url())
        conn = http.client.HTTPConnection(u.netloc, timeout=0.5)
        conn.request("GET", u.path + "?" + u.query)
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.read(5000), BIG[:5000])
        with self.assertRaises(socket.timeout):
            resp.read(1)
        conn.close()

    def test_corrupt_one_byte(self):
        self.hub.set_faults([{"type": "corrupt", "match": "^/cdn/", "offset": 10}])
        resp, body = self.c.request("GET", self.cdn_url())
        self.assertEqual(len(body), len(BIG))
        diff = [i for i in range(len(BIG)) if body[i] != BIG[i]]
        self.assertEqual(diff, [10])
        resp, body = self.c.request("GET", self.cdn_url(), {"Range": "bytes=100-"})
        self.assertEqual(body, BIG[100:])

    def test_status_faults_with_count(self):
        self.hub.set_faults([{"type": "status", "status": 429, "retry_after": 3,
                              "match": "/resolve/", "count": 2, "methods": ["HEAD"]}])
        path = "/org/tiny/resolve/main/config.json"
        for _ in range(2):
            resp, _ = self.c.request("HEAD", path)
            self.assertEqual((resp.status, resp.getheader("Retry-After")), (429, "3"))
        resp, _ = self.c.request("GET", path)  # method not matched
        self.assertEqual(resp.status, 200)
        resp, _ = self.c.request("HEAD", path)
        self.assertEqual(resp.status, 200)
        for code in (500, 502, 503):
            self.hub.set_faults([{"type": "status", "status": code, "match": "config"}])
            resp, _ = self.c.request("GET", path)
            self.assertEqual(resp.status, code)
        self.assertEqual(self.hub.faults_state()[0]["remaining"], 0)

    def test_ignore_range(self):
        self.hub.set_faults([{"type": "ignore_range", "match": "^/cdn/"}])
        url = self.cdn_url()
        resp, body = self.c.request("GET", url)  # no Range: fault not consumed
        self.assertEqual(resp.status, 200)
        resp, body = self.c.request("GET", url, {"Range": "bytes=10-19"})
        self.assertEqual((resp.status, body), (200, BIG))
        resp, body = self.c.request("GET", url, {"Range": "bytes=10-19"})
        self.assertEqual((resp.status, body), (206, BIG[10:20]))

    def test_slow_is_throttled_but_complete(self):
        self.hub.set_faults([{"type": "slow", "match": "part-1", "bytes_per_sec": 1000}])
        resp, body = self.c.request("GET", "/org/tiny/resolve/main/data/part-1.txt")
        self.assertEqual(body, b"part 1\n")
        self.assertEqual(self.hub.requests()[-1]["faults"], ["slow"])

    def test_expired_cdn_url_needs_re_resolve(self):
        self.hub.set_faults([{"type": "expire_cdn", "match": ""}])
        url = self.cdn_url()
        resp, _ = self.c.request("GET", url)
        self.assertEqual(resp.status, 403)
        resp, _ = self.c.request("GET", url)  # the same URL stays expired
        self.assertEqual(resp.status, 403)
        resp, body = self.c.request("GET", self.cdn_url())
        self.assertEqual((resp.status, body), (200, BIG))

    def test_cdn_ttl_and_bad_signature(self):
        url = self.cdn_url()
        resp, _ = self.c.request("GET", url.replace("sig=", "sig=0"))
        self.assertEqual(resp.status, 403)
        self.hub.set_config(cdn_ttl=-10)
        try:
            resp, _ = self.c.request("GET", self.cdn_url())
            self.assertEqual(resp.status, 403)
        finally:
            self.hub.set_config(cdn_ttl=3600)

    def test_hang_then_timeout(self):
        self.hub.set_faults([{"type": "hang", "match": "config", "seconds": 5}])
        conn = http.client.HTTPConnection("127.0.0.1", self.hub.port, timeout=0.3)
        conn.request("GET", "/org/tiny/resolve/main/config.json")
        with self.assertRaises(socket.timeout):
            conn.getresponse()
        conn.close()

    def test_parallel_ranges_and_atomic_counts(self):
        url = self.cdn_url()
        self.hub.set_faults([{"type": "status", "status": 503, "match": "^/cdn/", "count": 3,
                              "methods": ["GET"]}])
        step = 12_500
        results = {}

        def fetch(i):
            c = Client(self.hub.url)
            try:
                while True:
                    resp, body = c.request("GET", url,
                                           {"Range": "bytes=%d-%d" % (i, i + step - 1)})
                    if resp.status != 503:
                        results[i] = (resp.status, body)
                        return
                    results.setdefault("503", []).append(i)
            finally:
                c.close()

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(0, len(BIG), step)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(len(results.pop("503")), 3)
        self.assertTrue(all(status == 206 for status, _ in results.values()))
        self.assertEqual(b"".join(results[i][1] for i in sorted(results)), BIG)

    def test_host_scoped_forever_fault(self):
        self.hub.set_faults([{"type": "status", "status": 500, "host": "^localhost:",
                              "count": -1}])
        for _ in range(3):
            self.assertEqual(self.c.request("GET", self.cdn_url())[0].status, 500)
        self.assertEqual(self.hub.faults_state()[0]["hits"], 3)

    def test_skip_and_range_scoping(self):
        self.hub.set_faults([{"type": "status", "status": 502, "match": "^/cdn/",
                              "range": "^bytes=100-", "skip": 1}])
        url = self.cdn_url()
        statuses = [self.c.request("GET", url, {"Range": r})[0].status
                    for r in ("bytes=0-9", "bytes=100-109", "bytes=0-9", "bytes=100-109",
                              "bytes=100-109")]
        self.assertEqual(statuses, [206, 206, 206, 502, 206])

    def test_faults_from_start_file_and_bad_spec(self):
        hub = self.start_hub(RepoBuilder("o/r").add_file("a", b"1"),
                             faults=[{"type": "status", "status": 503, "match": "/a$"}])
        c = Client(hub.url)
        self.addCleanup(c.close)
        self.assertEqual(c.request("GET", "/o/r/resolve/main/a")[0].status, 503)
        self.assertEqual(c.request("GET", "/o/r/resolve/main/a")[1], b"1")
        with self.assertRaises(RuntimeError):
            hub.set_faults([{"type": "nonsense"}])


class TestRenameAndRateLimitFaults(MbTestCase):
    """Issue 11.5/11.6 additions: one-segment renamed ids, rate-limit windows, redirects."""

    def setUp(self):
        super().setUp()
        repo = RepoBuilder("distilbert/distilbert-base-uncased-finetuned-sst-2-english",
                           renamed_from=["distilbert-base-uncased-finetuned-sst-2-english"])
        repo.add_file("config.json", b"{}\n")
        self.hub = self.start_hub(repo, page_size=1)
        self.c = Client(self.hub.url)
        self.addCleanup(self.c.close)

    def test_one_segment_old_id_redirects_api_and_resolve(self):
        old, new = ("distilbert-base-uncased-finetuned-sst-2-english",
                    "distilbert/distilbert-base-uncased-finetuned-sst-2-english")
        resp, _ = self.c.request("GET", "/api/models/%s/revision/main" % old)
        self.assertEqual((resp.status, resp.getheader("Location")),
                         (307, "/api/models/%s/revision/main" % new))
        resp, _ = self.c.request("GET", "/api/models/%s/tree/main?recursive=true" % old)
        self.assertEqual(resp.getheader("Location"), "/api/models/%s/tree/main?recursive=true" % new)
        resp, _ = self.c.request("HEAD", "/%s/resolve/main/config.json" % old)
        self.assertEqual((resp.status, resp.getheader("Location")),
                         (307, "/%s/resolve/main/config.json" % new))
        resp, body = self.c.request("GET", "/%s/resolve/main/config.json" % new)
        self.assertEqual((resp.status, body), (200, b"{}\n"))

    def test_rate_limit_window_has_only_ietf_headers(self):
        self.hub.set_faults([{"type": "rate_limit", "seconds": 0.5, "match": "^/api/",
                              "quota": 100, "window": 60}])
        resp, _ = self.c.request("GET", "/api/models/distilbert/distilbert-base-uncased-finetuned-sst-2-english")
        self.assertEqual(resp.status, 429)
        self.assertEqual(resp.getheader("RateLimit"), '"api";r=0;t=1')
        self.assertEqual(resp.getheader("RateLimit-Policy"), '"fixed window";"api";q=100;w=60')
        self.assertIsNone(resp.getheader("Retry-After"))
        # Other paths are not limited; once the window is over the API answers again.
        self.assertEqual(self.c.request("HEAD", "/distilbert/distilbert-base-uncased-finetuned"
                                                "-sst-2-english/resolve/main/config.json")[0].status, 200)
        self.wait_until(lambda: self.c.request(
            "GET", "/api/models/distilbert/distilbert-base-uncased-finetuned-sst-2-english")[0].status == 200)
        self.assertEqual(self.hub.faults_state()[0]["remaining"], 0)

    def test_redirect_fault(self):
        self.hub.set_faults([{"type": "redirect", "location": "http://elsewhere.test/x", "match": "^/api/"}])
        resp, _ = self.c.request("GET", "/api/models/x/revision/main")
        self.assertEqual((resp.status, resp.getheader("Location")), (307, "http://elsewhere.test/x"))
        with self.assertRaises(RuntimeError):
            self.hub.set_faults([{"type": "redirect"}])
        with self.assertRaises(RuntimeError):
            self.hub.set_faults([{"type": "redirect", "location": "/x", "status": 404}])


if __name__ == "__main__":
    unittest.main()
