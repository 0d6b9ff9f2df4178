"""modelbake serve --upstream streams a miss: while the one upstream download of a file runs,
every client asking for it gets its bytes as they land, so a client with a short read timeout
(huggingface_hub waits about 10 s for each read) gets a big file from a slow upstream. Bytes
that fail verification never end a complete response and never reach the cache."""

import hashlib
import http.client
import os
import socket
import subprocess
import threading
import unittest

from mbserve import Mirror
from mbtest import MbTestCase, RepoBuilder, pseudo_random_bytes, sha256_hex

SIZE = 16 << 20
# The whole download takes about 11 s, more than twice a client's read timeout.
SLOW = 1536 << 10
READ_TIMEOUT = 5
TARGET = "/org/big/resolve/main/weights.bin"


def read_streamed(mirror, target, headers=None, timeout=READ_TIMEOUT, on_first_bytes=None):
    """(status, headers, body, error): one GET whose socket waits at most `timeout` seconds
    for each read; `error` is the exception that cut the body (None when it is whole)."""
    conn = http.client.HTTPConnection(mirror.host, mirror.port, timeout=timeout)
    try:
        conn.request("GET", target, headers=headers or {})
        resp = conn.getresponse()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        chunks, error = [], None
        try:
            while True:
                block = resp.read1(1 << 20)
                if not block:
                    break
                if not chunks and on_first_bytes:
                    on_first_bytes()
                chunks.append(block)
        except (http.client.HTTPException, OSError) as e:
            error = e
        body = b"".join(chunks)
        if error is None and "content-length" in hdrs and len(body) != int(hdrs["content-length"]):
            error = http.client.IncompleteRead(body, int(hdrs["content-length"]) - len(body))
        return resp.status, hdrs, body, error
    finally:
        conn.close()


