"""`modelbake serve` in a subprocess for the integration tests (test_serve*.py).

    from mbserve import Mirror
    m = Mirror(cache, "--allow", "org/*")       # waits for "serving http://..."
    status, headers, body = m.request("GET", "/org/x/resolve/main/config.json")
    m.stop()                                     # SIGTERM; returns the exit code
"""

import http.client
import json
import os
import signal
import subprocess
import time
from urllib.parse import urlsplit

from mbtest import modelbake_bin, tool_env


class Mirror:
    """`modelbake serve` in a subprocess on an OS-chosen port."""

    def __init__(self, cache, *args, env=None):
        self.stderr_path = os.path.join(os.path.dirname(os.path.abspath(cache)), "serve-%d.stderr" % id(self))
        self._stderr = open(self.stderr_path, "wb")
        cmd = [modelbake_bin(), "--cache", cache, "serve", "--listen", "127.0.0.1:0"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr,
                                     env=tool_env(env))
        line = self.proc.stdout.readline().decode()
        if not line.startswith("serving http://"):
            self.proc.kill()
            raise RuntimeError("serve did not start: %r %s" % (line, self.stderr()))
        self.url = line.split()[1]
        self.host, self.port = urlsplit(self.url).hostname, urlsplit(self.url).port

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr_once_it_has(self, text, timeout=10):
        """stderr, read again until it contains `text` or `timeout` seconds pass. Access log
        lines are written when libmicrohttpd reports a request complete, which can be after
        the client already has the whole body."""
        deadline = time.monotonic() + timeout
        out = self.stderr()
        while text not in out and time.monotonic() < deadline:
            time.sleep(0.05)
            out = self.stderr()
        return out

    def request(self, method, target, headers=None, body=None, timeout=30):
        """(status, headers dict (lower-case keys), body bytes) of one request on its own
        connection; `target` is sent as is (no normalisation)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def json(self, target, **kw):
        status, headers, body = self.request("GET", target, **kw)
        return status, headers, json.loads(body) if body else None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self._stderr.close()
        return rc
