"""pull from a hostile registry (tests/support/mbregistry.py FakeRegistry): every fault ends
with a clean error, the right exit code, and nothing visible in the cache."""

import base64
import hashlib
import io
import json
import os
import tarfile

import mbcache
from mbregistry import FakeRegistry
from mbtest import MbTestCase, run_json

FILES = {"config.json": b'{"a": 1}', "model.safetensors": (os.urandom(300_000), True)}


class TestHostileRegistry(MbTestCase):
    def setUp(self):
        super().setUp()
        src = self.tmp.join("src-cache")
        self.lock = mbcache.make_cache(src, [{"repo": "org/alpha", "as": "alpha", "files": FILES}])
        lock_bytes = mbcache.serialize_lock(self.lock).encode()
        self.files = []
        for f in self.lock["models"][0]["files"]:
            data = FILES[f["path"]]
            self.files.append(("alpha", f["path"], data[0] if isinstance(data, tuple) else data))
        # the big file first: faults apply to the first layer
        self.files.sort(key=lambda t: -len(t[2]))
        self.lock_bytes = lock_bytes
        self.cache = self.tmp.join("cache")

    def serve(self, fault=None, basic=None):
        reg = FakeRegistry(self.lock_bytes, self.files, fault=fault, basic=basic).start()
        self.addCleanup(reg.stop)
        return reg

    def pull(self, reg, env=None):
        return run_json(["--cache", self.cache, "pull", reg.host + "/models/x:v1", "--plain-http"],
                        env=dict({"HOME": self.tmp.join("home")}, **(env or {})))

    def assert_nothing_visible(self):
        repo = mbcache.repo_dir(self.cache, "org/alpha")
        self.assertFalse(os.path.exists(os.path.join(repo, "snapshots")), "snapshot published")
        tmp = os.path.join(self.cache, ".locks", "modelbake", "tmp")
        self.assertEqual(os.listdir(tmp) if os.path.isdir(tmp) else [], [], "temp files left behind")

    def test_good_registry_works(self):
        proc, doc = self.pull(self.serve())
        self.assertExit(proc, 0)
        self.assertEqual(doc["artifact"], "modelpack")

    def test_wrong_digest(self):
        proc, doc = self.pull(self.serve("wrong_digest"))
        self.assertExit(proc, 1)
        self.assertIn("digest", doc["error"]["message"])
        self.assert_nothing_visible()

    def test_truncated_blob(self):
        reg = self.serve("truncated")
        proc, doc = self.pull(reg)
        self.assertExit(proc, 3)
        self.assert_nothing_visible()
        # it retried with a Range request to resume
        gets = [r for r in reg.requests if r[1] == "GET" and r[2].endswith(reg.first_layer)]
        self.assertGreater(len(gets), 1)

    def test_truncated_once_resumes_with_range(self):
        reg = self.serve("truncated_once")
        proc, doc = self.pull(reg)
        self.assertExit(proc, 0)
        self.assertEqual(doc["blobs_transferred"], 2)

    def test_manifest_points_to_missing_blob(self):
        proc, doc = self.pull(self.serve("missing_blob"))
        self.assertExit(proc, 3)
        self.assertIn("missing blob", doc["error"]["hint"])
        self.assert_nothing_visible()

    def test_401_without_challenge(self):
        proc, doc = self.pull(self.serve("unauthorized_no_challenge"))
        self.assertExit(proc, 4)
        self.assertIn("WWW-Authenticate", doc["error"]["message"])

    def test_redirect_to_other_host_gets_no_credentials(self):
        user, password = "puller", "redirect-secret-1"
        reg = self.serve("redirect_other_host", basic=(user, password))
        proc, doc = self.pull(reg, env={"MODELBAKE_REGISTRY_USER": user, "MODELBAKE_REGISTRY_PASSWORD": password})
        self.assertExit(proc, 0)
        storage = [r for r in reg.requests if r[2].startswith("/storage/")]
        self.assertTrue(storage, reg.requests)
        for host, _, _, auth in storage:
            self.assertTrue(host.startswith("localhost"), host)
            self.assertIsNone(auth)
        # the registry itself did get the credentials
        want = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.assertTrue(any(a == want for h, _, p, a in reg.requests if p.startswith("/v2/models")))
        self.assertNotIn(password, proc.stdout + proc.stderr)


    def test_image_layers_larger_than_the_lock_allows_are_not_downloaded(self):
        # An image whose lock layer names a 300 KB model but whose model layer declares 1 GiB.
        reg = self.serve()
        lock_tar = io.BytesIO()
        with tarfile.open(fileobj=lock_tar, mode="w", format=tarfile.PAX_FORMAT) as tf:
            ti = tarfile.TarInfo("models/modelbake.lock")
            ti.size = len(self.lock_bytes)
            tf.addfile(ti, io.BytesIO(self.lock_bytes))
        lock_layer = lock_tar.getvalue()

        def sha(data):
            return "sha256:" + hashlib.sha256(data).hexdigest()
        huge = "sha256:" + "e" * 64
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [huge, sha(lock_layer)]}}).encode()
        tar = "application/vnd.oci.image.layer.v1.tar"
        reg.blobs = {sha(lock_layer): lock_layer, sha(config): config}
        reg.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config),
                       "size": len(config)},
            "layers": [{"mediaType": tar, "digest": huge, "size": 1 << 30,
                        "annotations": {"io.modelbake.model": "alpha"}},
                       {"mediaType": tar, "digest": sha(lock_layer), "size": len(lock_layer),
                        "annotations": {"io.modelbake.model": "modelbake.lock"}}]}).encode()
        proc, doc = self.pull(reg)
        self.assertExit(proc, 1)
        self.assertIn("more than its lock's files can take", doc["error"]["message"])
        self.assertEqual([r for r in reg.requests if huge in r[2]], [], "the oversized layer was requested")
        self.assert_nothing_visible()


if __name__ == "__main__":
    import unittest
    unittest.main()
