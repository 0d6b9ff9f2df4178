"""Fetch under injected faults: drops, corruption, 429/5xx, ignored Range, CDN URL expiry,
and ranged downloads of a bigger file."""

import os
import unittest

from mbtest import (MbTestCase, RepoBuilder, pseudo_random_bytes, run_modelbake, snapshot_path,
                    write_manifest)

BIG = 2 * 1024 * 1024 + 12345
RANGES = ["--range-threshold", "1048576", "--chunk-size", "262144", "--connections", "4"]


class FetchFaults(MbTestCase):
    def setUp(self):
        super().setUp()
        self.repo = RepoBuilder("org/faulty")
        self.repo.add_file("config.json", b'{"a": 1}\n' * 50)
        self.repo.add_file("weights.bin", pseudo_random_bytes(200_000, seed=3), lfs=True)
        self.repo.add_file("big.bin", pseudo_random_bytes(BIG, seed=4), lfs=True)
        self.hub = self.start_hub(self.repo)
        self.cache = self.tmp.join("cache")
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/faulty"}])

    def fetch(self, *extra):
        return run_modelbake(["--cache", self.cache, "fetch", "--retries", "3"] + RANGES + list(extra),
                             env=self.hub.env(), cwd=self.tmp.path)

    def assert_complete(self):
        for path, f in self.repo.files_at().items():
            p = snapshot_path(self.cache, "org/faulty", self.repo.head, path)
            with open(p, "rb") as fh:
                self.assertEqual(fh.read(), f.data, path)
        self.assertEqual([n for n in os.listdir(os.path.join(self.cache, ".locks/modelbake/tmp"))], [])

    def test_big_file_uses_parallel_ranges(self):
        self.assertExit(self.fetch(), 0)
        self.assert_complete()
        big = self.repo.files_at()["big.bin"]
        ranged = [r for r in self.hub.cdn_requests() if big.sha256 in r["path"] and r["range"]]
        self.assertGreaterEqual(len(ranged), 8)  # 2 MiB in 256 KiB pieces

    def test_drop_mid_body_is_resumed_with_range(self):
        self.hub.set_faults([
            {"type": "drop", "match": "^/cdn/", "after_bytes": 50_000, "count": 2},
            {"type": "drop", "match": "/resolve/.*/config.json$", "after_bytes": 100},
        ])
        self.assertExit(self.fetch(), 0)
        self.assert_complete()
        cfg = self.hub.requests(path="/resolve/.*/config.json$", method="GET")
        self.assertEqual(len(cfg), 2)
        self.assertEqual(cfg[1]["range"], "bytes=100-%d" % (len(self.repo.files_at()["config.json"].data) - 1))

    def test_corrupt_byte_is_integrity_error_and_nothing_published(self):
        w = self.repo.files_at()["weights.bin"]
        self.hub.set_faults([{"type": "corrupt", "match": "^/cdn/" + w.sha256, "count": -1}])
        p = self.fetch()
        self.assertExit(p, 1)
        self.assertIn("weights.bin", p.stderr)
        self.assertFalse(os.path.lexists(snapshot_path(self.cache, "org/faulty", self.repo.head,
                                                       "weights.bin")))
        obj = os.path.join(self.cache, ".locks/modelbake/objects/sha256", w.sha256[:2], w.sha256[2:])
        self.assertFalse(os.path.exists(obj))
        self.assertEqual(os.listdir(os.path.join(self.cache, ".locks/modelbake/tmp")), [])
        self.hub.clear_faults()
        self.assertExit(self.fetch(), 0)
        self.assert_complete()

    def test_corrupt_range_of_big_file_is_downloaded_again(self):
        big = self.repo.files_at()["big.bin"]
        self.hub.set_faults([{"type": "corrupt", "match": "^/cdn/" + big.sha256, "skip": 3}])
        self.assertExit(self.fetch(), 0)
        self.assert_complete()

    def test_persistently_corrupt_ranges_of_big_file_are_caught(self):
        big = self.repo.files_at()["big.bin"]
        self.hub.set_faults([{"type": "corrupt", "match": "^/cdn/" + big.sha256, "count": -1}])
        p = self.fetch()
        self.assertExit(p, 1)
        self.assertIn("big.bin", p.stderr)
        self.assertFalse(os.path.lexists(snapshot_path(self.cache, "org/faulty", self.repo.head,
                                                       "big.bin")))

    def test_429_with_retry_after_and_5xx_are_retried(self):
        self.hub.set_faults([
            {"type": "status", "status": 429, "retry_after": 1, "match": "/api/", "count": 1},
            {"type": "status", "status": 503, "match": "^/cdn/", "count": 2},
            {"type": "status", "status": 502, "match": "/resolve/", "count": 1},
        ])
        self.assertExit(self.fetch(), 0)
        self.assert_complete()
        statuses = [r["status"] for r in self.hub.requests()]
        self.assertIn(429, statuses)
        self.assertIn(503, statuses)

    def test_persistent_5xx_fails_with_network_exit_code(self):
        self.hub.set_faults([{"type": "status", "status": 500, "match": "/resolve/", "count": -1}])
        p = run_modelbake(["--cache", self.cache, "fetch", "--retries", "1"], env=self.hub.env(),
                          cwd=self.tmp.path)
        self.assertExit(p, 3)

    def test_server_ignoring_range_falls_back_to_one_stream(self):
        self.hub.set_faults([{"type": "ignore_range", "match": "^/cdn/", "count": -1}])
        self.assertExit(self.fetch(), 0)
        self.assert_complete()
        big = self.repo.files_at()["big.bin"]
        full = [r for r in self.hub.cdn_requests() if big.sha256 in r["path"] and not r["range"]]
        self.assertEqual(len(full), 1)

    def test_expired_cdn_url_is_re_resolved(self):
        w = self.repo.files_at()["weights.bin"]
        self.hub.set_faults([{"type": "expire_cdn", "match": "^/cdn/" + w.sha256}])
        self.assertExit(self.fetch(), 0)
        self.assert_complete()
        resolves = self.hub.requests(path="/resolve/.*/weights.bin$", method="GET")
        self.assertEqual(len(resolves), 2)
        statuses = [r["status"] for r in self.hub.cdn_requests() if w.sha256 in r["path"]]
        self.assertEqual(statuses, [403, 200])

    def test_expired_cdn_url_during_ranges_is_re_resolved(self):
        big = self.repo.files_at()["big.bin"]
        self.hub.set_faults([{"type": "expire_cdn", "match": "^/cdn/" + big.sha256, "skip": 2}])
        self.assertExit(self.fetch(), 0)
        self.assert_complete()
        self.assertIn(403, [r["status"] for r in self.hub.cdn_requests()])

    def test_slow_server_still_completes(self):
        self.hub.set_faults([{"type": "slow", "bytes_per_sec": 400_000, "match": "weights|"
                              + self.repo.files_at()["weights.bin"].sha256}])
        self.assertExit(self.fetch(), 0)
        self.assert_complete()


if __name__ == "__main__":
    unittest.main()
