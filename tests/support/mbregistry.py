"""Registries for the push/pull tests.

DockerRegistry runs Debian's docker-registry (distribution 2.8) on 127.0.0.1 with a config
written here (storage in a temp dir, optional htpasswd auth) and parses its access log, so
tests can count the requests a client made without trusting the client's own report.

FakeRegistry is a tiny hostile registry serving one ModelPack-style artifact with a chosen
fault: wrong digest, truncated blob, manifest naming a missing blob, 401 without challenge,
blob redirect to another host name (localhost vs 127.0.0.1) whose requests are recorded.
"""

import base64
import hashlib
import http.server
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

REGISTRY_BIN = "/usr/bin/docker-registry"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_ACCESS = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/[0-9.]+" (\d{3})')


class DockerRegistry:
    def __init__(self, root, htpasswd=None):
        self.root = root
        self.htpasswd = htpasswd  # (user, password) or None
        self.port = None
        self.proc = None
        self.log_path = os.path.join(root, "registry.log")

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def _config(self):
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            "    rootdirectory: %s" % os.path.join(self.root, "storage"),
            "  delete:",
            "    enabled: true",
            "http:",
            "  addr: 127.0.0.1:%d" % self.port,
            "  secret: modelbake-test-secret",
        ]
        if self.htpasswd:
            path = os.path.join(self.root, "htpasswd")
            user, password = self.htpasswd
            subprocess.run(["htpasswd", "-Bbc", path, user, password], check=True, capture_output=True)
            lines += ["auth:", "  htpasswd:", "    realm: modelbake-test", "    path: %s" % path]
        return "\n".join(lines) + "\n"

    def start(self, timeout=30):
        os.makedirs(self.root, exist_ok=True)
        for _ in range(5):
            self.port = free_port()
            cfg = os.path.join(self.root, "config.yml")
            with open(cfg, "w") as f:
                f.write(self._config())
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", cfg], stdout=self._log, stderr=self._log)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    urllib.request.urlopen("http://%s/v2/" % self.host, timeout=2)
                    return self
                except urllib.error.HTTPError:
                    return self  # 401 with auth: it is up
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError("docker-registry did not start; log:\n" + open(self.log_path).read()[-3000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()
        self.proc = None

    def log_offset(self):
        return os.path.getsize(self.log_path)

    def requests(self, since=0):
        """[(method, path, status)] from the access log after byte offset `since`."""
        deadline = time.monotonic() + 5
        # The access log is written after the response: give the last line a moment.
        prev = None
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                text = f.read().decode("utf-8", "replace")
            if text == prev:
                break
            prev = text
            time.sleep(0.2)
        return [(m.group(1), m.group(2), int(m.group(3))) for m in _ACCESS.finditer(prev or "")]

    @staticmethod
    def uploaded_digests(requests):
        """Digests of blob uploads completed by PUT ...?digest=..."""
        out = []
        for method, path, status in requests:
            if method == "PUT" and "/blobs/uploads/" in path and status == 201:
                m = re.search(r"digest=(sha256(?:%3A|:)[0-9a-f]{64})", path)
                if m:
                    out.append(m.group(1).replace("%3A", ":"))
        return out


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeRegistry:
    """Serves repo `models/x` tag `v1`: a ModelPack manifest with the given lock bytes and
    files. `fault` is one of None, "wrong_digest", "truncated", "missing_blob",
    "unauthorized_no_challenge", "redirect_other_host". With `basic` = (user, password)
    every /v2/ request needs Basic auth (challenge sent)."""

    def __init__(self, lock_bytes, files, fault=None, basic=None):
        # files: [(model_name, path, bytes)] in lock order
        self.fault = fault
        self.basic = basic
        self.truncated_done = False
        self.blobs = {}
        self.requests = []  # (host header, method, path, authorization)
        layers = []
        for name, path, data in files:
            d = sha(data)
            self.blobs[d] = data
            layers.append({"mediaType": "application/vnd.cncf.model.weight.v1.raw", "digest": d, "size": len(data),
                           "annotations": {"org.cncf.model.filepath": name + "/" + path}})
        ld = sha(lock_bytes)
        self.blobs[ld] = lock_bytes
        layers.append({"mediaType": "application/vnd.cncf.model.doc.v1.raw", "digest": ld, "size": len(lock_bytes),
                       "annotations": {"org.cncf.model.filepath": "modelbake.lock", "io.modelbake.lock": "true"}})
        cfg = b'{"descriptor":{},"config":{},"modelfs":{"type":"layers","diffIds":[]}}'
        self.blobs[sha(cfg)] = cfg
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "artifactType": "application/vnd.cncf.model.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.cncf.model.config.v1+json", "digest": sha(cfg),
                               "size": len(cfg)},
                    "layers": layers}
        self.first_layer = layers[0]["digest"]
        if fault == "missing_blob":
            del self.blobs[self.first_layer]
        self.manifest = json.dumps(manifest).encode()
        self.port = None
        self.server = None

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    def _handler(self):
        reg = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def handle_any(self):
                reg.requests.append((self.headers.get("Host"), self.command, self.path,
                                     self.headers.get("Authorization")))
                if self.path.startswith("/storage/"):
                    return self.send(200, reg.blobs[self.path[len("/storage/"):]])
                if reg.fault == "unauthorized_no_challenge":
                    return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                if reg.basic:
                    want = "Basic " + base64.b64encode(("%s:%s" % reg.basic).encode()).decode()
                    if self.headers.get("Authorization") != want:
                        return self.send(401, b"", [("WWW-Authenticate", 'Basic realm="fake"')])
                m = re.match(r"^/v2/models/x/(manifests|blobs)/([^/?]+)$", self.path)
                if self.path == "/v2/":
                    return self.send(200, b"{}")
                if not m:
                    return self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')
                kind, ref = m.groups()
                if kind == "manifests":
                    if ref not in ("v1", sha(reg.manifest)):
                        return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                    return self.send(200, reg.manifest, [("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                                                         ("Docker-Content-Digest", sha(reg.manifest))])
                data = reg.blobs.get(ref)
                if data is None:
                    return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
                if ref == reg.first_layer:
                    if reg.fault == "wrong_digest":
                        data = b"X" + data[1:]
                    elif reg.fault == "truncated_once" and reg.truncated_done:
                        rng = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
                        if rng:
                            start = int(rng.group(1))
                            return self.send(206, data[start:], [("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))])
                    elif reg.fault in ("truncated", "truncated_once"):
                        reg.truncated_done = True
                        # Announce the full length, send half, close the connection.
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    elif reg.fault == "redirect_other_host":
                        return self.send(307, b"", [("Location", "http://localhost:%d/storage/%s" % (reg.port, ref))])
                return self.send(200, data, [("Docker-Content-Digest", ref)])

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = handle_any

        return H

    def start(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # localhost must reach the same server for the cross-host redirect case.
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
