"""Resume after SIGKILL (ranged files, and mid-size files below the range threshold) and two
concurrent fetches into one cache."""

import json
import os
import subprocess
import unittest

from mbtest import (MbTestCase, RepoBuilder, describe_tree, make_cache, modelbake_bin,
                    pseudo_random_bytes, run_json, run_modelbake, snapshot_path, tool_env,
                    write_manifest)

BIG = 3 * 1024 * 1024 + 777
# Just above the resume threshold (4 MiB, src/fetch/download.hpp), far below the default
# range threshold (64 MiB): fetched as one stream into a resumable partial.
MID = 4 * 1024 * 1024 + 300_000
RANGES = ["--range-threshold", "1048576", "--chunk-size", "262144", "--connections", "4"]


def covered(state_path):
    try:
        with open(state_path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return 0
    return sum(e - b for b, e in doc["done"])


class FetchResume(MbTestCase):
    def setUp(self):
        super().setUp()
        self.repo = RepoBuilder("org/resumable")
        self.repo.add_file("config.json", b'{"x": 1}\n')
        self.repo.add_file("model.bin", pseudo_random_bytes(BIG, seed=11), lfs=True)
        self.repo.add_file("small.bin", pseudo_random_bytes(40_000, seed=12), lfs=True)
        self.hub = self.start_hub(self.repo)
        self.cache = self.tmp.join("cache")
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/resumable"}])
        self.big = self.repo.files_at()["model.bin"]
        self.state = os.path.join(self.cache, ".locks/modelbake/tmp", self.big.sha256 + ".partial.json")

    def start_fetch(self, *extra):
        return subprocess.Popen([modelbake_bin(), "--cache", self.cache, "fetch"] + RANGES + list(extra),
                                env=tool_env(self.hub.env()), cwd=self.tmp.path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def assert_not_visible(self):
        link = snapshot_path(self.cache, "org/resumable", self.repo.head, "model.bin")
        self.assertFalse(os.path.lexists(link))
        obj = os.path.join(self.cache, ".locks/modelbake/objects/sha256", self.big.sha256[:2],
                           self.big.sha256[2:])
        self.assertFalse(os.path.exists(obj))

    def assert_complete(self):
        for path, f in self.repo.files_at().items():
            with open(snapshot_path(self.cache, "org/resumable", self.repo.head, path), "rb") as fh:
                self.assertEqual(fh.read(), f.data, path)
        self.assertEqual(os.listdir(os.path.join(self.cache, ".locks/modelbake/tmp")), [])

    def test_sigkill_mid_download_then_rerun_resumes(self):
        self.hub.set_faults([{"type": "slow", "bytes_per_sec": 250_000, "match": "^/cdn/", "count": -1}])
        proc = self.start_fetch()
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.wait_until(lambda: covered(self.state) >= BIG // 3, timeout=60)
        proc.kill()
        proc.wait()
        proc.stderr.close()
        self.assert_not_visible()
        done_before = covered(self.state)
        self.assertGreater(done_before, 0)
        self.assertLess(done_before, BIG)
        self.hub.clear_faults()
        self.hub.reset()
        p, doc = run_json(["--cache", self.cache, "fetch"] + RANGES, env=self.hub.env(),
                          cwd=self.tmp.path)
        self.assertExit(p, 0)
        self.assert_complete()
        self.assertEqual(doc["bytes"]["resumed"], done_before)
        sent = sum(r.get("body_bytes") or 0 for r in self.hub.cdn_requests(settled=True)
                   if self.big.sha256 in r["path"])
        # exactly the missing bytes travel again, nothing that was recorded as written
        self.assertEqual(sent, BIG - done_before)

    def test_repeated_kills_never_expose_partial_content(self):
        # Slow enough (per connection) that the short runs cannot finish the file: a run that
        # completes removes its state file. Each run gets killed once its first four pieces
        # (1 MiB) are recorded, so a third run would have only 777 bytes left and could finish
        # before the kill: two runs.
        self.hub.set_faults([{"type": "slow", "bytes_per_sec": 120_000, "match": "^/cdn/", "count": -1}])
        last = 0
        for _ in range(2):
            proc = self.start_fetch()
            self.wait_until(lambda: covered(self.state) > last or proc.poll() is not None, timeout=60)
            self.assertIsNone(proc.poll(), "the fetch ended before it could be killed")
            proc.kill()
            proc.wait()
            proc.stderr.close()
            self.assert_not_visible()
            self.assertGreaterEqual(covered(self.state), last)
            last = covered(self.state)
        self.hub.clear_faults()
        self.assertExit(run_modelbake(["--cache", self.cache, "fetch"] + RANGES,
                                      env=self.hub.env(), cwd=self.tmp.path), 0)
        self.assert_complete()

    def test_two_concurrent_fetches_into_one_cache(self):
        self.assertExit(run_modelbake(["--cache", self.cache, "lock"], env=self.hub.env(),
                                      cwd=self.tmp.path), 0)
        self.hub.reset()
        self.hub.set_faults([{"type": "slow", "bytes_per_sec": 1_500_000, "match": "^/cdn/", "count": -1}])
        a = self.start_fetch("--locked")
        b = self.start_fetch("--locked")
        for proc in (a, b):
            _, err = proc.communicate(timeout=120)
            self.assertEqual(proc.returncode, 0, err)
        self.assert_complete()
        # the content lock made the second process wait and reuse: each content came once
        for f in self.repo.files_at().values():
            if f.lfs:
                sent = sum(r.get("body_bytes") or 0 for r in self.hub.cdn_requests(settled=True) if f.sha256 in r["path"])
                self.assertEqual(sent, f.size, f.path)
        ref = self.tmp.join("ref")
        make_cache(ref, [self.repo])
        meta = ".locks/modelbake/meta"
        self.assertEqual({k: v for k, v in describe_tree(self.cache).items() if not k.startswith(meta)},
                         {k: v for k, v in describe_tree(ref).items() if not k.startswith(meta)})


class MidSizeResume(MbTestCase):
    """11.4: a download above the resume threshold resumes after SIGKILL, below the range
    threshold too."""

    def setUp(self):
        super().setUp()
        self.repo = RepoBuilder("org/mid")
        self.repo.add_file("config.json", b'{"mid": 1}\n')
        self.repo.add_file("model.bin", pseudo_random_bytes(MID, seed=31), lfs=True)
        self.hub = self.start_hub(self.repo)
        self.cache = self.tmp.join("cache")
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/mid"}])
        self.big = self.repo.files_at()["model.bin"]
        self.state = os.path.join(self.cache, ".locks/modelbake/tmp", self.big.sha256 + ".partial.json")

    def test_sigkill_then_rerun_resumes_from_what_was_written(self):
        self.hub.set_faults([{"type": "slow", "bytes_per_sec": 400_000, "match": "^/cdn/", "count": -1}])
        proc = subprocess.Popen([modelbake_bin(), "--cache", self.cache, "fetch"],
                                env=tool_env(self.hub.env()), cwd=self.tmp.path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.wait_until(lambda: covered(self.state) > 0 or proc.poll() is not None, timeout=60)
        self.assertIsNone(proc.poll(), "the fetch ended before it could be killed")
        proc.kill()
        proc.wait()
        done_before = covered(self.state)
        self.assertGreater(done_before, 0)
        self.assertLess(done_before, MID)
        self.assertFalse(os.path.lexists(snapshot_path(self.cache, "org/mid", self.repo.head, "model.bin")))
        self.hub.clear_faults()
        p, doc = run_json(["--cache", self.cache, "fetch"], env=self.hub.env(), cwd=self.tmp.path)
        self.assertExit(p, 0)
        with open(snapshot_path(self.cache, "org/mid", self.repo.head, "model.bin"), "rb") as fh:
            self.assertEqual(fh.read(), self.big.data)
        self.assertEqual(doc["bytes"]["resumed"], done_before)
        gets = [r for r in self.hub.cdn_requests(settled=True)
                if self.big.sha256 in r["path"] and r["method"] == "GET"]
        starts = [int(r["range"][len("bytes="):].split("-")[0]) for r in gets if r["range"]]
        self.assertIn(done_before, starts)  # the re-run asked from where the first one stopped
        self.assertLess(sum(r.get("body_bytes") or 0 for r in gets), 2 * MID)
        self.assertEqual(os.listdir(os.path.join(self.cache, ".locks/modelbake/tmp")), [])


if __name__ == "__main__":
    unittest.main()
