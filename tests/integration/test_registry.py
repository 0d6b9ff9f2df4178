"""push / pull against Debian's docker-registry (distribution 2.8) on loopback, cross-checked
with skopeo and buildah; request counts come from the registry's own access log."""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import unittest

import mbcache
from mbregistry import DockerRegistry
from mbtest import MbTestCase, run_json, run_modelbake

MODEL_A = {"repo": "org/alpha", "as": "alpha", "files": {
    "config.json": b'{"hidden_size": 8}',
    "model.safetensors": (os.urandom(200_000), True),
    "sub/tokenizer.json": b'{"vocab": {"a": 1}}'}}
MODEL_B = {"repo": "org/beta", "as": "beta", "files": {
    "config.json": b'{"hidden_size": 4}',
    "weights.gguf": (os.urandom(50_000), True)}}


class RegistryTestBase(MbTestCase):
    def setUp(self):
        super().setUp()
        self.registry = DockerRegistry(self.tmp.join("registry")).start()
        self.addCleanup(self.registry.stop)
        self.make_project([MODEL_A, MODEL_B])

    def mb(self, *args, cache=None, env=None):
        return run_json(["--cache", cache or self.cache, "-f", os.path.join(self.project, "modelbake.yaml")] + list(args),
                        env=env)

    def push(self, ref, *extra, env=None):
        proc, doc = self.mb("push", ref, "--plain-http", *extra, env=env)
        self.assertExit(proc, 0)
        return doc

    def assert_cache_has_lock_files(self, cache, lock):
        for m in lock["models"]:
            for f in m["files"]:
                p = mbcache.snapshot_path(cache, m["repo"], m["commit"], f["path"])
                with open(p, "rb") as fh:
                    self.assertEqual(hashlib.sha256(fh.read()).hexdigest(), f["sha256"], p)


