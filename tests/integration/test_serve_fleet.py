"""modelbake serve for a fleet, on engines operators already run: behind a shared HTTP cache
(nginx proxy_cache), whose Cache-Control lets the cache keep commit-addressed files, so many
clients and rounds cost the mirror one request per file; and replicas that fill their misses
from an OCI registry holding a pushed bundle (serve --from), so the hub is never asked."""

import os
import shutil
import socket
import subprocess
import threading
import time
import unittest
import urllib.request

from mbregistry import REGISTRY_BIN, DockerRegistry
from mbserve import Mirror
from mbtest import MbTestCase, RepoBuilder, make_cache, pseudo_random_bytes, run_modelbake, write_manifest

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


@unittest.skipUnless(os.path.exists(REGISTRY_BIN), "docker-registry is not installed")
class ReplicasFromARegistry(MbTestCase):
    def test_two_replicas_serve_a_pushed_bundle_without_the_hub(self):
        r = RepoBuilder("org/tiny")
        r.add_file("config.json", b'{"tiny": 1}\n')
        r.add_file("model.safetensors", pseudo_random_bytes(150_000, seed=9), lfs=True)
        r.commit("init")
        hub = self.start_hub(r)
        registry = DockerRegistry(self.tmp.join("registry")).start()
        self.addCleanup(registry.stop)
        ref = registry.host + "/shared/models:v1"
        project = self.tmp.join("p")
        os.makedirs(project)
        write_manifest(os.path.join(project, "modelbake.yaml"), [{"repo": "org/tiny"}])
        for args in (["fetch"], ["push", ref, "--plain-http"]):  # one machine fetches and pushes
            p = run_modelbake(["--cache", self.tmp.join("seed")] + args, env=hub.env(), cwd=project)
            self.assertEqual(p.returncode, 0, p.stderr)
        hub.reset()
        files = r.files_at()
        for name in ("a", "b"):  # two replicas, each on its own empty cache
            m = Mirror(self.tmp.join("cache-" + name), "--from", ref, "--plain-http")
            self.addCleanup(m.stop)
            for path in ("model.safetensors", "config.json"):
                st, h, body = m.request("GET", "/org/tiny/resolve/main/" + path, timeout=120)
                self.assertEqual((st, body), (200, files[path].data), (name, path))
                self.assertEqual(h["x-repo-commit"], r.resolve("main"))
            st, _, doc = m.json("/api/models/org/tiny/revision/main")
            self.assertEqual((st, doc["sha"]), (200, r.resolve("main")))
            # A miss no registry can fill is still a 404, and does not pull again at once.
            st, h, _ = m.request("GET", "/org/absent/resolve/main/x")
            self.assertEqual((st, h.get("x-error-code")), (404, "RepoNotFound"))
        self.assertEqual(hub.requests(), [])


if __name__ == "__main__":
    unittest.main()
