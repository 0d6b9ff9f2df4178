"""The test hub's Xet side (hub-docs docs/xet/: auth.md, api.md, download-protocol.md).

* `/resolve/` of a Xet file keeps its 302 to the bridge (`/cdn/`, which rebuilds the file
  server-side like cas-bridge) and adds `X-Xet-Hash` and the `Link` relations `xet-auth`
  and `xet-reconstruction-info`; tree entries carry `xetHash`.
* `GET /api/{type}s/{repo}/xet-read-token/{rev}` (hub token) -> {accessToken, exp, casUrl}.
* `GET {casUrl}/v1|v2/reconstructions/{file id}` (xet token only, optional Range).
* `GET /cas/xorb/{id}?X-Xet-Signed-Range=...&Expires=...&Signature=...`: no Authorization,
  exactly the signed byte ranges (one -> 206, several -> multipart/byteranges).
Config (POST /_admin/config): `xet` (on/off), `xet_token_ttl`, `xet_url_ttl` (seconds),
`xet_versions` (reconstruction API versions answered), `xet_batch` (answer
`POST /v1/reconstructions`, the batch form, api.md endpoint 5), `xet_ranges_per_url`,
`xet_xorb_chunks`, `xet_cas_host`.
"""

import hashlib
import hmac
import io
import json
import re
import time
from urllib.parse import parse_qs, quote, unquote, urlsplit

from xetstore import XetStore, hash_to_str

HEX64 = re.compile(r"^[0-9a-f]{64}$")
XET_CONFIG = {"xet": False, "xet_token_ttl": 3600, "xet_url_ttl": 3600,
              "xet_versions": ["v1", "v2"], "xet_batch": True, "xet_ranges_per_url": 500,
              "xet_xorb_chunks": 1024,
              "xet_cas_host": None}


class CasError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def store_of(server):
    if getattr(server, "xet_store", None) is None:
        server.xet_store = XetStore(server.data_root,
                                    xorb_chunks=int(server.config["xet_xorb_chunks"]))
    return server.xet_store


def enabled(server, f):
    return bool(server.config.get("xet")) and f.lfs


def xet_file(server, f):
    return store_of(server).file(f.blob, f.blob_path)


def _mac(server, text):
    return hmac.new(server.secret, text.encode(), hashlib.sha256).hexdigest()[:40]


def issue_token(server, repo_id, rev):
    exp = int(time.time()) + int(server.config["xet_token_ttl"])
    body = "%d.%s" % (exp, hashlib.sha1(("%s@%s" % (repo_id, rev)).encode()).hexdigest()[:12])
    return "xet_%s.%s" % (body, _mac(server, body)), exp


def token_kind(server, token, data):
    """How the request was authorised, for the request log (never the value)."""
    if token is None:
        return None
    if token.startswith("xet_"):
        return "xet"
    if token in data.tokens or any(token in r.tokens for r in data.repos.values()):
        return "hub"
    return "other"


def check_token(server, token):
    if not token or not token.startswith("xet_"):
        raise CasError(401, "missing or non-Xet token")
    body, _, mac = token[4:].rpartition(".")
    if not hmac.compare_digest(mac, _mac(server, body)):
        raise CasError(401, "invalid Xet token")
    if int(body.split(".")[0]) < time.time():
        raise CasError(401, "Xet token expired")


def cas_url(handler):
    srv = handler.server
    if srv.config.get("xet_cas_host"):
        return "http://%s:%d/cas" % (srv.config["xet_cas_host"], srv.port)
    return handler.base_url() + "/cas"


def resolve_headers(handler, rtype, repo_id, rev, f):
    """Headers a Xet file's /resolve/ answer adds."""
    xf = xet_file(handler.server, f)
    prefix = "%s/api/%ss/%s" % (handler.base_url(), rtype, repo_id)
    token_url = "%s/xet-read-token/%s" % (prefix, quote(rev, safe=""))
    recon = "%s/v1/reconstructions/%s" % (cas_url(handler), xf.id)
    return {"X-Xet-Hash": xf.id,
            "Link": '<%s>; rel="xet-auth", <%s>; rel="xet-reconstruction-info"'
                    % (token_url, recon),
            "Access-Control-Expose-Headers": "X-Xet-Hash, Link, X-Linked-Size, X-Linked-Etag, "
                                             "X-Repo-Commit"}


def token_answer(handler, repo, rev):
    token, exp = issue_token(handler.server, repo.id, rev)
    body = {"accessToken": token, "exp": exp, "casUrl": cas_url(handler)}
    headers = {"X-Xet-Cas-Url": body["casUrl"], "X-Xet-Access-Token": token,
               "X-Xet-Token-Expiration": str(exp)}
    return body, headers


