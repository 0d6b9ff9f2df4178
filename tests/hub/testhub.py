#!/usr/bin/python3
"""A Hugging Face hub-compatible HTTP server for modelbake's tests (stdlib only).

    /usr/bin/python3 tests/hub/testhub.py --data DIR [--faults FILE] [--page-size N]

Prints {"port": N, "url": ...} as its first stdout line once it accepts connections.
See tests/hub/README.md for the data directory, the admin endpoints and the faults.
"""

import argparse
import base64
import gzip
import hashlib
import hmac
import io
import itertools
import json
import os
import re
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faults import ANSWER_TYPES, FaultError, FaultSet, canned_answer, load_fault_specs  # noqa: E402
from hubdata import HEX40, HubData, siblings, tree_entries  # noqa: E402
from sending import Unsatisfiable, abort_connection, parse_range, send_body  # noqa: E402
import xetcas  # noqa: E402

API_ACTIONS = {"revision", "tree", "refs", "paths-info", "xet-read-token"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class HubServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def __init__(self, data_root, page_size=1000, cdn_host=None, cdn_ttl=3600):
        super().__init__(("127.0.0.1", 0), Handler)
        self.data_root = data_root
        self.data = HubData(data_root)
        self.config = {"page_size": page_size, "cdn_host": cdn_host, "cdn_ttl": cdn_ttl,
                       "cdn_reject_auth": False, "gzip": False}
        self.config.update(xetcas.XET_CONFIG)
        self.xet_store = None
        self.faults = FaultSet()
        self.stop_event = threading.Event()
        self.secret = os.urandom(16)
        self.nonce = itertools.count(1)
        self.revoked = set()
        self.log_lock = threading.Lock()
        self.requests = []

    @property
    def port(self):
        return self.server_address[1]

    def sign(self, blob, expires, nonce):
        msg = ("%s:%d:%d" % (blob, expires, nonce)).encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()[:32]

    def log_request_entry(self, entry):
        with self.log_lock:
            entry["seq"] = len(self.requests)
            self.requests.append(entry)


class HubError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def split_rev(segs):
    """(revision, remaining segments): refs/pr/N may arrive unquoted as three segments."""
    if not segs:
        return None, []
    if len(segs) >= 3 and segs[0] == "refs" and segs[1] == "pr":
        return "refs/pr/" + unquote(segs[2]), segs[3:]
    return unquote(segs[0]), segs[1:]


def repo_split(segs, actions):
    """Splits [org, name, action, ...] or [name, action, ...] into (repo_id, rest)."""
    if len(segs) >= 3 and segs[2] in actions:
        return unquote(segs[0]) + "/" + unquote(segs[1]), segs[2:]
    if len(segs) >= 2 and segs[1] in actions:
        return unquote(segs[0]), segs[1:]
    if len(segs) == 2:
        return unquote(segs[0]) + "/" + unquote(segs[1]), []
    if len(segs) == 1:
        return unquote(segs[0]), []
    return None, segs


def parse_paths(body):
    """paths-info bodies come as JSON {"paths": [...]} or as a form with repeated paths=."""
    text = body.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
        paths = doc.get("paths", []) if isinstance(doc, dict) else []
    except ValueError:
        paths = parse_qs(text).get("paths", [])
    return [p for p in paths if isinstance(p, str)]


def paths_info(repo, commit, paths):
    wanted = set(paths)
    entries = tree_entries(repo, commit, "", recursive=True)
    return [e for e in entries if e["path"] in wanted]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "testhub/1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    # ---- plumbing -------------------------------------------------------------------------

    def read_request_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def token(self):
        auth = self.headers.get("Authorization")
        if auth is None:
            return None
        parts = auth.split(None, 1)
        return parts[1].strip() if len(parts) == 2 and parts[0].lower() == "bearer" else ""

    def start_response(self, status, headers, length):
        self.send_response(status)
        for k, v in headers.items():
            # Header values must be latin-1 without line breaks; file names may be neither.
            value = str(v).replace("\r", " ").replace("\n", " ")
            self.send_header(k, value.encode("ascii", "backslashreplace").decode("ascii"))
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.entry["status"] = status

    def send_bytes(self, status, body, headers=None, content_type="application/json"):
        h = {"Content-Type": content_type}
        h.update(headers or {})
        self.start_response(status, h, len(body))
        if self.command != "HEAD":
            self.transmit(io.BytesIO(body), 0, len(body))

    def send_json(self, status, obj, headers=None):
        self.send_bytes(status, json.dumps(obj).encode(), headers)

    def send_error_json(self, err):
        h = {"X-Error-Code": err.code, "X-Error-Message": err.message} if err.code else {}
        h.update(err.headers)
        self.send_json(err.status, {"error": err.message}, h)

    def transmit(self, fobj, start, length):
        self.wfile.flush()
        sent, dropped = send_body(self.connection, fobj, start, length, self.req_faults,
                                  self.server.stop_event)
        self.entry["body_bytes"] = sent
        if dropped:
            self.entry["dropped"] = True
            self.close_connection = True
            if any(f.type == "drop" and f.spec.get("rst") for f in self.req_faults):
                abort_connection(self.connection)
            else:
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve_file(self, path, headers):
        size = os.path.getsize(path)
        h = dict(headers)
        h["Accept-Ranges"] = "bytes"
        h.setdefault("Content-Type", "application/octet-stream")
        status, start, length = 200, 0, size
        ignore = any(f.type == "ignore_range" for f in self.req_faults)
        if not ignore:
            try:
                rng = parse_range(self.headers.get("Range"), size)
            except Unsatisfiable:
                h["Content-Range"] = "bytes */%d" % size
                raise HubError(416, None, "Requested range not satisfiable", h)
            if rng:
                status, start, length = 206, rng[0], rng[1] - rng[0] + 1
                h["Content-Range"] = "bytes %d-%d/%d" % (rng[0], rng[1], size)
        self.start_response(status, h, length)
        if self.command != "HEAD":
            with open(path, "rb") as f:
                self.transmit(f, start, length)

    def base_url(self):
        return "http://" + (self.headers.get("Host") or "127.0.0.1:%d" % self.server.port)

    # ---- dispatch -------------------------------------------------------------------------

    def dispatch(self, method):
        target = self.path
        path = urlsplit(target).path
        if path.startswith("/_admin/"):
            return self.admin(method, path)
        body = self.read_request_body()  # always drained, or keep-alive would desync
        self.entry = {"method": method, "path": target, "host": self.headers.get("Host"),
                      "authorization": "Authorization" in self.headers,
                      "auth": xetcas.token_kind(self.server, self.token(), self.server.data),
                      "range": self.headers.get("Range"), "status": None,
                      "time": time.time()}
        self.server.log_request_entry(self.entry)
        self.req_faults = self.server.faults.take(method, target, self.headers.get("Host"),
                                                  self.headers.get("Range"))
        self.entry["faults"] = [f.type for f in self.req_faults]
        try:
            self.answer(method, path, body)
        finally:
            self.entry["done"] = True  # body_bytes and status are final (requests(settled=True))

    def answer(self, method, path, body):
        try:
            for f in self.req_faults:
                if f.type == "reset":
                    self.close_connection = True
                    abort_connection(self.connection)
                    return
            for f in self.req_faults:
                if f.type == "hang" and "after_bytes" not in f.spec:
                    self.server.stop_event.wait(float(f.spec.get("seconds", 30)))
            for f in self.req_faults:
                if f.type == "status":
                    h = {}
                    if f.spec.get("retry_after") is not None:
                        h["Retry-After"] = f.spec["retry_after"]
                    raise HubError(f.status, f.spec.get("error_code"),
                                   f.spec.get("message", "injected fault"), h)
            for f in self.req_faults:
                if f.type in ANSWER_TYPES:
                    status, h, message = canned_answer(f)
                    raise HubError(status, None, message, h)
            self.route(method, path, body)
        except HubError as e:
            self.send_error_json(e)
        except ConnectionError:  # the client went away (or a fault cut the connection)
            self.close_connection = True
        except Exception:  # a hub bug: say so loudly instead of a silent reset
            traceback.print_exc()
            self.close_connection = True
            if self.entry["status"] is None:
                self.send_error_json(HubError(500, None, "testhub internal error (see its stderr)"))

    def route(self, method, path, body):
        segs = path[1:].split("/")
        if segs[0] == "api" and len(segs) >= 2 and segs[1] in ("models", "datasets"):
            return self.api(segs[1][:-1], segs[2:], body)
        if segs[0] == "cdn" and len(segs) == 2:
            return self.cdn(segs[1])
        if segs[0] == "cas" and method == "GET":
            return xetcas.route(self, segs[1:])
        if segs[0] == "cas" and method == "POST":
            return xetcas.route_post(self, segs[1:], body)
        if method in ("GET", "HEAD"):
            rtype = "model"
            if segs[0] == "datasets":
                rtype, segs = "dataset", segs[1:]
            repo_id, rest = repo_split(segs, {"resolve"})
            if repo_id and rest and rest[0] == "resolve":
                return self.resolve(rtype, repo_id, rest[1:])
        raise HubError(404, None, "Not found: " + path)

    def lookup_repo(self, rtype, repo_id, api=False):
        """The repo, or the hub's refusal. As on the real hub, a gated repo's API (metadata,
        listings) is public, with "gated": "auto"/"manual"; only its files need a token."""
        data = self.server.data
        new_id = data.renames.get((rtype, repo_id))
        if new_id:  # renamed repo: relative redirect, only the path changes
            prefix = {"model": "", "dataset": "/datasets"}[rtype]
            old = prefix + "/" + repo_id
            path = self.path
            if path.startswith("/api/"):
                old = "/api/%ss/%s" % (rtype, repo_id)
                new = "/api/%ss/%s" % (rtype, new_id)
            else:
                new = prefix + "/" + new_id
            location = new + path[len(old):] if path.startswith(old) else new
            raise HubError(307, None, "Moved", {"Location": location})
        repo = data.find(rtype, repo_id)
        token = self.token()
        if repo is None:
            raise HubError(401 if token is None else 404, "RepoNotFound",
                           "Repository Not Found for url: %s%s." % (self.base_url(), self.path))
        if (repo.private or (repo.gated and not api)) and not data.token_ok(repo, token):
            if repo.private:
                raise HubError(401, "RepoNotFound", "Repository Not Found or not authorized.")
            if token is None:
                raise HubError(401, "GatedRepo",
                               "Access to %s %s is restricted. You must have access to it and be "
                               "authenticated to access it. Please log in." % (rtype, repo_id))
            raise HubError(403, "GatedRepo",
                           "Access to %s %s is restricted and your token does not grant it."
                           % (rtype, repo_id))
        return repo

    def resolve_rev(self, repo, rev):
        commit = repo.resolve(rev) if rev else None
        if commit is None:
            raise HubError(404, "RevisionNotFound", "Invalid rev id: %s" % rev)
        return commit

    # ---- hub endpoints --------------------------------------------------------------------

    def resolve(self, rtype, repo_id, segs):
        repo = self.lookup_repo(rtype, repo_id)
        rev, rest = split_rev(segs)
        commit = self.resolve_rev(repo, rev)
        fpath = "/".join(unquote(s) for s in rest)
        f = repo.commits[commit].get(fpath)
        if f is None:
            raise HubError(404, "EntryNotFound", "%s does not exist on \"%s\"" % (fpath, rev),
                           {"X-Repo-Commit": commit})
        headers = {"X-Repo-Commit": commit}
        if f.lfs:
            expires = int(time.time()) + int(self.server.config["cdn_ttl"])
            nonce = next(self.server.nonce)
            query = urlencode({"expires": expires, "n": nonce,
                               "sig": self.server.sign(f.blob, expires, nonce)})
            location = "http://%s:%d/cdn/%s?%s" % (self.cdn_host(), self.server.port, f.blob, query)
            headers.update({"Location": location, "X-Linked-Etag": '"%s"' % f.etag,
                            "X-Linked-Size": f.linked_size, "ETag": '"%s"' % f.oid})
            if xetcas.enabled(self.server, f):
                headers.update(xetcas.resolve_headers(self, rtype, repo_id, rev, f))
                if xetcas.wants_fileinfo(self):
                    del headers["Location"]
                    return self.send_bytes(200, xetcas.fileinfo_body(self, f), headers,
                                           "application/vnd.xet-fileinfo+json")
            body = ("Found. Redirecting to %s" % location).encode()
            return self.send_bytes(302, body, headers, "text/plain; charset=utf-8")
        headers["ETag"] = '"%s"' % f.etag
        if self.wants_gzip(f.size):
            # Like the real hub for small text files: the body (and Content-Length) is the
            # gzip stream; the digest covers the decoded bytes.
            with open(f.blob_path, "rb") as src:
                body = gzip.compress(src.read(), mtime=0)
            headers["Content-Encoding"] = "gzip"
            return self.send_bytes(200, body, headers, "application/octet-stream")
        self.serve_file(f.blob_path, headers)

    def wants_gzip(self, size):
        accepted = self.headers.get("Accept-Encoding") or ""
        return (self.server.config.get("gzip") and "gzip" in accepted and size <= (1 << 20)
                and "Range" not in self.headers)

    def cdn_host(self):
        if self.server.config.get("cdn_host"):
            return self.server.config["cdn_host"]
        host = (self.headers.get("Host") or "127.0.0.1").rsplit(":", 1)[0]
        return "127.0.0.1" if host == "localhost" else "localhost"

    def cdn(self, blob):
        query = parse_qs(urlsplit(self.path).query)
        path = os.path.join(self.server.data.blob_dir, blob)
        if not HEX64.match(blob) or not os.path.isfile(path):
            raise HubError(404, None, "NoSuchKey")
        if self.server.config.get("cdn_reject_auth") and "Authorization" in self.headers:
            raise HubError(400, None, "Only one auth mechanism allowed")
        try:
            expires, nonce, sig = int(query["expires"][0]), int(query["n"][0]), query["sig"][0]
        except (KeyError, ValueError):
            raise HubError(403, None, "AccessDenied: missing signature")
        if any(f.type == "expire_cdn" for f in self.req_faults):
            self.server.revoked.add(sig)
        valid = hmac.compare_digest(sig, self.server.sign(blob, expires, nonce))
        if not valid or expires < time.time() or sig in self.server.revoked:
            raise HubError(403, None, "AccessDenied: Request has expired")
        # The CDN's own ETag is not the sha256 (as with Xet-backed files): clients must take
        # the content digest from X-Linked-Etag on the hub hop.
        self.serve_file(path, {"ETag": '"cdn-%s"' % blob[:20]})

    def api(self, rtype, segs, body):
        repo_id, rest = repo_split(segs, API_ACTIONS)
        if not repo_id:
            raise HubError(404, None, "Not found")
        repo = self.lookup_repo(rtype, repo_id, api=True)
        query = parse_qs(urlsplit(self.path).query)
        action = rest[0] if rest else "revision"
        if action == "refs":
            return self.send_json(200, self.refs_json(repo))
        if action == "revision":
            rev, _ = split_rev(rest[1:]) if len(rest) > 1 else ("main", [])
            commit = self.resolve_rev(repo, rev)
            blobs = query.get("blobs", ["false"])[0].lower() in ("1", "true")
            return self.send_json(200, self.info_json(repo, commit, blobs))
        if action == "tree":
            rev, rest2 = split_rev(rest[1:])
            commit = self.resolve_rev(repo, rev)
            base = "/".join(unquote(s) for s in rest2).strip("/")
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            entries = tree_entries(repo, commit, base, recursive)
            if entries is None:
                raise HubError(404, "EntryNotFound", "%s does not exist on \"%s\"" % (base, rev))
            return self.send_page(xetcas.tree_hashes(self.server, repo, commit, entries), query)
        if action == "xet-read-token":
            rev, _ = split_rev(rest[1:])
            self.resolve_rev(repo, rev)
            body, headers = xetcas.token_answer(self, repo, rev)
            return self.send_json(200, body, headers)
        if action == "paths-info" and self.command == "POST":
            rev, _ = split_rev(rest[1:])
            commit = self.resolve_rev(repo, rev)
            return self.send_json(200, paths_info(repo, commit, parse_paths(body)))
        raise HubError(404, None, "Unknown API action %s" % action)

    def send_page(self, entries, query):
        size = max(1, int(self.server.config["page_size"]))
        offset = 0
        if "cursor" in query:
            try:
                offset = int(base64.urlsafe_b64decode(query["cursor"][0].encode()).decode())
            except ValueError:
                raise HubError(400, None, "bad cursor")
        page = entries[offset:offset + size]
        headers = {}
        if offset + size < len(entries):
            q = {k: v[0] for k, v in query.items()}
            q["cursor"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
            url = self.base_url() + urlsplit(self.path).path + "?" + urlencode(q)
            headers["Link"] = '<%s>; rel="next"' % url
        self.send_json(200, page, headers)

    def info_json(self, repo, commit, blobs):
        out = {"_id": hashlib.sha1(repo.id.encode()).hexdigest()[:24], "id": repo.id,
               "author": repo.id.split("/")[0] if "/" in repo.id else None,
               "private": repo.private, "gated": repo.gated or False,
               "disabled": False, "sha": commit, "lastModified": "2024-01-01T00:00:00.000Z",
               "tags": [], "siblings": siblings(repo, commit, blobs)}
        if repo.type == "model":
            out["modelId"] = repo.id
        return out

    def refs_json(self, repo):
        out = {"branches": [], "tags": [], "converts": [], "pullRequests": []}
        for name in sorted(repo.refs):
            sha = repo.refs[name]
            if name.startswith("refs/pr/"):
                out["pullRequests"].append({"name": name, "ref": name, "targetCommit": sha})
            elif name in repo.tags:
                out["tags"].append({"name": name, "ref": "refs/tags/" + name, "targetCommit": sha})
            elif not HEX40.match(name):
                out["branches"].append({"name": name, "ref": "refs/heads/" + name,
                                        "targetCommit": sha})
        return out

    # ---- admin ----------------------------------------------------------------------------

    def admin(self, method, path):
        self.entry = {}  # admin traffic is not logged
        self.req_faults = []
        srv = self.server
        try:
            payload = json.loads(self.read_request_body() or b"null") if method == "POST" else None
            if path == "/_admin/health":
                return self.send_json(200, {"ok": True, "port": srv.port})
            if path == "/_admin/requests" and method == "GET":
                with srv.log_lock:
                    return self.send_json(200, {"requests": list(srv.requests)})
            if path == "/_admin/reset" and method == "POST":
                with srv.log_lock:
                    srv.requests.clear()
                if isinstance(payload, dict) and payload.get("faults"):
                    srv.faults.replace([])
                return self.send_json(200, {"ok": True})
            if path == "/_admin/faults":
                if method == "POST":
                    append = isinstance(payload, dict) and payload.get("append", False)
                    srv.faults.replace(load_fault_specs(payload or []), append=append)
                return self.send_json(200, {"faults": srv.faults.to_json()})
            if path.startswith("/_admin/xet/"):
                found = xetcas.truth(srv, path.rsplit("/", 1)[1])
                return self.send_json(200 if found else 404, found or {"error": "unknown"})
            if path == "/_admin/reload" and method == "POST":
                srv.data = HubData(srv.data_root)
                return self.send_json(200, {"ok": True, "repos": len(srv.data.repos)})
            if path == "/_admin/config":
                if method == "POST":
                    unknown = set(payload or {}) - set(srv.config)
                    if unknown:
                        raise FaultError("unknown config keys: %s" % sorted(unknown))
                    srv.config.update(payload or {})
                return self.send_json(200, srv.config)
            self.send_json(404, {"error": "unknown admin endpoint %s %s" % (method, path)})
        except (ValueError, KeyError, OSError) as e:  # FaultError, JSON errors, bad data dir
            self.send_json(400, {"error": str(e)})


def main(argv=None):
    ap = argparse.ArgumentParser(description="Hugging Face hub-compatible test server")
    ap.add_argument("--data", required=True, help="hub data directory (repos.json + blobs/)")
    ap.add_argument("--faults", help="JSON file with initial faults")
    ap.add_argument("--page-size", type=int, default=1000, help="tree API page size")
    ap.add_argument("--cdn-host", help="host name used in CDN redirect URLs")
    ap.add_argument("--cdn-ttl", type=int, default=3600, help="lifetime of signed CDN URLs (s)")
    ap.add_argument("--xet", action="store_true", help="serve LFS files through Xet too")
    ap.add_argument("--exit-with-stdin", action="store_true",
                    help="exit when stdin reaches EOF (the parent test process died)")
    args = ap.parse_args(argv)
    if args.exit_with_stdin:
        # A test runner killed by a timeout cannot stop us; its end closes our stdin.
        threading.Thread(target=lambda: (sys.stdin.buffer.read(), os._exit(0)),
                         daemon=True).start()
    server = HubServer(args.data, args.page_size, args.cdn_host, args.cdn_ttl)
    server.config["xet"] = args.xet
    if args.faults:
        with open(args.faults, encoding="utf-8") as f:
            server.faults.replace(load_fault_specs(json.load(f)))
    print(json.dumps({"port": server.port, "url": "http://127.0.0.1:%d" % server.port}),
          flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop_event.set()
        server.server_close()


if __name__ == "__main__":
    main()
