"""The test hub's Xet mode (tests/hub/xetcas.py, xetstore.py) checked against the spec
(hub-docs docs/xet/) with the stdlib HTTP client and an independent chunk decoder: every Xet
test of modelbake relies on this server behaving like the Hub and its CAS."""

import http.client
import json
import os
import re
import struct
import sys
import unittest
from urllib.parse import urlsplit

import lz4.frame

from mbtest import MbTestCase, RepoBuilder, pseudo_random_bytes, sha256_hex, source_dir

sys.path.insert(0, os.path.join(source_dir(), "tests", "hub"))
import xetstore  # noqa: E402

TOKEN = "hf_xet_test_token"
# Incompressible and compressible parts, so LZ4 and BG4 records really compress.
DATA = (pseudo_random_bytes(900_000, seed=7) + b"".join(b"row %08d of a table\n" % i
                                                       for i in range(30_000)))


def get(url, headers=None, method="GET"):
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.netloc, timeout=60)
    conn.request(method, u.path + ("?" + u.query if u.query else ""), headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, r.headers, body


def regroup_bg4(data, n):
    """Inverse of byte grouping (xorb.md), written apart from the hub's splitter."""
    q, r = divmod(n, 4)
    sizes = [q + (1 if k < r else 0) for k in range(4)]
    planes, pos = [], 0
    for s in sizes:
        planes.append(data[pos:pos + s])
        pos += s
    out = bytearray(n)
    for k in range(4):
        out[k::4] = planes[k]
    return bytes(out)


def decode_records(body, count):
    """(chunks, schemes) of `count` back-to-back chunk records."""
    chunks, schemes, pos = [], [], 0
    for _ in range(count):
        version, c0, c12, scheme, u0, u12 = struct.unpack_from("<BBHBBH", body, pos)
        clen, ulen = c0 | c12 << 8, u0 | u12 << 8
        assert version == 0
        payload = body[pos + 8:pos + 8 + clen]
        pos += 8 + clen
        if scheme == 0:
            data = payload
        elif scheme == 1:
            data = lz4.frame.decompress(payload)
        else:
            data = regroup_bg4(lz4.frame.decompress(payload), ulen)
        assert len(data) == ulen, (len(data), ulen)
        chunks.append(data)
        schemes.append(scheme)
    assert pos == len(body), (pos, len(body))
    return chunks, schemes


def split_multipart(headers, body):
    """{first byte: part body} of a multipart/byteranges answer."""
    boundary = re.search(r"boundary=(\S+)", headers["Content-Type"]).group(1).encode()
    parts = {}
    for piece in body.split(b"--" + boundary)[1:]:
        if piece.startswith(b"--"):
            break
        head, _, rest = piece.partition(b"\r\n\r\n")
        first = int(re.search(rb"Content-Range: bytes (\d+)-", head).group(1))
        parts[first] = rest[:-2]
    return parts


class XetClient:
    """A minimal reference client: token, reconstruction, xorb ranges, decode."""

    def __init__(self, test, hub, repo="org/xet", rev="main"):
        self.test, self.hub = test, hub
        status, _, body = get("%s/api/models/%s/xet-read-token/%s" % (hub.url, repo, rev),
                              {"Authorization": "Bearer " + TOKEN})
        test.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.token, self.cas = doc["accessToken"], doc["casUrl"]
        self.schemes = set()
        self.multipart = 0

    def reconstruction(self, file_id, version="v2", rng=None):
        headers = {"Authorization": "Bearer " + self.token}
        if rng:
            headers["Range"] = rng
        status, _, body = get("%s/%s/reconstructions/%s" % (self.cas, version, file_id), headers)
        self.test.assertEqual(status, 200, body)
        return json.loads(body)

    def fetch_chunks(self, url, ranges):
        """{(chunk index): bytes} for [(chunk start, chunk end, byte start, byte end)]."""
        spec = "bytes=" + ",".join("%d-%d" % (r[2], r[3]) for r in ranges)
        status, headers, body = get(url, {"Range": spec})
        self.test.assertEqual(status, 206, body[:200])
        parts = split_multipart(headers, body) if len(ranges) > 1 else {ranges[0][2]: body}
        self.multipart += len(ranges) > 1
        out = {}
        for cs, ce, bs, _ in ranges:
            chunks, schemes = decode_records(parts[bs], ce - cs)
            self.schemes.update(schemes)
            out.update({cs + i: c for i, c in enumerate(chunks)})
        return out

    def download(self, file_id, version="v2", rng=None):
        doc = self.reconstruction(file_id, version, rng)
        chunks = {}
        if version == "v2":
            for xid, fetches in doc["xorbs"].items():
                for f in fetches:
                    got = self.fetch_chunks(f["url"], [
                        (r["chunks"]["start"], r["chunks"]["end"], r["bytes"]["start"],
                         r["bytes"]["end"]) for r in f["ranges"]])
                    chunks.update({(xid, i): c for i, c in got.items()})
        else:
            for xid, infos in doc["fetch_info"].items():
                for f in infos:
                    got = self.fetch_chunks(f["url"], [
                        (f["range"]["start"], f["range"]["end"], f["url_range"]["start"],
                         f["url_range"]["end"])])
                    chunks.update({(xid, i): c for i, c in got.items()})
        out = bytearray()
        for t in doc["terms"]:
            data = b"".join(chunks[(t["hash"], i)]
                            for i in range(t["range"]["start"], t["range"]["end"]))
            self.test.assertEqual(len(data), t["unpacked_length"])
            out += data
        return bytes(out[doc["offset_into_first_range"]:]), doc


class TestTestHubXet(MbTestCase):
    def start(self, data=DATA, **config):
        repo = RepoBuilder("org/xet", tokens=[TOKEN]).add_file("model.bin", data, lfs=True)
        repo.add_file("config.json", b"{}")
        self.repo = repo
        hub = self.start_hub(repo, xet=True)
        hub.set_config(xet_xorb_chunks=4, **config)
        return hub

    def file_id(self, hub, path="model.bin"):
        status, headers, _ = get(hub.resolve_url("org/xet", path), method="HEAD")
        self.assertEqual(status, 302)
        return headers["X-Xet-Hash"], headers

    def test_resolve_and_tree_name_the_file_id(self):
        hub = self.start()
        file_id, headers = self.file_id(hub)
        self.assertRegex(file_id, "^[0-9a-f]{64}$")
        link = headers["Link"]
        self.assertIn('/api/models/org/xet/xet-read-token/main>; rel="xet-auth"', link)
        self.assertIn("/cas/v1/reconstructions/%s>; rel=\"xet-reconstruction-info\"" % file_id,
                      link)
        self.assertEqual(headers["X-Linked-Etag"].strip('"'), sha256_hex(DATA))
        status, _, body = get(hub.url + "/api/models/org/xet/tree/main?recursive=true")
        entries = {e["path"]: e for e in json.loads(body)}
        self.assertEqual(entries["model.bin"]["xetHash"], file_id)
        self.assertNotIn("xetHash", entries["config.json"])  # a regular git file
        # The bridge still serves the whole file.
        status, _, body = get(headers["Location"])
        self.assertEqual((status, body == DATA), (200, True))

    def test_v2_multirange_and_v1_rebuild_the_file_with_every_scheme(self):
        hub = self.start(xet_ranges_per_url=2)
        file_id, _ = self.file_id(hub)
        client = XetClient(self, hub)
        got, doc = client.download(file_id, "v2")
        self.assertEqual(got, DATA)
        self.assertEqual(client.schemes, {0, 1, 2})
        self.assertGreater(len(doc["xorbs"]), 3)
        self.assertTrue(any(len(f["ranges"]) == 1 for fs in doc["xorbs"].values() for f in fs))
        got, _ = client.download(file_id, "v1")
        self.assertEqual(got, DATA)

    def test_multirange_urls_exercise_multipart(self):
        # The same file twice in a row shares every chunk: the second copy's terms repeat
        # the first's xorb ranges, so one URL carries several ranges.
        hub = self.start(data=DATA + DATA, xet_ranges_per_url=3)
        file_id, _ = self.file_id(hub)
        client = XetClient(self, hub)
        got, doc = client.download(file_id, "v2")
        self.assertEqual(got, DATA + DATA)
        self.assertLess(sum(t["unpacked_length"] for t in doc["terms"][:len(doc["terms"]) // 2 + 1]),
                        len(DATA) + 300_000)

    def test_range_query_starts_mid_chunk(self):
        hub = self.start()
        file_id, _ = self.file_id(hub)
        client = XetClient(self, hub)
        got, doc = client.download(file_id, "v2", rng="bytes=200000-700000")
        self.assertGreater(doc["offset_into_first_range"], 0)
        self.assertEqual(got[:500001], DATA[200000:700001])

    def test_tokens_and_signed_urls(self):
        hub = self.start()
        file_id, _ = self.file_id(hub)
        client = XetClient(self, hub)
        recon = "%s/v2/reconstructions/%s" % (client.cas, file_id)
        self.assertEqual(get(recon)[0], 401)
        self.assertEqual(get(recon, {"Authorization": "Bearer " + TOKEN})[0], 401)
        kinds = [r["auth"] for r in hub.requests(path="/cas/v2/")]
        self.assertEqual(kinds, [None, "hub"])
        doc = client.reconstruction(file_id)
        fetch = next(iter(doc["xorbs"].values()))[0]
        r = fetch["ranges"][0]
        good = "bytes=%d-%d" % (r["bytes"]["start"], r["bytes"]["end"])
        self.assertEqual(get(fetch["url"], {"Range": good})[0], 206)
        wider = "bytes=%d-%d" % (r["bytes"]["start"], r["bytes"]["end"] + 1)
        self.assertEqual(get(fetch["url"], {"Range": wider})[0], 403)
        self.assertEqual(get(fetch["url"], {"Range": good, "Authorization": "Bearer x"})[0], 400)
        self.assertEqual(get(fetch["url"].replace("Signature=", "Signature=0"),
                             {"Range": good})[0], 403)
        hub.set_config(xet_token_ttl=-5)
        expired = XetClient(self, hub)
        self.assertEqual(get(recon, {"Authorization": "Bearer " + expired.token})[0], 401)

    def test_token_route_needs_the_hub_token_for_a_private_repo(self):
        repo = RepoBuilder("org/secret", private=True, tokens=[TOKEN])
        repo.add_file("m.bin", b"x" * 100, lfs=True)
        hub = self.start_hub(repo, xet=True)
        url = hub.url + "/api/models/org/secret/xet-read-token/main"
        self.assertEqual(get(url)[0], 401)
        status, headers, body = get(url, {"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 200)
        self.assertEqual(headers["X-Xet-Access-Token"], json.loads(body)["accessToken"])

    def test_v2_can_be_switched_off(self):
        hub = self.start(xet_versions=["v1"])
        file_id, _ = self.file_id(hub)
        client = XetClient(self, hub)
        status, _, _ = get("%s/v2/reconstructions/%s" % (client.cas, file_id),
                           {"Authorization": "Bearer " + client.token})
        self.assertEqual(status, 404)
        self.assertEqual(client.download(file_id, "v1")[0], DATA)

    def test_batch_reconstruction_answers_known_files_in_the_v1_shape(self):
        hub = self.start()
        file_id, _ = self.file_id(hub)
        client = XetClient(self, hub)
        unknown = "0" * 64

        def post(body, token=client.token):
            u = urlsplit(client.cas + "/v1/reconstructions")
            conn = http.client.HTTPConnection(u.netloc, timeout=60)
            conn.request("POST", u.path, body=body,
                         headers={"Authorization": "Bearer " + token,
                                  "Content-Type": "application/json"})
            r = conn.getresponse()
            out = r.status, r.read()
            conn.close()
            return out
        keys = [{"prefix": "default", "hash": h} for h in (file_id, unknown)]
        status, body = post(json.dumps(keys))
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual(set(doc["files"]), {file_id})  # unknown ids are left out
        single = client.reconstruction(file_id, "v1")
        self.assertEqual(doc["files"][file_id], single["terms"])
        self.assertEqual(set(doc["fetch_info"]), set(single["fetch_info"]))
        # The batch's fetch_info rebuilds the file like a v1 answer does.
        rebuilt = bytearray()
        chunks = {}
        for xid, infos in doc["fetch_info"].items():
            for f in infos:
                got = client.fetch_chunks(f["url"], [(f["range"]["start"], f["range"]["end"],
                                                      f["url_range"]["start"],
                                                      f["url_range"]["end"])])
                chunks.update({(xid, i): c for i, c in got.items()})
        for t in doc["files"][file_id]:
            rebuilt += b"".join(chunks[(t["hash"], i)]
                                for i in range(t["range"]["start"], t["range"]["end"]))
        self.assertEqual(bytes(rebuilt), DATA)
        self.assertEqual(post(b"{not json")[0], 400)
        self.assertEqual(post(json.dumps(keys), token="hf_not_xet")[0], 401)
        hub.set_config(xet_batch=False)
        self.assertEqual(post(json.dumps(keys))[0], 404)

    def test_a_new_revision_reuses_the_chunks_of_the_old_one(self):
        hub = self.start()
        old_id, _ = self.file_id(hub)
        # Change a few bytes in the middle of chunk 5 (second chunk of the second xorb).
        path = self.tmp.join("data")
        with open(path, "wb") as f:
            f.write(DATA)
        start, end = xetstore.chunk_boundaries(path)[5]
        changed = bytearray(DATA)
        middle = (start + end) // 2
        changed[middle:middle + 100] = b"\x00" * 100
        self.repo.add_file("model.bin", bytes(changed), lfs=True)
        self.repo.commit("one percent")
        hub.update()
        new_id, _ = self.file_id(hub)
        self.assertNotEqual(new_id, old_id)
        client = XetClient(self, hub)
        old_xorbs = set(client.reconstruction(old_id)["xorbs"])
        doc = client.reconstruction(new_id)
        fresh = sum(t["unpacked_length"] for t in doc["terms"] if t["hash"] not in old_xorbs)
        self.assertLess(fresh, 3 * xetstore.MAX_CHUNK)
        self.assertEqual(client.download(new_id)[0], bytes(changed))
        # The old xorb around the change is needed in two pieces: one multipart answer.
        self.assertGreater(client.multipart, 0)


class TestChunking(unittest.TestCase):
    def test_boundaries_follow_the_spec_pseudocode(self):
        data = pseudo_random_bytes(400_000, seed=3) + b"\x00" * 300_000 + b"ab" * 20_000
        path = os.path.join(self.enterContext(TempDirCM()), "f")
        with open(path, "wb") as f:
            f.write(data)
        cuts, h, start = [], 0, 0
        for i, b in enumerate(data):  # chunking.md's pseudocode, byte by byte
            h = ((h << 1) + xetstore.GEAR_TABLE[b]) & 0xFFFFFFFFFFFFFFFF
            size = i + 1 - start
            if size < xetstore.MIN_CHUNK:
                continue
            if size >= xetstore.MAX_CHUNK or (h & xetstore.MASK) == 0:
                cuts.append((start, i + 1))
                start, h = i + 1, 0
        if start < len(data):
            cuts.append((start, len(data)))
        self.assertEqual(xetstore.chunk_boundaries(path), cuts)
        self.assertGreater(len(cuts), 5)

    def test_hash_strings_swap_each_eight_bytes(self):
        raw = bytes(range(32))
        text = xetstore.hash_to_str(raw)
        self.assertEqual(text, "07060504030201000f0e0d0c0b0a0908"
                               "17161514131211101f1e1d1c1b1a1918")
        self.assertEqual(xetstore.str_to_hash(text), raw)


class TempDirCM:
    def __enter__(self):
        import tempfile
        self.d = tempfile.TemporaryDirectory(prefix="mbtest-chunk-")
        return self.d.name

    def __exit__(self, *exc):
        self.d.cleanup()


if __name__ == "__main__":
    unittest.main()