def _sign_url(handler, xid, ranges):
    srv = handler.server
    expires = int(time.time()) + int(srv.config["xet_url_ttl"])
    nonce = next(srv.nonce)
    signed = "bytes=" + ",".join("%d-%d" % r for r in ranges)
    sig = _mac(srv, "%s|%s|%d|%d" % (xid, signed, expires, nonce))
    return "%s/xorb/%s?X-Xet-Signed-Range=%s&Expires=%d&n=%d&Signature=%s" % (
        cas_url(handler), xid, quote(signed, safe=""), expires, nonce, sig)


def reconstruction(handler, version, file_id):
    srv = handler.server
    check_token(srv, handler.token())
    if version not in srv.config["xet_versions"]:
        raise CasError(404, "reconstruction API %s not served" % version)
    store = store_of(srv)
    f = store.by_id.get(file_id)
    if not HEX64.match(file_id) or f is None:
        raise CasError(404, "no such file")
    first, last = 0, None
    rng = handler.headers.get("Range")
    if rng:
        m = re.match(r"^bytes=(\d+)-(\d*)$", rng.strip())
        if not m:
            raise CasError(400, "bad Range")
        first, last = int(m.group(1)), int(m.group(2)) if m.group(2) else None
        if first >= f.size:
            raise CasError(416, "range starts past the end")
    if f.size == 0:
        return {"offset_into_first_range": 0, "terms": [], "xorbs" if version == "v2"
                else "fetch_info": {}}
    offset, terms, needed = store.plan(f, first, last)
    doc = {"offset_into_first_range": offset, "terms": terms}
    if version == "v1":
        doc["fetch_info"] = {
            xid: [{"range": {"start": s, "end": e},
                   "url": _sign_url(handler, xid, [store.byte_range(xid, (s, e))]),
                   "url_range": dict(zip(("start", "end"), store.byte_range(xid, (s, e))))}
                  for s, e in ranges]
            for xid, ranges in needed.items()}
        return doc
    per_url = max(1, int(srv.config["xet_ranges_per_url"]))
    xorbs = {}
    for xid, ranges in needed.items():
        fetches = []
        for i in range(0, len(ranges), per_url):
            group = ranges[i:i + per_url]
            byte_ranges = [store.byte_range(xid, r) for r in group]
            fetches.append({"url": _sign_url(handler, xid, byte_ranges),
                            "ranges": [{"chunks": {"start": s, "end": e},
                                        "bytes": {"start": b[0], "end": b[1]}}
                                       for (s, e), b in zip(group, byte_ranges)]})
        xorbs[xid] = fetches
    doc["xorbs"] = xorbs
    return doc


def _v1_fetch_info(handler, store, needed, into):
    for xid, ranges in needed.items():
        have = into.setdefault(xid, [])
        for s, e in ranges:
            b = store.byte_range(xid, (s, e))
            have.append({"range": {"start": s, "end": e}, "url": _sign_url(handler, xid, [b]),
                         "url_range": {"start": b[0], "end": b[1]}})


def batch_reconstruction(handler, body):
    """POST /v1/reconstructions: [{"prefix": "default", "hash": id}] -> {files: {id: terms},
    fetch_info: {xorb: [v1 fetch info]}}; whole files only (no Range). Unknown ids are left
    out of `files`."""
    srv = handler.server
    check_token(srv, handler.token())
    if not srv.config.get("xet_batch") or "v1" not in srv.config["xet_versions"]:
        raise CasError(404, "batch reconstruction not served")
    try:
        keys = json.loads(body or b"null")
        ids = [k["hash"] for k in keys if k.get("prefix") == "default"]
    except (ValueError, TypeError, KeyError, AttributeError):
        raise CasError(400, "malformed batch request")
    if not isinstance(keys, list) or len(ids) != len(keys) or len(set(ids)) != len(ids):
        raise CasError(400, "malformed batch request")
    store = store_of(srv)
    files, fetch_info = {}, {}
    for fid in ids:
        f = store.by_id.get(fid) if isinstance(fid, str) and HEX64.match(fid) else None
        if f is None:
            continue
        if f.size == 0:
            files[fid] = []
            continue
        _, terms, needed = store.plan(f)
        files[fid] = terms
        _v1_fetch_info(handler, store, needed, fetch_info)
    return {"files": files, "fetch_info": fetch_info}


def route_post(handler, segs, body):
    """Answers POST /cas/... (segs after "cas")."""
    try:
        if segs == ["v1", "reconstructions"]:
            return handler.send_json(200, batch_reconstruction(handler, body))
        raise CasError(404, "unknown CAS route")
    except CasError as e:
        return handler.send_json(e.status, {"error": e.message})


