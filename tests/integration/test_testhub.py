"""Protocol conformance of the test hub itself (tests/hub/testhub.py), with the stdlib HTTP
client only: every other integration test relies on the hub behaving like huggingface.co."""

import gzip
import http.client
import json
import unittest
from urllib.parse import quote, urlsplit

from mbtest import MbTestCase, RepoBuilder, TestHub, git_blob_sha1, pseudo_random_bytes, sha256_hex

TOKEN = "hf_testtoken_123"
BIG = pseudo_random_bytes(200_000, seed=1)
CONFIG = b'{"hidden_size": 8}\n'


def build_repos():
    tiny = RepoBuilder("org/tiny")
    tiny.add_file("config.json", CONFIG)
    tiny.add_file("weights/model.safetensors", BIG, lfs=True)
    for i in range(7):
        tiny.add_file("data/part-%d.txt" % i, "part %d\n" % i)
    first = tiny.commit("first")
    tiny.tag("v1.0")
    tiny.add_file("config.json", b'{"hidden_size": 16}\n')
    tiny.commit("second")
    tiny.pr(1, first)
    tiny.add_file("dir with space/näme ü.txt", b"unicode\n")
    tiny.commit("third")
    gated = RepoBuilder("org/gated", gated=True).add_file("a.txt", b"secret\n")
    private = RepoBuilder("org/private", private=True).add_file("a.txt", b"private\n")
    dataset = RepoBuilder("org/data", type="dataset").add_file("train.csv", b"a,b\n1,2\n")
    renamed = RepoBuilder("new-org/new-name", renamed_from=["old-org/old-name"])
    renamed.add_file("x.txt", b"x")
    single = RepoBuilder("gpt9").add_file("README.md", b"# gpt9\n")
    hostile = RepoBuilder("evil/repo")
    hostile.add_file("../../etc/x", b"pwned")
    hostile.add_file("/abs", b"abs")
    hostile.add_file("a/../../b", b"b")
    hostile.add_file("huge.bin", b"small", lfs=True,
                     advertise={"size": 10**15, "linked_size": 10**15})
    hostile.add_file("liar.bin", b"real content", lfs=True, advertise={"sha256": "0" * 64})
    return [tiny, gated, private, dataset, renamed, single, hostile]


