"""fetch through Xet (docs/fetch.md "Xet") against the test hub's CAS (tests/hub/xetcas.py):
discovery, tokens (the hub token never reaches the CAS, even on the hub's own origin),
v2 and v1 reconstructions, corrupt data, expired URLs and tokens, the bridge fallback, and
HF_HUB_DISABLE_XET / --no-xet."""

import json
import os

from mbtest import (MbTestCase, RepoBuilder, pseudo_random_bytes, run_json, run_modelbake,
                    snapshot_path, write_manifest)

TOKEN = "hf_xet_fetch_token"
# Incompressible and compressible parts: records of all three schemes really compress.
BIG = pseudo_random_bytes(2_500_000, seed=21) + b"".join(b"line %07d\n" % i
                                                         for i in range(60_000))
SMALL = pseudo_random_bytes(300_000, seed=22)
RANGES = ["--range-threshold", "1048576", "--connections", "4"]


class FetchXet(MbTestCase):
    def setUp(self):
        super().setUp()
        self.repo = RepoBuilder("org/xet", tokens=[TOKEN])
        self.repo.add_file("config.json", b'{"x": 1}\n')
        self.repo.add_file("model.bin", BIG, lfs=True)
        self.repo.add_file("small.bin", SMALL, lfs=True)
        self.hub = self.start_hub(self.repo, xet=True)
        # Three chunks a xorb: every xorb starts with a stored-as-is chunk (schemes cycle).
        self.hub.set_config(xet_xorb_chunks=3)
        self.cache = self.tmp.join("cache")
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/xet"}])

    def fetch(self, *extra, env=None):
        e = self.hub.env(TOKEN)
        e.update(env or {})
        return run_json(["--cache", self.cache, "fetch"] + RANGES + list(extra), env=e,
                        cwd=self.tmp.path)

    def assert_complete(self):
        for path, f in self.repo.files_at().items():
            with open(snapshot_path(self.cache, "org/xet", self.repo.head, path), "rb") as fh:
                self.assertEqual(fh.read(), f.data, path)

    def cas(self, kind):
        return self.hub.requests(path="^/cas/" + kind, settled=True)

    def test_fetch_downloads_through_xet_with_the_right_tokens(self):
        p, doc = self.fetch()
        self.assertExit(p, 0)
        self.assert_complete()
        self.assertEqual(self.hub.requests(path="^/cdn/", method="GET"), [])  # no bridge
        xorbs, recons = self.cas("xorb/"), self.cas("v[12]/")
        self.assertGreater(len(xorbs), 3)
        self.assertEqual({r["auth"] for r in recons}, {"xet"})
        self.assertEqual({r["auth"] for r in xorbs}, {None})
        tokens = self.hub.requests(path="/xet-read-token/")
        self.assertEqual({r["auth"] for r in tokens}, {"hub"})
        self.assertEqual(len(tokens), 1)  # one token for the repo's files
        # The lock names each LFS file's Xet hash, as the tree listing gave it.
        with open(self.tmp.join("modelbake.lock")) as f:
            files = {x["path"]: x for x in json.load(f)["models"][0]["files"]}
        listing = {e["path"]: e for e in json.loads(self.hub_get(
            "/api/models/org/xet/tree/main?recursive=true"))}
        self.assertEqual(files["model.bin"]["xet_hash"], listing["model.bin"]["xetHash"])
        self.assertNotIn("xet_hash", files["config.json"])
        self.assertEqual(doc["bytes"]["network"], sum(r["body_bytes"] for r in xorbs)
                         + len(b'{"x": 1}\n'))

    def hub_get(self, path):
        import urllib.request
        with urllib.request.urlopen(self.hub.url + path, timeout=30) as r:
            return r.read()

    def test_v1_when_the_cas_has_no_v2(self):
        self.hub.set_config(xet_versions=["v1"])
        p, _ = self.fetch()
        self.assertExit(p, 0)
        self.assert_complete()
        self.assertGreater(len(self.cas("v1/")), 0)
        self.assertEqual(self.hub.requests(path="^/cdn/", method="GET"), [])

    def test_small_files_of_a_repo_share_one_batch_reconstruction(self):
        # api.md endpoint 5: model.bin and small.bin (both within one window) come from one
        # POST /v1/reconstructions; no per-file query.
        p, _ = self.fetch()
        self.assertExit(p, 0)
        self.assert_complete()
        posts = self.hub.requests(path="^/cas/v1/reconstructions$", method="POST")
        self.assertEqual(len(posts), 1)
        self.assertEqual(posts[0]["auth"], "xet")
        self.assertEqual(posts[0]["status"], 200)
        self.assertEqual(self.hub.requests(path="^/cas/v[12]/reconstructions/"), [])
        self.assertEqual(self.hub.requests(path="^/cdn/", method="GET"), [])

    def test_without_the_batch_endpoint_each_file_is_queried(self):
        self.hub.set_config(xet_batch=False)
        p, _ = self.fetch()
        self.assertExit(p, 0)
        self.assert_complete()
        self.assertEqual(len(self.hub.requests(path="^/cas/v1/reconstructions$")), 1)  # 404
        self.assertEqual(len(self.hub.requests(path="^/cas/v2/reconstructions/")), 2)

    def test_no_xet_flag_and_variable_use_the_bridge(self):
        for extra, env in ((["--no-xet"], None), ([], {"HF_HUB_DISABLE_XET": "1"})):
            self.hub.reset()
            cache = self.cache
            self.cache = self.tmp.join("cache-%d" % len(extra))
            p, _ = self.fetch(*extra, env=env)
            self.assertExit(p, 0)
            self.assert_complete()
            self.assertEqual(self.hub.requests(path="^/cas/"), [])
            self.assertEqual(self.hub.requests(path="/xet-read-token/"), [])
            self.assertGreater(len(self.hub.requests(path="^/cdn/", method="GET")), 0)
            self.cache = cache

    def test_corrupt_record_refetches_only_its_range(self):
        # Byte 5 of a range is the first record's decoded length: the decoder notices.
        self.hub.set_faults([{"type": "corrupt", "match": "^/cas/xorb/", "offset": 5,
                              "count": 1}])
        p, doc = self.fetch()
        self.assertExit(p, 0)
        self.assert_complete()
        self.assertIn("corrupt Xet data", p.stderr)
        xorbs = self.cas("xorb/")
        ranges = [(r["path"].split("?")[0], r["range"]) for r in xorbs]
        repeated = {x for x in ranges if ranges.count(x) > 1}
        self.assertEqual(len(repeated), 1, ranges)  # only the damaged range, once more
        self.assertEqual(self.hub.requests(path="^/cdn/", method="GET"), [])

    def test_flipped_byte_in_a_stored_chunk_is_repaired_on_the_xet_path(self):
        # Byte 100 of a range starting at 0 is inside the xorb's first chunk, stored as-is:
        # no length changes, only the file's sha256 tells. Nothing says which term is bad,
        # so the terms are fetched again in file order and compared with the file. One
        # connection makes a repair batch one range: the first range is the damaged one
        # (the file's first, fetched first), it is rewritten, the sha256 then matches and
        # the repair stops. So the refetch touched the damaged range and nothing else.
        self.hub.set_faults([{"type": "corrupt", "match": "^/cas/xorb/", "range": "^bytes=0-",
                              "offset": 100, "count": 1}])
        args = ["--cache", self.cache, "fetch", "--range-threshold", "1048576",
                "--connections", "1"]
        p, doc = run_json(args, env=self.hub.env(TOKEN), cwd=self.tmp.path)
        self.assertExit(p, 0)
        self.assert_complete()
        self.assertIn("repaired on the Xet path", p.stderr)
        self.assertEqual(self.hub.requests(path="^/cdn/", method="GET"), [])  # not the bridge
        xorbs = self.cas("xorb/")
        bad = [r for r in xorbs if "corrupt" in r["faults"]]
        self.assertEqual(len(bad), 1)
        ranges = [(r["path"].split("?")[0], r["range"]) for r in xorbs]
        key = (bad[0]["path"].split("?")[0], bad[0]["range"])
        repeated = {x for x in ranges if ranges.count(x) > 1}
        self.assertEqual(repeated, {key}, ranges)
        self.assertEqual(ranges.count(key), 2)
        # Both files' reconstructions came in one batch; the repair asked once more.
        self.assertEqual(len(self.hub.requests(path="^/cas/v[12]/reconstructions/")), 1)

    def test_repair_with_four_connections_stops_after_the_damaged_batch(self):
        # Four connections: a repair batch is the file's next four ranges in file order. The
        # damaged range is among the first four fetched of its file, so the repair stops
        # after one batch: at most four ranges fetched twice, the damaged one among them,
        # and every range of the other file once.
        self.hub.set_faults([{"type": "corrupt", "match": "^/cas/xorb/", "range": "^bytes=0-",
                              "offset": 100, "count": 1}])
        p, _ = self.fetch()
        self.assertExit(p, 0)
        self.assert_complete()
        self.assertIn("repaired on the Xet path", p.stderr)
        self.assertEqual(self.hub.requests(path="^/cdn/", method="GET"), [])
        xorbs = self.cas("xorb/")
        bad = [r for r in xorbs if "corrupt" in r["faults"]]
        self.assertEqual(len(bad), 1)
        ranges = [(r["path"].split("?")[0], r["range"]) for r in xorbs]
        key = (bad[0]["path"].split("?")[0], bad[0]["range"])
        repeated = {x for x in ranges if ranges.count(x) > 1}
        self.assertIn(key, repeated)
        self.assertLessEqual(len(repeated), 4, ranges)
        self.assertLess(len(repeated), len(set(ranges)) - 4)  # far from the whole file

    def test_damage_the_cas_repeats_goes_to_the_bridge(self):
        # The same flipped byte on every answer (a CAS storing wrong bytes): the refetch
        # finds no difference, so the bridge gets the file, as before the repair existed.
        self.hub.set_faults([{"type": "corrupt", "match": "^/cas/xorb/", "range": "^bytes=0-",
                              "offset": 100, "count": -1}])
        p, _ = self.fetch()
        self.assertExit(p, 0)
        self.assert_complete()
        self.assertIn("sent the same bytes again", p.stderr)
        self.assertIn("through the hub's bridge", p.stderr)
        self.assertGreater(len(self.hub.requests(path="^/cdn/", method="GET")), 0)

    def test_expired_signed_url_asks_for_the_reconstruction_again(self):
        self.hub.set_faults([{"type": "expire_cdn", "match": "^/cas/xorb/", "count": 1}])
        p, _ = self.fetch("-j", "1")
        self.assertExit(p, 0)
        self.assert_complete()
        big = [r for r in self.cas("v2/")]
        # The batch for both files, then one query again for the file whose URL expired.
        self.assertGreaterEqual(len(big), 1)
        self.assertEqual(len(self.hub.requests(path="^/cas/v1/reconstructions$")), 1)
        self.assertEqual(self.hub.requests(path="^/cdn/", method="GET"), [])

    def test_refused_token_is_replaced(self):
        self.hub.set_faults([{"type": "status", "status": 401,
                              "match": "^/cas/v[12]/reconstructions", "count": 1}])
        p, _ = self.fetch("-j", "1")
        self.assertExit(p, 0)
        self.assert_complete()
        self.assertEqual(len(self.hub.requests(path="/xet-read-token/")), 2)
        self.assertEqual(self.hub.requests(path="^/cdn/", method="GET"), [])

    def test_failing_cas_falls_back_to_the_bridge_and_says_so(self):
        self.hub.set_faults([{"type": "status", "status": 503, "match": "^/cas/xorb/",
                              "count": -1}])
        p, _ = self.fetch("--retries", "1")
        self.assertExit(p, 0)
        self.assert_complete()
        self.assertIn("the Xet download failed", p.stderr)
        self.assertIn("bridge", p.stderr)
        self.assertGreater(len(self.hub.requests(path="^/cdn/", method="GET")), 0)

    def test_stalled_cas_falls_back_to_the_bridge(self):
        # A xorb range that stops after 100 bytes: below 1 KiB/s for 30 s is a stall.
        self.hub.set_faults([{"type": "hang", "match": "^/cas/xorb/", "after_bytes": 100,
                              "seconds": 90, "count": 1}])
        p, _ = self.fetch("--retries", "0")
        self.assertExit(p, 0)
        self.assert_complete()
        self.assertIn("the Xet download failed", p.stderr)
        self.assertGreater(len(self.hub.requests(path="^/cdn/", method="GET")), 0)

    def test_old_lock_without_xet_hashes_still_uses_xet_for_big_files(self):
        p, _ = self.fetch("--no-xet")
        self.assertExit(p, 0)
        with open(self.tmp.join("modelbake.lock")) as f:
            doc = json.load(f)
        for fl in doc["models"][0]["files"]:
            fl.pop("xet_hash", None)
        with open(self.tmp.join("modelbake.lock"), "w") as f:
            json.dump(doc, f, indent=2)
        self.cache = self.tmp.join("cache2")
        self.hub.reset()
        p, _ = self.fetch("--locked")
        self.assertExit(p, 0)
        self.assert_complete()
        # model.bin (a partial, HEADed anyway) through Xet; small.bin through the bridge.
        self.assertEqual(len(self.hub.requests(path="resolve/.*/model.bin", method="HEAD")), 1)
        cdn = self.hub.requests(path="^/cdn/", method="GET")
        self.assertEqual(len(cdn), 1)
        self.assertGreater(len(self.cas("xorb/")), 0)