class TestPushPull(RegistryTestBase):
    def test_image_round_trip_into_empty_cache(self):
        ref = self.registry.host + "/team/models:v1"
        doc = self.push(ref)
        self.assertEqual(doc["artifact"], "image")
        empty = self.tmp.join("empty-cache")
        out_lock = self.tmp.join("pulled.lock")
        proc, pulled = self.mb("pull", ref, "--plain-http", "--write-lock", out_lock, cache=empty)
        self.assertExit(proc, 0)
        self.assertEqual(pulled["digest"], doc["digest"])
        with open(out_lock) as f:
            self.assertEqual(json.load(f), self.lock)
        self.assert_cache_has_lock_files(empty, self.lock)

    def test_modelpack_round_trip_and_layers_are_file_digests(self):
        ref = self.registry.host + "/team/pack:v1"
        doc = self.push(ref, "--artifact", "modelpack")
        manifest = json.loads(subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + ref],
            capture_output=True, check=True).stdout)
        self.assertEqual(manifest["artifactType"], "application/vnd.cncf.model.manifest.v1+json")
        self.assertEqual(manifest["config"]["mediaType"], "application/vnd.cncf.model.config.v1+json")
        by_path = {l["annotations"]["org.cncf.model.filepath"]: l for l in manifest["layers"]}
        for m in self.lock["models"]:
            for f in m["files"]:
                layer = by_path[m["name"] + "/" + f["path"]]
                self.assertEqual(layer["digest"], "sha256:" + f["sha256"])
        self.assertEqual(by_path["alpha/model.safetensors"]["mediaType"], "application/vnd.cncf.model.weight.v1.raw")
        self.assertEqual(by_path["alpha/config.json"]["mediaType"], "application/vnd.cncf.model.weight.config.v1.raw")
        self.assertIn("modelbake.lock", by_path)
        empty = self.tmp.join("empty-cache")
        proc, pulled = self.mb("pull", ref, "--plain-http", cache=empty)
        self.assertExit(proc, 0)
        self.assertEqual(pulled["artifact"], "modelpack")
        self.assertEqual(pulled["digest"], doc["digest"])
        self.assert_cache_has_lock_files(empty, self.lock)

    def test_second_push_uploads_nothing_and_uses_only_head(self):
        for artifact in ("image", "modelpack"):
            ref = self.registry.host + "/team/%s:v1" % artifact
            self.push(ref, "--artifact", artifact)
            since = self.registry.log_offset()
            doc = self.push(ref, "--artifact", artifact)
            reqs = self.registry.requests(since)
            self.assertEqual(doc["blobs_transferred"], 0)
            methods = {m for m, _, _ in reqs if not (m == "GET" and _ == "/v2/")}
            self.assertEqual(methods, {"HEAD"}, reqs)

    def test_changed_lock_uploads_only_the_changed_models_layer(self):
        ref = self.registry.host + "/team/models:v1"
        self.push(ref)
        first = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + ref],
                                          capture_output=True, check=True).stdout)
        changed = dict(MODEL_B, files=dict(MODEL_B["files"], **{"config.json": b'{"hidden_size": 5}'}))
        shutil.rmtree(self.cache)
        self.lock = mbcache.make_cache(self.cache, [MODEL_A, changed], lock_path=os.path.join(self.project, "modelbake.lock"))
        since = self.registry.log_offset()
        self.push(ref)
        uploaded = DockerRegistry.uploaded_digests(self.registry.requests(since))
        second = json.loads(subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + ref],
                                           capture_output=True, check=True).stdout)
        old = {l["digest"] for l in first["layers"]}
        new_layers = [l["digest"] for l in second["layers"] if l["digest"] not in old]
        # The changed model's layer and the lock layer are new; alpha's layer is reused.
        self.assertEqual(len(new_layers), 2, second)
        self.assertEqual(sorted(uploaded), sorted(new_layers + [second["config"]["digest"]]))

    def test_mount_from_another_repository(self):
        self.push(self.registry.host + "/team/one:v1", "--artifact", "modelpack")
        since = self.registry.log_offset()
        doc = self.push(self.registry.host + "/team/two:v1", "--artifact", "modelpack")
        self.assertGreater(doc["blobs_mounted"], 0)
        self.assertEqual(DockerRegistry.uploaded_digests(self.registry.requests(since)), [])

    def test_skopeo_copies_what_modelbake_pushed(self):
        ref = self.registry.host + "/team/models:v1"
        self.push(ref)
        layout = self.tmp.join("layout")
        subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "docker://" + ref, "oci:%s:v1" % layout],
                       check=True, capture_output=True)
        with open(os.path.join(layout, "index.json")) as f:
            index = json.load(f)
        digest = index["manifests"][0]["digest"].split(":")[1]
        with open(os.path.join(layout, "blobs", "sha256", digest)) as f:
            manifest = json.load(f)
        names = set()
        for layer in manifest["layers"]:
            with tarfile.open(os.path.join(layout, "blobs", "sha256", layer["digest"].split(":")[1])) as t:
                names |= set(t.getnames())
        self.assertIn("models/models--org--alpha/snapshots/%s/model.safetensors" % self.lock["models"][0]["commit"], names)

    @unittest.skipUnless(shutil.which("buildah"), "buildah not installed")
    def test_buildah_builds_from_the_pushed_image(self):
        ref = self.registry.host + "/team/models:v1"
        self.push(ref, "--layout", "flat")
        ctx = self.tmp.join("ctx")
        os.makedirs(ctx)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM %s AS models\nFROM scratch\nCOPY --from=models /models /models\n" % ref)
        root, runroot, out = self.tmp.join("b-root"), self.tmp.join("b-run"), self.tmp.join("built")
        base = ["buildah", "--root", root, "--runroot", runroot, "--storage-driver", "vfs"]
        build = subprocess.run(base + ["bud", "--isolation", "chroot", "--tls-verify=false", "-t", "built:v1", ctx],
                               capture_output=True, text=True)
        self.assertEqual(build.returncode, 0, build.stderr[-3000:])
        subprocess.run(base + ["push", "built:v1", "oci:%s:v1" % out], check=True, capture_output=True)
        with open(os.path.join(out, "index.json")) as f:
            mdig = json.load(f)["manifests"][0]["digest"].split(":")[1]
        with open(os.path.join(out, "blobs", "sha256", mdig)) as f:
            manifest = json.load(f)
        found = {}
        for layer in manifest["layers"]:
            with tarfile.open(os.path.join(out, "blobs", "sha256", layer["digest"].split(":")[1])) as t:
                for member in t.getmembers():
                    if member.isfile():
                        found[member.name.lstrip("./")] = hashlib.sha256(t.extractfile(member).read()).hexdigest()
        for m in self.lock["models"]:
            for f in m["files"]:
                self.assertEqual(found.get("models/%s/%s" % (m["name"], f["path"])), f["sha256"], sorted(found))