class Client:
    """One keep-alive connection per host, redirects never followed."""

    def __init__(self, base):
        self.base = base
        self.conns = {}

    def request(self, method, url, headers=None, body=None):
        if url.startswith("/"):
            url = self.base + url
        u = urlsplit(url)
        conn = self.conns.get(u.netloc)
        if conn is None:
            conn = self.conns[u.netloc] = http.client.HTTPConnection(u.netloc, timeout=30)
        target = u.path + ("?" + u.query if u.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        if resp.will_close:
            conn.close()
            del self.conns[u.netloc]
        return resp, data

    def close(self):
        for c in self.conns.values():
            c.close()


class TestHubConformance(MbTestCase):
    @classmethod
    def setUpClass(cls):
        cls.repos = build_repos()
        cls.tiny = cls.repos[0]
        cls.hub = TestHub(cls.repos, tokens=[TOKEN], page_size=4).start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.stop()

    def setUp(self):
        super().setUp()
        self.hub.reset(faults=True)
        self.c = Client(self.hub.url)
        self.addCleanup(self.c.close)

    def get_json(self, path, headers=None):
        resp, data = self.c.request("GET", path, headers)
        self.assertEqual(resp.status, 200, data)
        return resp, json.loads(data)

    # ---- API ------------------------------------------------------------------------------

    def test_revision_resolution(self):
        main = self.tiny.refs["main"]
        _, info = self.get_json("/api/models/org/tiny/revision/main")
        self.assertEqual(info["sha"], main)
        self.assertIn({"rfilename": "config.json"}, info["siblings"])
        _, info = self.get_json("/api/models/org/tiny/revision/v1.0")
        self.assertEqual(info["sha"], self.tiny.refs["v1.0"])
        self.assertNotEqual(info["sha"], main)
        _, info = self.get_json("/api/models/org/tiny/revision/" + quote("refs/pr/1", safe=""))
        self.assertEqual(info["sha"], self.tiny.refs["v1.0"])
        _, info = self.get_json("/api/models/org/tiny/revision/" + main)
        self.assertEqual(info["sha"], main)
        _, info = self.get_json("/api/models/gpt9/revision/main")
        self.assertEqual(info["siblings"], [{"rfilename": "README.md"}])
        _, info = self.get_json("/api/datasets/org/data/revision/main")
        self.assertEqual(info["siblings"], [{"rfilename": "train.csv"}])

    def test_revision_blobs_metadata(self):
        _, info = self.get_json("/api/models/org/tiny/revision/v1.0?blobs=true")
        sib = {s["rfilename"]: s for s in info["siblings"]}
        self.assertEqual(sib["config.json"]["blobId"], git_blob_sha1(CONFIG))
        self.assertEqual(sib["config.json"]["size"], len(CONFIG))
        self.assertNotIn("lfs", sib["config.json"])
        lfs = sib["weights/model.safetensors"]["lfs"]
        self.assertEqual(lfs["sha256"], sha256_hex(BIG))
        self.assertEqual(lfs["size"], len(BIG))
        self.assertGreater(lfs["pointerSize"], 0)

    def test_unknown_revision_and_repo(self):
        resp, _ = self.c.request("GET", "/api/models/org/tiny/revision/nope")
        self.assertEqual((resp.status, resp.getheader("X-Error-Code")), (404, "RevisionNotFound"))
        resp, _ = self.c.request("GET", "/api/models/org/missing/revision/main")
        self.assertEqual((resp.status, resp.getheader("X-Error-Code")), (401, "RepoNotFound"))
        resp, _ = self.c.request("GET", "/api/models/org/missing/revision/main",
                                 {"Authorization": "Bearer " + TOKEN})
        self.assertEqual((resp.status, resp.getheader("X-Error-Code")), (404, "RepoNotFound"))

    def list_tree(self, url):
        entries, pages = [], 0
        while url:
            resp, page = self.get_json(url)
            self.assertLessEqual(len(page), 4)
            entries += page
            pages += 1
            link = resp.getheader("Link")
            url = None
            if link:
                self.assertTrue(link.endswith('>; rel="next"'), link)
                url = link[1:link.index(">")]
                self.assertTrue(url.startswith(self.hub.url + "/"), url)
                self.assertIn("cursor=", url)
        return entries, pages

    def test_tree_pagination(self):
        entries, pages = self.list_tree("/api/models/org/tiny/tree/main?recursive=true")
        files = {e["path"]: e for e in entries if e["type"] == "file"}
        dirs = {e["path"] for e in entries if e["type"] == "directory"}
        self.assertEqual(set(files), set(self.tiny.files_at("main")))
        self.assertEqual(dirs, {"data", "weights", "dir with space"})
        self.assertEqual(pages, 4)  # 10 files + 3 directories at 4 per page
        for path, f in self.tiny.files_at("main").items():
            e = files[path]
            self.assertEqual(e["size"], f.size)
            if f.lfs:
                self.assertEqual(e["lfs"]["oid"], f.sha256)
                self.assertEqual(e["lfs"]["size"], f.size)
            else:
                self.assertEqual(e["oid"], git_blob_sha1(f.data))
                self.assertNotIn("lfs", e)

    def test_tree_subpath_and_non_recursive(self):
        _, top = self.get_json("/api/models/org/tiny/tree/main")
        self.assertEqual([e["path"] for e in top],
                         ["config.json", "data", "dir with space", "weights"])
        _, sub = self.get_json("/api/models/org/tiny/tree/main/weights?recursive=true")
        self.assertEqual([e["path"] for e in sub], ["weights/model.safetensors"])
        resp, _ = self.c.request("GET", "/api/models/org/tiny/tree/main/nowhere")
        self.assertEqual((resp.status, resp.getheader("X-Error-Code")), (404, "EntryNotFound"))

    def test_paths_info(self):
        body = json.dumps({"paths": ["config.json", "weights/model.safetensors", "nope"]})
        resp, data = self.c.request("POST", "/api/models/org/tiny/paths-info/main", body=body,
                                    headers={"Content-Type": "application/json"})
        self.assertEqual(resp.status, 200)
        entries = {e["path"]: e for e in json.loads(data)}
        self.assertEqual(set(entries), {"config.json", "weights/model.safetensors"})
        self.assertEqual(entries["weights/model.safetensors"]["lfs"]["oid"], sha256_hex(BIG))

    def test_quoted_and_unicode_paths(self):
        path = "/org/tiny/resolve/main/" + quote("dir with space/näme ü.txt")
        resp, body = self.c.request("GET", path)
        self.assertEqual((resp.status, body), (200, b"unicode\n"))
        resp, _ = self.c.request("HEAD", "/org/tiny/resolve/main/" + quote("ünknown\r\nX: y"))
        self.assertEqual((resp.status, resp.getheader("X-Error-Code")), (404, "EntryNotFound"))
        self.assertIsNone(resp.getheader("X"))

    def test_refs(self):
        _, refs = self.get_json("/api/models/org/tiny/refs")
        self.assertEqual([b["name"] for b in refs["branches"]], ["main"])
        self.assertEqual([t["name"] for t in refs["tags"]], ["v1.0"])
        self.assertEqual([p["name"] for p in refs["pullRequests"]], ["refs/pr/1"])

    # ---- /resolve -------------------------------------------------------------------------

    def test_regular_file_etag_and_body(self):
        for method in ("HEAD", "GET"):
            resp, body = self.c.request(method, "/org/tiny/resolve/v1.0/config.json")
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.getheader("ETag"), '"%s"' % git_blob_sha1(CONFIG))
            self.assertEqual(resp.getheader("X-Repo-Commit"), self.tiny.refs["v1.0"])
            self.assertEqual(resp.getheader("Content-Length"), str(len(CONFIG)))
            self.assertEqual(resp.getheader("Accept-Ranges"), "bytes")
            self.assertEqual(body, b"" if method == "HEAD" else CONFIG)

    def test_gzip_for_small_regular_files_when_enabled(self):
        path = "/org/tiny/resolve/v1.0/config.json"
        accept = {"Accept-Encoding": "gzip, deflate"}
        resp, body = self.c.request("GET", path, accept)
        self.assertEqual((resp.getheader("Content-Encoding"), body), (None, CONFIG))
        self.hub.set_config(gzip=True)
        try:
            resp, body = self.c.request("GET", path, accept)
            self.assertEqual(resp.getheader("Content-Encoding"), "gzip")
            self.assertEqual(resp.getheader("ETag"), '"%s"' % git_blob_sha1(CONFIG))
            self.assertEqual(gzip.decompress(body), CONFIG)
            resp, body = self.c.request("GET", path, dict(accept, Range="bytes=0-1"))
            self.assertEqual((resp.status, body), (206, CONFIG[:2]))
            resp, body = self.c.request("GET", path)
            self.assertEqual(body, CONFIG)
        finally:
            self.hub.set_config(gzip=False)

    def test_lfs_redirects_to_other_host(self):
        resp, _ = self.c.request("HEAD", "/org/tiny/resolve/main/weights/model.safetensors")
        self.assertEqual(resp.status, 302)
        self.assertEqual(resp.getheader("X-Linked-Etag"), '"%s"' % sha256_hex(BIG))
        self.assertEqual(resp.getheader("X-Linked-Size"), str(len(BIG)))
        self.assertEqual(resp.getheader("X-Repo-Commit"), self.tiny.refs["main"])
        location = resp.getheader("Location")
        hub, cdn = urlsplit(self.hub.url), urlsplit(location)
        self.assertEqual(cdn.scheme, "http")
        self.assertNotEqual(cdn.hostname, hub.hostname)
        self.assertEqual(cdn.port, hub.port)
        resp, body = self.c.request("GET", location)
        self.assertEqual(resp.status, 200)
        self.assertEqual(body, BIG)
        self.assertNotEqual(resp.getheader("ETag"), '"%s"' % sha256_hex(BIG))

    def test_lfs_redirect_host_swaps_when_hub_reached_as_localhost(self):
        c = Client("http://localhost:%d" % self.hub.port)
        self.addCleanup(c.close)
        resp, _ = c.request("HEAD", "/org/tiny/resolve/main/weights/model.safetensors")
        self.assertEqual(urlsplit(resp.getheader("Location")).hostname, "127.0.0.1")

    def test_dataset_and_single_part_repo_resolve(self):
        resp, body = self.c.request("GET", "/datasets/org/data/resolve/main/train.csv")
        self.assertEqual((resp.status, body), (200, b"a,b\n1,2\n"))
        resp, body = self.c.request("GET", "/gpt9/resolve/main/README.md")
        self.assertEqual((resp.status, body), (200, b"# gpt9\n"))
        resp, _ = self.c.request("GET", "/org/data/resolve/main/train.csv")  # not a model
        self.assertEqual(resp.status, 401)

    def test_pr_revision_in_resolve(self):
        for rev in (quote("refs/pr/1", safe=""), "refs/pr/1"):
            resp, body = self.c.request("GET", "/org/tiny/resolve/%s/config.json" % rev)
            self.assertEqual((resp.status, body), (200, CONFIG))

    def test_entry_not_found_carries_commit(self):
        resp, _ = self.c.request("HEAD", "/org/tiny/resolve/main/missing.txt")
        self.assertEqual((resp.status, resp.getheader("X-Error-Code")), (404, "EntryNotFound"))
        self.assertEqual(resp.getheader("X-Repo-Commit"), self.tiny.refs["main"])
        resp, _ = self.c.request("HEAD", "/org/tiny/resolve/nobranch/config.json")
        self.assertEqual((resp.status, resp.getheader("X-Error-Code")), (404, "RevisionNotFound"))

    def test_renamed_repo_relative_redirect(self):
        resp, _ = self.c.request("HEAD", "/old-org/old-name/resolve/main/x.txt")
        self.assertEqual(resp.status, 307)
        self.assertEqual(resp.getheader("Location"), "/new-org/new-name/resolve/main/x.txt")
        resp, body = self.c.request("GET", resp.getheader("Location"))
        self.assertEqual((resp.status, body), (200, b"x"))
        resp, _ = self.c.request("GET", "/api/models/old-org/old-name/revision/main")
        self.assertEqual(resp.getheader("Location"), "/api/models/new-org/new-name/revision/main")

    def test_ranges(self):
        path = "/org/tiny/resolve/main/data/part-3.txt"
        content = b"part 3\n"
        cases = {"bytes=0-3": (0, 3), "bytes=2-": (2, 6), "bytes=5-100": (5, 6), "bytes=-2": (5, 6)}
        for header, (a, b) in cases.items():
            resp, body = self.c.request("GET", path, {"Range": header})
            self.assertEqual(resp.status, 206, header)
            self.assertEqual(body, content[a:b + 1], header)
            self.assertEqual(resp.getheader("Content-Range"), "bytes %d-%d/7" % (a, b))
        resp, body = self.c.request("GET", path, {"Range": "bytes=7-"})
        self.assertEqual(resp.status, 416)
        self.assertEqual(resp.getheader("Content-Range"), "bytes */7")
        resp, body = self.c.request("GET", path, {"Range": "bytes=0-1,3-4"})
        self.assertEqual((resp.status, body), (200, content))

    def test_range_on_cdn(self):
        resp, _ = self.c.request("HEAD", "/org/tiny/resolve/main/weights/model.safetensors")
        resp, body = self.c.request("GET", resp.getheader("Location"), {"Range": "bytes=1000-"})
        self.assertEqual(resp.status, 206)
        self.assertEqual(body, BIG[1000:])

    # ---- auth -----------------------------------------------------------------------------

    def test_gated_and_private(self):
        path = "/org/gated/resolve/main/a.txt"
        resp, _ = self.c.request("HEAD", path)
        self.assertEqual((resp.status, resp.getheader("X-Error-Code")), (401, "GatedRepo"))
        resp, _ = self.c.request("HEAD", path, {"Authorization": "Bearer wrong"})
        self.assertEqual((resp.status, resp.getheader("X-Error-Code")), (403, "GatedRepo"))
        resp, body = self.c.request("GET", path, {"Authorization": "Bearer " + TOKEN})
        self.assertEqual((resp.status, body), (200, b"secret\n"))
        # As on the real hub: a gated repo's API is public and says it is gated.
        resp, body = self.c.request("GET", "/api/models/org/gated/revision/main")
        self.assertEqual((resp.status, json.loads(body)["gated"]), (200, "auto"))
        resp, _ = self.c.request("GET", "/org/private/resolve/main/a.txt")
        self.assertEqual((resp.status, resp.getheader("X-Error-Code")), (401, "RepoNotFound"))
        resp, body = self.c.request("GET", "/org/private/resolve/main/a.txt",
                                    {"Authorization": "Bearer " + TOKEN})
        self.assertEqual((resp.status, body), (200, b"private\n"))

    # ---- hostile data ---------------------------------------------------------------------

    def test_hostile_listing(self):
        entries, _ = self.list_tree("/api/models/evil/repo/tree/main?recursive=true")
        paths = {e["path"]: e for e in entries}
        for p in ("../../etc/x", "/abs", "a/../../b"):
            self.assertEqual(paths[p]["type"], "file")
        self.assertEqual(paths["huge.bin"]["size"], 10**15)
        self.assertEqual(paths["liar.bin"]["lfs"]["oid"], "0" * 64)
        resp, _ = self.c.request("HEAD", "/evil/repo/resolve/main/huge.bin")
        self.assertEqual(resp.getheader("X-Linked-Size"), str(10**15))
        resp, _ = self.c.request("HEAD", "/evil/repo/resolve/main/liar.bin")
        self.assertEqual(resp.getheader("X-Linked-Etag"), '"%s"' % ("0" * 64))
        resp, body = self.c.request("GET", resp.getheader("Location"))
        self.assertEqual(body, b"real content")

    # ---- request log ----------------------------------------------------------------------

    def test_request_log_never_contains_the_token(self):
        self.c.request("GET", "/org/gated/resolve/main/a.txt",
                       {"Authorization": "Bearer " + TOKEN, "Range": "bytes=0-1"})
        log = self.hub.requests()
        self.assertEqual(len(log), 1)
        e = log[0]
        self.assertEqual((e["method"], e["path"], e["status"]),
                         ("GET", "/org/gated/resolve/main/a.txt", 206))
        self.assertTrue(e["authorization"])
        self.assertEqual(e["range"], "bytes=0-1")
        self.assertEqual(e["host"], "127.0.0.1:%d" % self.hub.port)
        self.assertNotIn(TOKEN, json.dumps(log))
        self.assertEqual(len(self.hub.requests(path="gated", method="GET")), 1)
        self.assertEqual(self.hub.requests(path="^/cdn/"), [])
        self.hub.reset()
        self.assertEqual(self.hub.requests(), [])

    def test_reload_moves_branch(self):
        hub = self.start_hub(RepoBuilder("o/r").add_file("a", b"1"))
        repo = hub.repos[0]
        old = repo.head
        repo.add_file("a", b"2")
        new = repo.commit("move")
        hub.update()
        c = Client(hub.url)
        self.addCleanup(c.close)
        resp, body = c.request("GET", "/o/r/resolve/main/a")
        self.assertEqual((resp.getheader("X-Repo-Commit"), body), (new, b"2"))
        resp, body = c.request("GET", "/o/r/resolve/%s/a" % old)
        self.assertEqual(body, b"1")


if __name__ == "__main__":
    unittest.main()
