"""modelbake serve behind a shared HTTP cache (nginx proxy_cache): the mirror's Cache-Control
lets the cache keep commit-addressed files, so many clients and rounds cost the mirror one
request per file."""

import os
import shutil
import socket
import subprocess
import threading
import time
import unittest
import urllib.request

from mbserve import Mirror
from mbtest import MbTestCase, RepoBuilder, make_cache, pseudo_random_bytes

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """
{user}
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log {work}/access.log;
  proxy_cache_path {work}/cache levels=1:2 keys_zone=hf:1m max_size=256m inactive=1h use_temp_path=off;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass {upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache hf;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 120s;
      add_header X-Cache-Status $upstream_cache_status;
    }}
  }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx with proxy_cache in front of `upstream`, on a free loopback port."""

    def __init__(self, work, upstream):
        os.makedirs(work)
        self.work = work
        for _ in range(5):  # the port may be taken between choosing and binding it
            self.port = free_port()
            with open(os.path.join(work, "nginx.conf"), "w") as f:
                # As root, workers would switch to "nobody", who cannot write the test's folders.
                user = "user root;" if os.geteuid() == 0 else ""
                f.write(CONF.format(user=user, work=work, port=self.port, upstream=upstream))
            self.proc = subprocess.Popen([NGINX, "-p", work, "-c", os.path.join(work, "nginx.conf"),
                                          "-g", "daemon off;"], stderr=subprocess.DEVNULL)
            if self.wait_listening():
                return
            self.stop()
        raise RuntimeError("nginx did not start")

    def wait_listening(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(30)


@unittest.skipUnless(os.path.exists(NGINX), "nginx is not installed (scripts/install-deps.sh)")
class BehindNginxCache(MbTestCase):
    def test_eight_clients_three_rounds_cost_one_request_per_file(self):
        r = RepoBuilder("org/m")
        files = {"config.json": b'{"a": 1}\n', "weights.bin": pseudo_random_bytes(2 << 20, seed=5)}
        r.add_file("config.json", files["config.json"])
        r.add_file("weights.bin", files["weights.bin"], lfs=True)
        r.commit("init")
        cache = self.tmp.join("cache")
        make_cache(cache, [r])
        m = Mirror(cache)
        self.addCleanup(m.stop)
        nginx = Nginx(self.tmp.join("nginx"), m.url)
        self.addCleanup(nginx.stop)
        commit = r.resolve("main")
        base = "http://127.0.0.1:%d/org/m/resolve/%s/" % (nginx.port, commit)
        errors = []

        def client():
            try:
                for name, data in files.items():
                    with urllib.request.urlopen(base + name, timeout=60) as resp:
                        if resp.read() != data:
                            errors.append("bad bytes for " + name)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        for _ in range(3):
            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        self.assertEqual(errors, [])
        for name in files:
            line = '"GET /org/m/resolve/%s/%s" 200' % (commit, name)
            log = m.stderr_once_it_has(line)
            self.assertEqual(log.count(line), 1, log)


if __name__ == "__main__":
    unittest.main()
