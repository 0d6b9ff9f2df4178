"""modelbake serve and what real clients and HTTP caches rely on: conditional requests,
revision HEAD and short commits, /raw/, the error code of the mirror's own 401, absolute URLs
behind a proxy, and Cache-Control."""

import json
import unittest

from mbserve import Mirror
from mbtest import MbTestCase, RepoBuilder, make_cache, pseudo_random_bytes, sha256_hex

WEIGHTS = pseudo_random_bytes(100_000, seed=3)


def repo():
    r = RepoBuilder("org/m")
    r.add_file("config.json", b'{"v": 1}\n')
    r.add_file("weights.bin", WEIGHTS, lfs=True)
    for i in range(5):
        r.add_file("f/%d.txt" % i, b"%d\n" % i)
    r.commit("init")
    return r


class Compat(MbTestCase):
    def setUp(self):
        super().setUp()
        self.cache = self.tmp.join("cache")
        self.repo = repo()
        make_cache(self.cache, [self.repo])
        self.commit = self.repo.resolve("main")

    def start(self, *args):
        m = Mirror(self.cache, *args)
        self.addCleanup(m.stop)
        return m

    def test_if_none_match_and_if_range(self):
        m = self.start()
        target = "/org/m/resolve/main/weights.bin"
        etag = m.request("HEAD", target)[1]["etag"]
        self.assertEqual(etag, '"%s"' % sha256_hex(WEIGHTS))
        st, h, body = m.request("GET", target, {"If-None-Match": etag})
        self.assertEqual((st, body, h["etag"]), (304, b"", etag))
        self.assertEqual(m.request("GET", target, {"If-None-Match": 'W/"other", ' + etag})[0], 304)
        self.assertEqual(m.request("GET", target, {"If-None-Match": '"other"'})[0], 200)
        # If-Range: the current validator gets the range, a stale one the whole new file.
        st, _, body = m.request("GET", target, {"Range": "bytes=10-19", "If-Range": etag})
        self.assertEqual((st, body), (206, WEIGHTS[10:20]))
        st, _, body = m.request("GET", target, {"Range": "bytes=10-19", "If-Range": '"stale"'})
        self.assertEqual((st, body), (200, WEIGHTS))

    def test_revision_head_and_short_commits(self):
        m = self.start()
        st, _, doc = m.json("/api/models/org/m/revision/HEAD")
        self.assertEqual((st, doc["sha"]), (200, self.commit))
        st, h, body = m.request("GET", "/org/m/resolve/HEAD/config.json")
        self.assertEqual((st, body), (200, b'{"v": 1}\n'))
        st, h, body = m.request("GET", "/org/m/resolve/%s/config.json" % self.commit[:7])
        self.assertEqual((st, h["x-repo-commit"], body), (200, self.commit, b'{"v": 1}\n'))
        st, h, _ = m.request("GET", "/org/m/resolve/%s/config.json" % self.commit[:6])
        self.assertEqual((st, h.get("x-error-code")), (404, "RevisionNotFound"))

    def test_raw_serves_files_and_lfs_pointers(self):
        m = self.start()
        st, _, body = m.request("GET", "/org/m/raw/main/config.json")
        self.assertEqual((st, body), (200, b'{"v": 1}\n'))
        st, _, body = m.request("GET", "/org/m/raw/main/weights.bin")
        self.assertEqual(st, 200)
        self.assertEqual(body.decode(), "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
                         % (sha256_hex(WEIGHTS), len(WEIGHTS)))
        st, h, _ = m.request("HEAD", "/org/m/raw/main/nope")
        self.assertEqual((st, h.get("x-error-code")), (404, "EntryNotFound"))

    def test_missing_mirror_token_has_an_error_code(self):
        tokens = self.tmp.join("tokens")
        with open(tokens, "w") as f:
            f.write("t0k\n")
        m = self.start("--token-file", tokens)
        st, h, _ = m.request("GET", "/org/m/resolve/main/config.json")
        self.assertEqual((st, h.get("x-error-code")), (401, "GatedRepo"))
        st, h, _ = m.request("GET", "/org/m/resolve/main/config.json", {"Authorization": "Bearer bad"})
        self.assertEqual((st, h.get("x-error-message")), (401, "Invalid credentials in Authorization header"))
        st, h, _ = m.request("GET", "/org/m/resolve/%s/config.json" % self.commit, {"Authorization": "Bearer t0k"})
        self.assertEqual((st, h["cache-control"]), (200, "private, no-store"))

    def link(self, m, headers=None):
        st, h, _ = m.json("/api/models/org/m/tree/main?recursive=true", headers=headers)
        self.assertEqual(st, 200)
        return h["link"].split(";")[0].strip("<>")

    def test_absolute_urls_behind_a_proxy(self):
        fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "models.example.com",
               "X-Forwarded-Prefix": "/hf"}
        m = self.start("--page-size", "2")
        # Not a trusted proxy: its X-Forwarded-* headers are ignored.
        self.assertTrue(self.link(m, fwd).startswith(m.url + "/api/models/org/m/tree/main?"))
        m2 = self.start("--page-size", "2", "--trusted-proxy", "127.0.0.1")
        self.assertTrue(self.link(m2, fwd).startswith("https://models.example.com/hf/api/models/org/m/tree/main?"))
        m3 = self.start("--page-size", "2", "--public-url", "https://mirror.example.org/x/")
        self.assertTrue(self.link(m3, fwd).startswith("https://mirror.example.org/x/api/models/org/m/tree/main?"))

    def test_cache_control(self):
        m = self.start()
        immutable = "public, max-age=31536000, immutable"
        for target in ("/org/m/resolve/%s/weights.bin" % self.commit, "/api/models/org/m/revision/" + self.commit):
            self.assertEqual(m.request("GET", target)[1]["cache-control"], immutable, target)
        for target in ("/org/m/resolve/main/weights.bin", "/api/models/org/m/revision/main"):
            cc = m.request("GET", target)[1]["cache-control"]
            self.assertRegex(cc, r"^public, max-age=\d{1,3}$", target)
        st, h, _ = m.request("GET", "/org/m/resolve/main/nope")
        self.assertEqual((st, h["cache-control"]), (404, "no-store"))


if __name__ == "__main__":
    unittest.main()