class TestAuthRegistry(MbTestCase):
    USER, PASSWORD = "builder", "s3cret-Passw0rd"

    def setUp(self):
        super().setUp()
        self.registry = DockerRegistry(self.tmp.join("registry"), htpasswd=(self.USER, self.PASSWORD)).start()
        self.addCleanup(self.registry.stop)
        self.project = self.tmp.join("project")
        os.makedirs(self.project)
        self.cache = self.tmp.join("cache")
        self.lock = mbcache.make_cache(self.cache, [MODEL_A], lock_path=os.path.join(self.project, "modelbake.lock"))
        self.ref = self.registry.host + "/secure/models:v1"

    # Credentials come only from what a test sets: no auth file of the machine running the tests.
    NO_AUTH_FILES = {"DOCKER_CONFIG": None, "REGISTRY_AUTH_FILE": None, "XDG_RUNTIME_DIR": None}

    def run_mb(self, *args, env=None):
        return run_json(["--cache", self.cache, "-f", os.path.join(self.project, "modelbake.yaml")] + list(args),
                        env=dict(self.NO_AUTH_FILES, HOME=self.tmp.join("home"), **(env or {})))

    def credential_helper(self, name, script):
        """docker-credential-NAME on a private PATH dir; it logs each call's stdin to NAME.log."""
        bindir = self.tmp.join("helpers")
        os.makedirs(bindir, exist_ok=True)
        log = os.path.join(bindir, name + ".log")
        path = os.path.join(bindir, "docker-credential-" + name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n[ \"$1\" = get ] || exit 9\nread url\necho \"$url\" >> %s\n%s\n" % (log, script))
        os.chmod(path, 0o755)
        return {"PATH": bindir + os.pathsep + os.environ["PATH"]}, log

    def test_credential_helper_push_and_pull(self):
        answer = 'printf \'{"ServerURL":"%%s","Username":"%s","Secret":"%s"}\' "$url"' % (self.USER, self.PASSWORD)
        env, log = self.credential_helper("test", answer)
        config = self.tmp.join("dockercfg")
        os.makedirs(config)
        with open(os.path.join(config, "config.json"), "w") as f:
            json.dump({"credsStore": "other-unused", "credHelpers": {self.registry.host: "test"}}, f)
        proc, _ = self.run_mb("-v", "push", self.ref, "--plain-http", env=dict(env, DOCKER_CONFIG=config))
        self.assertExit(proc, 0)
        self.assertNotIn(self.PASSWORD, proc.stdout + proc.stderr)
        with open(log) as f:
            self.assertEqual(f.read().split(), [self.registry.host])
        # podman's auth file with a credsStore serves pull.
        auth_file = self.tmp.join("auth.json")
        with open(auth_file, "w") as f:
            json.dump({"credsStore": "test"}, f)
        proc = run_modelbake(["-v", "--cache", self.tmp.join("empty"), "pull", self.ref, "--plain-http"],
                             env=dict(self.NO_AUTH_FILES, HOME=self.tmp.join("home"), REGISTRY_AUTH_FILE=auth_file, **env))
        self.assertExit(proc, 0)
        self.assertNotIn(self.PASSWORD, proc.stdout + proc.stderr)

    def test_failing_credential_helper_is_an_auth_error(self):
        env, _ = self.credential_helper("test", "echo 'keychain is locked' >&2; exit 2")
        auth_file = self.tmp.join("auth.json")
        with open(auth_file, "w") as f:
            json.dump({"credHelpers": {self.registry.host: "test"}}, f)
        proc, doc = self.run_mb("push", self.ref, "--plain-http", env=dict(env, REGISTRY_AUTH_FILE=auth_file))
        self.assertExit(proc, 4)
        self.assertIn("keychain is locked", doc["error"]["message"])

    def test_without_credentials_is_an_auth_error(self):
        proc, doc = self.run_mb("push", self.ref, "--plain-http")
        self.assertExit(proc, 4)
        self.assertEqual(doc["error"]["category"], "auth")

    def test_wrong_password_is_an_auth_error(self):
        proc, _ = self.run_mb("push", self.ref, "--plain-http",
                              env={"MODELBAKE_REGISTRY_USER": self.USER, "MODELBAKE_REGISTRY_PASSWORD": "wrong-one"})
        self.assertExit(proc, 4)

    def test_env_credentials_push_and_docker_config_pull(self):
        env = {"MODELBAKE_REGISTRY_USER": self.USER, "MODELBAKE_REGISTRY_PASSWORD": self.PASSWORD}
        proc, _ = self.run_mb("-v", "push", self.ref, "--plain-http", env=env)
        self.assertExit(proc, 0)
        self.assertNotIn(self.PASSWORD, proc.stdout + proc.stderr)
        home = self.tmp.join("home")
        os.makedirs(os.path.join(home, ".docker"))
        auth = __import__("base64").b64encode(("%s:%s" % (self.USER, self.PASSWORD)).encode()).decode()
        with open(os.path.join(home, ".docker", "config.json"), "w") as f:
            json.dump({"auths": {self.registry.host: {"auth": auth}}}, f)
        empty = self.tmp.join("empty")
        proc = run_modelbake(["-v", "--cache", empty, "pull", self.ref, "--plain-http"], env={"HOME": home})
        self.assertExit(proc, 0)
        self.assertNotIn(self.PASSWORD, proc.stdout + proc.stderr)
        self.assertNotIn(auth, proc.stdout + proc.stderr)


if __name__ == "__main__":
    unittest.main()