def xorb(handler, xid):
    """Bytes of a xorb, exactly the signed ranges. Returns (status, headers, body file,
    start, length) for the handler to send."""
    srv = handler.server
    q = parse_qs(urlsplit(handler.path).query)
    try:
        signed, expires, sig = q["X-Xet-Signed-Range"][0], int(q["Expires"][0]), q["Signature"][0]
        nonce = int(q["n"][0])
    except (KeyError, ValueError):
        raise CasError(403, "unsigned xorb URL")
    if handler.headers.get("Authorization"):
        raise CasError(400, "signed URLs take no Authorization")
    if any(f.type == "expire_cdn" for f in handler.req_faults):
        srv.revoked.add(sig)
    good = hmac.compare_digest(sig, _mac(srv, "%s|%s|%d|%d" % (xid, signed, expires, nonce)))
    if not good or expires < time.time() or sig in srv.revoked:
        raise CasError(403, "signature invalid or expired")
    # The whole signed set (one multipart answer) or any one of its ranges (one GET per
    # range, xet-core's default); anything else is outside the signature.
    asked = (handler.headers.get("Range") or "").replace(" ", "")
    signed_ranges = unquote(signed)[6:].split(",")
    if asked != unquote(signed) and asked[6:] not in signed_ranges:
        raise CasError(403, "Range does not match the signed range")
    x = store_of(srv).xorbs.get(xid)
    if x is None:
        raise CasError(404, "no such xorb")
    ranges = [tuple(int(v) for v in part.split("-")) for part in asked[6:].split(",")]
    total = x.offsets[-1]
    if len(ranges) == 1:
        s, e = ranges[0]
        return 206, {"Content-Range": "bytes %d-%d/%d" % (s, e, total)}, x.path, s, e - s + 1
    boundary = "xetpart" + hashlib.sha1(signed.encode()).hexdigest()[:16]
    buf = io.BytesIO()
    with open(x.path, "rb") as src:
        for s, e in ranges:
            buf.write(("--%s\r\nContent-Type: application/octet-stream\r\n"
                       "Content-Range: bytes %d-%d/%d\r\n\r\n" % (boundary, s, e, total)).encode())
            src.seek(s)
            buf.write(src.read(e - s + 1))
            buf.write(b"\r\n")
        buf.write(("--%s--\r\n" % boundary).encode())
    body = buf.getvalue()
    headers = {"Content-Type": "multipart/byteranges; boundary=" + boundary}
    return 206, headers, io.BytesIO(body), 0, len(body)


def route(handler, segs):
    """Answers /cas/... (segs after "cas")."""
    try:
        if len(segs) == 3 and segs[0] in ("v1", "v2") and segs[1] == "reconstructions":
            return handler.send_json(200, reconstruction(handler, segs[0], segs[2]))
        if len(segs) == 2 and segs[0] == "xorb" and HEX64.match(segs[1]):
            status, headers, body, start, length = xorb(handler, segs[1])
            headers.setdefault("Content-Type", "application/octet-stream")
            handler.start_response(status, headers, length)
            if isinstance(body, str):
                with open(body, "rb") as f:
                    handler.transmit(f, start, length)
            else:
                handler.transmit(body, start, length)
            return None
        raise CasError(404, "unknown CAS route")
    except CasError as e:
        return handler.send_json(e.status, {"error": e.message})


def wants_fileinfo(handler):
    """huggingface.js probes with Accept: application/vnd.xet-fileinfo+json (its fetch follows
    redirects, so the Xet answer must not be one)."""
    return "application/vnd.xet-fileinfo+json" in (handler.headers.get("Accept") or "")


def fileinfo_body(handler, f):
    xf = xet_file(handler.server, f)
    return json.dumps({"hash": xf.id, "size": xf.size}).encode()


def truth(server, file_id):
    """What the CAS computed for a file (admin): chunk hashes and lengths, and each xorb's
    chunks, for checking a client's hasher."""
    store = store_of(server)
    f = store.by_id.get(file_id)
    if f is None:
        return None
    xorbs = {}
    for xid, _ in f.locations:
        x = store.xorbs[xid]
        xorbs[xid] = [[hash_to_str(h), n] for h, n in zip(x.hashes, x.lengths)]
    return {"file_id": f.id, "chunks": [[hash_to_str(h), n] for h, n in f.chunks],
            "xorbs": xorbs}


def tree_hashes(server, repo, commit, entries):
    """Adds xetHash to the tree entries of Xet files."""
    files = repo.commits[commit]
    for e in entries:
        f = files.get(e.get("path"))
        if e.get("type") == "file" and f is not None and enabled(server, f):
            e["xetHash"] = xet_file(server, f).id
    return entries