class FetchXetResumeAndDedupe(MbTestCase):
    def setUp(self):
        super().setUp()
        self.repo = RepoBuilder("org/xet", tokens=[TOKEN])
        self.repo.add_file("model.bin", BIG, lfs=True)
        self.repo.commit("one")
        self.hub = self.start_hub(self.repo, xet=True)
        self.hub.set_config(xet_xorb_chunks=3)
        self.cache = self.tmp.join("cache")
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/xet"}])

    def fetch(self, *extra):
        return run_json(["--cache", self.cache, "fetch"] + RANGES + list(extra),
                        env=self.hub.env(TOKEN), cwd=self.tmp.path)

    def xorb_bytes(self):
        return sum(r.get("body_bytes") or 0
                   for r in self.hub.requests(path="^/cas/xorb/", settled=True))

    def test_sigkill_mid_download_resumes_without_refetching_finished_terms(self):
        import subprocess
        from mbtest import modelbake_bin, tool_env
        sha = self.repo.files_at()["model.bin"].sha256
        state = os.path.join(self.cache, ".locks/modelbake/tmp", sha + ".partial.json")

        def covered():
            try:
                with open(state) as f:
                    return sum(e - b for b, e in json.load(f)["done"])
            except (OSError, ValueError):
                return 0
        self.hub.set_faults([{"type": "slow", "bytes_per_sec": 300_000, "match": "^/cas/xorb/",
                              "count": -1}])
        proc = subprocess.Popen([modelbake_bin(), "--cache", self.cache, "fetch"] + RANGES,
                                env=tool_env(self.hub.env(TOKEN)), cwd=self.tmp.path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.wait_until(lambda: covered() >= len(BIG) // 4, timeout=120)
        proc.kill()
        proc.wait()
        done_before = covered()
        self.assertLess(done_before, len(BIG))
        self.hub.clear_faults()
        self.hub.reset()
        p, doc = self.fetch()
        self.assertExit(p, 0)
        self.assertEqual(doc["bytes"]["resumed"], done_before)
        with open(snapshot_path(self.cache, "org/xet", self.repo.head, "model.bin"), "rb") as f:
            self.assertEqual(f.read(), BIG)
        second = self.xorb_bytes()
        # A clean download for comparison: the resumed run moved less, by what was kept.
        self.cache = self.tmp.join("clean")
        self.hub.reset()
        self.assertExit(self.fetch()[0], 0)
        self.assertLess(second, self.xorb_bytes())

    def test_new_revision_with_one_percent_changed_moves_about_one_percent(self):
        p, _ = self.fetch()
        self.assertExit(p, 0)
        full = self.xorb_bytes()
        changed = bytearray(BIG)
        middle = len(BIG) // 2
        changed[middle:middle + len(BIG) // 100] = pseudo_random_bytes(len(BIG) // 100, seed=99)
        self.repo.add_file("model.bin", bytes(changed), lfs=True)
        self.repo.commit("two")
        self.hub.update()
        self.hub.reset()
        self.assertExit(run_modelbake(["--cache", self.cache, "lock"], env=self.hub.env(TOKEN),
                                      cwd=self.tmp.path), 0)
        p, doc = self.fetch()
        self.assertExit(p, 0)
        with open(snapshot_path(self.cache, "org/xet", self.repo.head, "model.bin"), "rb") as f:
            self.assertEqual(f.read(), bytes(changed))
        moved = self.xorb_bytes()
        self.assertIn("copied from cached files", p.stderr)
        # 1 % changed (31 KB, less than a chunk here): the chunks it touches travel (a
        # boundary may move, so up to four of at most 128 KiB), nothing else. On big files
        # that is about 1 % (bench/xet.sh).
        self.assertLessEqual(moved, 4 * 131072 + 4096, (moved, full))
        self.assertLess(moved, full // 4)
        self.assertGreater(moved, 0)


    def test_rm_and_gc_remove_the_chunk_index_with_the_object(self):
        sha = self.repo.files_at()["model.bin"].sha256
        index = os.path.join(self.cache, ".locks/modelbake/xet", sha)
        self.assertExit(self.fetch()[0], 0)
        self.assertTrue(os.path.exists(index))
        p = run_modelbake(["--cache", self.cache, "rm", "org/xet"], env=self.hub.env(TOKEN),
                          cwd=self.tmp.path)
        self.assertExit(p, 0)
        self.assertFalse(os.path.exists(index))
        # gc: an index whose object is gone (left by an older version) is swept.
        self.assertExit(self.fetch()[0], 0)
        os.makedirs(os.path.dirname(index), exist_ok=True)
        stale = os.path.join(os.path.dirname(index), "0" * 64)
        with open(stale, "w") as f:
            f.write("xet-chunks 1\n")
        p = run_modelbake(["--cache", self.cache, "gc"], env=self.hub.env(TOKEN),
                          cwd=self.tmp.path)
        self.assertExit(p, 0)
        self.assertFalse(os.path.exists(stale))
        self.assertTrue(os.path.exists(index))  # its object is still in use


class ServePullThroughXet(MbTestCase):
    """serve --upstream in front of a Xet hub: misses come through Xet, and the mirror
    answers plain /resolve/ (it implements no CAS, so it passes no Xet header on)."""

    def test_pull_through_uses_xet_and_hides_it(self):
        from mbserve import Mirror
        data = pseudo_random_bytes(5 << 20, seed=31)
        repo = RepoBuilder("org/xet").add_file("w.bin", data, lfs=True)
        repo.commit("one")
        hub = self.start_hub(repo, xet=True)
        m = Mirror(self.tmp.join("cache"), "--upstream", hub.url)
        self.addCleanup(m.stop)
        st, headers, body = m.request("GET", "/org/xet/resolve/main/w.bin", timeout=120)
        self.assertEqual((st, body == data), (200, True))
        self.assertGreater(len(hub.requests(path="^/cas/xorb/")), 0)
        self.assertEqual(hub.requests(path="^/cdn/", method="GET"), [])
        for st, headers, _ in (m.request("HEAD", "/org/xet/resolve/main/w.bin"),
                               m.request("GET", "/api/models/org/xet/tree/main")):
            self.assertNotIn("x-xet-hash", {k.lower() for k in headers})
            self.assertNotIn("xet", headers.get("link", "").lower())
        _, _, listing = m.request("GET", "/api/models/org/xet/tree/main")
        self.assertNotIn(b"xetHash", listing)


    def test_mirror_started_with_xet_disabled_pulls_through_the_bridge(self):
        from mbserve import Mirror
        data = pseudo_random_bytes(5 << 20, seed=32)
        repo = RepoBuilder("org/xet").add_file("w.bin", data, lfs=True)
        repo.commit("one")
        hub = self.start_hub(repo, xet=True)
        m = Mirror(self.tmp.join("cache"), "--upstream", hub.url,
                   env={"HF_HUB_DISABLE_XET": "1"})
        self.addCleanup(m.stop)
        st, _, body = m.request("GET", "/org/xet/resolve/main/w.bin", timeout=120)
        self.assertEqual((st, body == data), (200, True))
        self.assertEqual(hub.requests(path="^/cas/"), [])
        self.assertEqual(hub.requests(path="/xet-read-token/"), [])
        self.assertGreater(len(hub.requests(path="^/cdn/", method="GET")), 0)


class FetchXetMemory(MbTestCase):
    def test_peak_rss_stays_bounded_with_many_connections(self):
        size = 48 << 20
        data = pseudo_random_bytes(size, seed=5)
        repo = RepoBuilder("org/big").add_file("w.bin", data, lfs=True)
        hub = self.start_hub(repo, xet=True)
        hub.set_config(xet_xorb_chunks=64)
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/big"}])
        cache = self.tmp.join("cache")
        # /usr/bin/time measures modelbake alone (a child of this big Python process would
        # inherit its high-water mark through fork).
        rss = self.tmp.join("rss")
        import subprocess
        from mbtest import modelbake_bin, tool_env
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss, modelbake_bin(), "-q",
                            "--cache", cache, "fetch", "--connections", "16"],
                           env=tool_env(hub.env()), cwd=self.tmp.path, capture_output=True,
                           text=True, timeout=300)
        self.assertExit(p, 0)
        with open(snapshot_path(cache, "org/big", repo.head, "w.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertGreater(len(hub.requests(path="^/cas/xorb/")), 8)
        with open(rss) as f:
            kib = int(f.read().split()[-1])
        # The file never sits in memory, nor do the ranges: 16 streams of decoded records.
        self.assertLess(kib, 64 * 1024, kib)