class ServeStreamsMisses(MbTestCase):
    def setUp(self):
        super().setUp()
        self.repo = RepoBuilder("org/big")
        self.repo.add_file("weights.bin", pseudo_random_bytes(SIZE, seed=11), lfs=True)
        self.repo.commit("init")
        self.hub = self.start_hub(self.repo)
        self.cache = self.tmp.join("cache")
        self.data = self.repo.files_at()["weights.bin"].data
        self.sha = sha256_hex(self.data)

    def start(self):
        m = Mirror(self.cache, "--upstream", self.hub.url)
        self.addCleanup(m.stop)
        return m

    def cdn_gets(self):
        return self.hub.requests(path="^/cdn/" + self.sha, method="GET", settled=True)

    def test_slow_miss_streams_to_clients_with_short_read_timeouts_one_download(self):
        self.hub.set_faults([{"type": "slow", "match": "^/cdn/", "bytes_per_sec": SLOW, "count": -1}])
        m = self.start()
        # huggingface_hub's order: HEAD first (answered from upstream's listing at once), then GET.
        st, h, _ = m.request("HEAD", TARGET, timeout=READ_TIMEOUT)
        self.assertEqual((st, h.get("x-linked-etag"), h.get("content-length")),
                         (200, '"%s"' % self.sha, str(SIZE)))
        self.assertEqual(h.get("etag"), '"%s"' % self.sha)
        results = [None] * 3
        streaming = threading.Event()

        def client(i):
            try:
                results[i] = read_streamed(m, TARGET, on_first_bytes=streaming.set)
            except Exception as e:  # noqa: BLE001 - reported by the assertions
                results[i] = e

        threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        # A Range of an in-progress file, asked while the others stream.
        self.assertTrue(streaming.wait(60))
        st, h, part, err = read_streamed(m, TARGET, {"Range": "bytes=100-1048675"}, timeout=120)
        self.assertIsNone(err)
        self.assertEqual((st, h.get("content-range"), part),
                         (206, "bytes 100-1048675/%d" % SIZE, self.data[100:1048676]))
        st, h, tail, err = read_streamed(m, TARGET, {"Range": "bytes=-1000"}, timeout=120)
        self.assertIsNone(err)
        self.assertEqual((st, tail), (206, self.data[-1000:]))
        for t in threads:
            t.join(180)
        for r in results:
            self.assertIsInstance(r, tuple, r)
            st, h, body, err = r
            self.assertIsNone(err, "client timed out or was cut: %r" % (err,))
            self.assertEqual((st, h.get("content-length"), len(body)), (200, str(SIZE), SIZE))
            self.assertEqual(hashlib.sha256(body).hexdigest(), self.sha)
        self.assertEqual(len(self.cdn_gets()), 1)
        self.assertEqual(len(self.hub.requests(path="/resolve/.*/weights.bin$")), 1)
        obj = os.path.join(self.cache, ".locks/modelbake/objects/sha256", self.sha[:2], self.sha[2:])
        self.assertTrue(os.path.isfile(obj))
        # Now a hit: served from the cache.
        self.hub.reset()
        st, _, body, err = read_streamed(m, TARGET)
        self.assertEqual((st, err, hashlib.sha256(body).hexdigest()), (200, None, self.sha))
        self.assertEqual(self.hub.requests(path="weights.bin"), [])

    def test_corrupt_upstream_bytes_cut_the_stream_and_never_reach_the_cache(self):
        # The first download carries a flipped byte; the fetch engine discards it and downloads
        # again. The client streaming the first one must see a cut response, not a whole 200.
        self.hub.set_faults([
            {"type": "slow", "match": "^/cdn/", "bytes_per_sec": 4 * SLOW, "count": -1},
            {"type": "corrupt", "match": "^/cdn/", "offset": SIZE // 2},
        ])
        m = self.start()
        st, h, body, err = read_streamed(m, TARGET)
        self.assertEqual(st, 200)
        self.assertIsNotNone(err, "a response carrying unverified, corrupt bytes completed")
        self.assertLess(len(body), SIZE)
        self.assertEqual(body[:SIZE // 2], self.data[:SIZE // 2])
        # The retried download is verified and cached; the corrupt bytes never are.
        self.wait_until(lambda: len(self.cdn_gets()) >= 2, timeout=120)
        st, _, body, err = read_streamed(m, TARGET, timeout=120)
        self.assertEqual((st, err, hashlib.sha256(body).hexdigest()), (200, None, self.sha))
        objects = os.path.join(self.cache, ".locks/modelbake/objects/sha256")
        found = [d + f for d in os.listdir(objects) for f in os.listdir(os.path.join(objects, d))]
        self.assertEqual(found, [self.sha])
        self.hub.reset()
        st, _, body, err = read_streamed(m, TARGET)
        self.assertEqual((st, err, body == self.data), (200, None, True))
        self.assertEqual(self.hub.requests(path="weights.bin"), [])

    def test_a_failed_upstream_download_cuts_every_stream(self):
        # Every try is cut short upstream: the job fails, the streaming clients see a cut
        # response, and the next request starts again (and is served once upstream is well).
        self.hub.set_faults([
            {"type": "slow", "match": "^/cdn/", "bytes_per_sec": 4 * SLOW, "count": -1},
            {"type": "status", "match": "^/cdn/", "status": 404, "skip": 1, "count": -1, "methods": ["GET"]},
            {"type": "drop", "match": "^/cdn/", "after_bytes": SIZE // 4},
        ])
        m = self.start()
        st, _, body, err = read_streamed(m, TARGET, timeout=60)
        self.assertEqual(st, 200)
        self.assertIsNotNone(err)
        self.assertEqual(body, self.data[:len(body)])
        self.assertFalse(os.path.lexists(os.path.join(
            self.cache, "models--org--big", "snapshots", self.repo.resolve("main"), "weights.bin")))
        self.hub.clear_faults()
        st, _, body, err = read_streamed(m, TARGET, timeout=60)
        self.assertEqual((st, err, body == self.data), (200, None, True))

    def test_a_stream_that_gets_no_byte_for_the_idle_timeout_is_cut(self):
        # Upstream stalls mid-body (for less than the fetch engine's own stall limit): the
        # waiting stream is suspended, and cut once it went --idle-timeout without a byte.
        self.hub.set_faults([{"type": "hang", "match": "^/cdn/", "after_bytes": SIZE // 4,
                              "seconds": 10}])
        m = Mirror(self.cache, "--upstream", self.hub.url, "--idle-timeout", "2")
        self.addCleanup(m.stop)
        st, _, body, err = read_streamed(m, TARGET, timeout=60)
        self.assertEqual(st, 200)
        self.assertIsNotNone(err)
        self.assertEqual(body, self.data[:len(body)])
        self.assertIn("no byte from the download for 2 s", m.stderr_once_it_has("no byte from"))
        # The download itself goes on once upstream does (a client asking meanwhile would wait,
        # and be cut, too); then the file is a hit.
        obj = os.path.join(self.cache, ".locks/modelbake/objects/sha256", self.sha[:2], self.sha[2:])
        self.wait_until(lambda: os.path.isfile(obj), timeout=120)
        st, _, body, err = read_streamed(m, TARGET)
        self.assertEqual((st, err, body == self.data), (200, None, True))
        self.assertEqual(len(self.cdn_gets()), 1)

    def test_a_xet_download_is_streamed_as_its_terms_land(self):
        # Xet reports a term once its xorb range is written whole (a retried range rewrites
        # bytes, which must not have been sent): with small xorbs that is often enough.
        xet_hub = self.start_hub(self.repo, xet=True)
        xet_hub.set_config(xet_xorb_chunks=4)
        xet_hub.set_faults([{"type": "slow", "match": "^/cas/xorb/", "bytes_per_sec": SLOW // 8, "count": -1}])
        m = Mirror(self.cache, "--upstream", xet_hub.url)
        self.addCleanup(m.stop)
        st, h, body, err = read_streamed(m, TARGET)
        self.assertIsNone(err, "client timed out or was cut: %r %s" % (err, m.stderr()))
        self.assertEqual((st, hashlib.sha256(body).hexdigest()), (200, self.sha))
        self.assertTrue(xet_hub.requests(path="^/cas/xorb/"))
        self.assertEqual(xet_hub.requests(path="^/cdn/"), [])

    def test_a_client_streaming_a_repaired_xet_file_never_keeps_the_damaged_bytes(self):
        # A flipped byte in a stored-as-is chunk lands (and may be streamed) before the sha256
        # tells; the repair rewrites it on the Xet path. A client that was sent the damaged
        # bytes is cut; one that reads the whole body has the verified content.
        xet_hub = self.start_hub(self.repo, xet=True)
        xet_hub.set_config(xet_xorb_chunks=4)
        xet_hub.set_faults([
            {"type": "corrupt", "match": "^/cas/xorb/", "range": "^bytes=0-", "offset": 100,
             "count": 1},
            {"type": "slow", "match": "^/cas/xorb/", "bytes_per_sec": SLOW // 8, "count": -1}])
        m = Mirror(self.cache, "--upstream", xet_hub.url)
        self.addCleanup(m.stop)
        st, h, body, err = read_streamed(m, TARGET)
        if err is None:
            self.assertEqual((st, hashlib.sha256(body).hexdigest()), (200, self.sha))
        st, h, body, err = read_streamed(m, TARGET)  # from the cache now
        self.assertIsNone(err)
        self.assertEqual((st, hashlib.sha256(body).hexdigest()), (200, self.sha))
        self.assertIn("repaired on the Xet path", m.stderr())
        self.assertEqual(xet_hub.requests(path="^/cdn/"), [])

    @unittest.skipUnless(subprocess.run(["/usr/bin/python3", "-c", "import huggingface_hub"],
                                        capture_output=True).returncode == 0,
                         "huggingface_hub is not installed for /usr/bin/python3")
    def test_hf_hub_download_through_a_slow_mirror(self):
        self.hub.set_faults([{"type": "slow", "match": "^/cdn/", "bytes_per_sec": SLOW, "count": -1}])
        m = self.start()
        home = self.tmp.join("hf")
        script = ("import hashlib, sys\n"
                  "from huggingface_hub import hf_hub_download\n"
                  "p = hf_hub_download('org/big', 'weights.bin')\n"
                  "print(hashlib.sha256(open(p, 'rb').read()).hexdigest())\n")
        env = dict(os.environ, HF_ENDPOINT=m.url, HF_HOME=home, HF_HUB_DOWNLOAD_TIMEOUT="5",
                   HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DISABLE_XET="1")
        proc = subprocess.run(["/usr/bin/python3", "-c", script], env=env, capture_output=True,
                              text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), self.sha)
        self.assertEqual(len(self.cdn_gets()), 1)


if __name__ == "__main__":
    unittest.main()
