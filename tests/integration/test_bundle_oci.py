"""export --format oci produces a real image that standard tools accept: skopeo inspect / copy
to docker-archive, umoci unpack, docker-load's manifest.json, and a real buildah build
(`FROM oci:<layout>:<tag> AS models` + `COPY --from=models /models /models`) whose pushed
result holds exactly the locked bytes; import reads the layout and a tar of it."""

import hashlib
import json
import uuid
import tempfile
import os
import posixpath
import shutil
import subprocess
import tarfile
import unittest

from mbtest import MbTestCase, pseudo_random_bytes, repo_folder_name, run_json, run_modelbake

MODELS = [
    {"repo": "org/tiny-bert", "name": "bert", "revision": "main",
     "files": {"config.json": b'{"hidden_size": 8}\n',
               "model.safetensors": (pseudo_random_bytes(150_000, seed=7), True),
               "tokenizer/vocab.txt": b"[PAD]\nhello\n"}},
    {"repo": "org/tiny-gguf", "name": "llm", "revision": "v1",
     "files": {"model-q4.gguf": (pseudo_random_bytes(90_000, seed=8), True)}},
]

POLICY = {"default": [{"type": "insecureAcceptAnything"}]}


def read_layers(layer_files):
    """Applies uncompressed or compressed layer tars in order -> {path: ("dir",) | ("file", bytes) |
    ("link", target)} (no whiteouts expected)."""
    fs = {}
    for path in layer_files:
        with tarfile.open(path, "r:*") as tf:
            for m in tf.getmembers():
                name = m.name.lstrip("./").rstrip("/")
                if m.isdir():
                    fs[name] = ("dir",)
                elif m.issym():
                    fs[name] = ("link", m.linkname)
                elif m.islnk():
                    fs[name] = fs[m.linkname.lstrip("./")]
                elif m.isfile():
                    fs[name] = ("file", tf.extractfile(m).read())
    return fs


def resolve(fs, path, depth=0):
    entry = fs.get(path)
    if entry is None or depth > 8:
        return None
    if entry[0] == "link":
        return resolve(fs, posixpath.normpath(posixpath.join(posixpath.dirname(path), entry[1])), depth + 1)
    return entry


class OciCase(MbTestCase):
    def setUp(self):
        super().setUp()
        self.make_project(MODELS)
        self.policy = self.tmp.join("policy.json")
        with open(self.policy, "w") as f:
            json.dump(POLICY, f)

    def export_oci(self, out, *args):
        proc, doc = run_json(["export", "-f", self.manifest, "--cache", self.cache, "-o", out, "--format", "oci",
                              "--tag", "models:v1"] + list(args))
        self.assertExit(proc, 0)
        return doc

    def assert_rootfs_matches_lock(self, fs, layout="hub", prefix="models"):
        self.assertEqual(resolve(fs, prefix + "/modelbake.lock")[0], "file")
        for m in self.lock["models"]:
            for f in m["files"]:
                if layout == "hub":
                    p = "%s/%s/snapshots/%s/%s" % (prefix, repo_folder_name(m["type"], m["repo"]), m["commit"], f["path"])
                    self.assertEqual(fs[p][0], "link", p)
                else:
                    p = "%s/%s/%s" % (prefix, m["name"], f["path"])
                entry = resolve(fs, p)
                self.assertIsNotNone(entry, p)
                self.assertEqual(hashlib.sha256(entry[1]).hexdigest(), f["sha256"], p)

    def run_tool(self, args, **kw):
        proc = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
        self.assertEqual(proc.returncode, 0, "%s\n%s\n%s" % (" ".join(args), proc.stdout, proc.stderr))
        return proc


class TestOciLayout(OciCase):
    def test_layout_files_and_docker_load_manifest(self):
        out = self.tmp.join("oci")
        doc = self.export_oci(out)
        with open(os.path.join(out, "oci-layout")) as f:
            self.assertEqual(json.load(f), {"imageLayoutVersion": "1.0.0"})
        with open(os.path.join(out, "index.json")) as f:
            index = json.load(f)
        desc = index["manifests"][0]
        self.assertEqual(desc["annotations"]["org.opencontainers.image.ref.name"], "v1")
        self.assertEqual(desc["annotations"]["io.containerd.image.name"], "docker.io/library/models:v1")
        self.assertEqual(desc["digest"], doc["manifest_digest"])
        blobs = os.path.join(out, "blobs", "sha256")
        for name in os.listdir(blobs):  # every blob is named by its digest
            with open(os.path.join(blobs, name), "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), name)
        with open(os.path.join(blobs, desc["digest"][7:])) as f:
            manifest = json.load(f)
        with open(os.path.join(blobs, manifest["config"]["digest"][7:])) as f:
            config = json.load(f)
        self.assertEqual(manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json")
        self.assertEqual(config["os"], "linux")
        self.assertEqual(config["rootfs"]["diff_ids"], [l["digest"] for l in manifest["layers"]])
        self.assertEqual({l["mediaType"] for l in manifest["layers"]}, {"application/vnd.oci.image.layer.v1.tar"})
        self.assertEqual(len(manifest["layers"]), 3)  # bert, llm, lock
        # docker load (moby image/tarexport/load.go) reads manifest.json
        with open(os.path.join(out, "manifest.json")) as f:
            docker = json.load(f)
        self.assertEqual(docker[0]["RepoTags"], ["models:v1"])
        self.assertEqual(docker[0]["Config"], "blobs/sha256/" + manifest["config"]["digest"][7:])
        self.assertEqual(docker[0]["Layers"], ["blobs/sha256/" + l["digest"][7:] for l in manifest["layers"]])
        fs = read_layers([os.path.join(out, p) for p in docker[0]["Layers"]])
        self.assert_rootfs_matches_lock(fs)
        # each model's layer holds only that model (plus the prefix folder)
        with tarfile.open(os.path.join(out, docker[0]["Layers"][1])) as tf:
            names = tf.getnames()
        self.assertEqual(names[0], "models")
        self.assertTrue(all(n == "models" or n.startswith("models/models--org--tiny-gguf") for n in names))

    def test_warm_layer_cache_gives_identical_layout(self):
        a, b = self.tmp.join("a"), self.tmp.join("b")
        first = self.export_oci(a)
        layers_dir = os.path.join(self.cache, ".locks", "modelbake", "layers")
        self.assertEqual(len(os.listdir(layers_dir)), 2)
        second = self.export_oci(b)
        self.assertEqual(first["manifest_digest"], second["manifest_digest"])
        self.assertEqual(sorted(os.listdir(os.path.join(a, "blobs", "sha256"))),
                         sorted(os.listdir(os.path.join(b, "blobs", "sha256"))))

    def test_import_layout_dir_and_tar_of_layout(self):
        out = self.tmp.join("oci")
        self.export_oci(out, "--layout", "flat", "--prefix", "/srv/models")
        packed = self.tmp.join("oci.tar")
        with tarfile.open(packed, "w") as tf:
            for name in sorted(os.listdir(out)):
                tf.add(os.path.join(out, name), arcname=name)
        for bundle in (out, packed):
            with self.subTest(bundle=os.path.basename(bundle)):
                target = self.tmp.join("cache-" + os.path.basename(bundle))
                proc, doc = run_json(["import", bundle, "--cache", target])
                self.assertExit(proc, 0)
                self.assertEqual(doc["layout"], "flat")
                self.assertEqual(doc["format"], "oci" if bundle == out else "oci-tar")
                for m in self.lock["models"]:
                    for f in m["files"]:
                        p = os.path.join(target, repo_folder_name("model", m["repo"]), "snapshots", m["commit"], f["path"])
                        with open(p, "rb") as fh:
                            self.assertEqual(hashlib.sha256(fh.read()).hexdigest(), f["sha256"])

    def test_import_refuses_tampered_layer(self):
        out = self.tmp.join("oci")
        doc = self.export_oci(out)
        layer = os.path.join(out, "blobs", "sha256", doc["layers"][0]["digest"][7:])
        os.chmod(layer, 0o644)
        with open(layer, "r+b") as f:
            f.seek(os.path.getsize(layer) // 2)
            f.write(b"X")
        target = self.tmp.join("t")
        proc = run_modelbake(["import", out, "--cache", target])
        self.assertExit(proc, 1)
        self.assertIn("does not match its digest", proc.stderr)
        self.assertEqual([n for n in os.listdir(target) if not n.startswith((".locks", "CACHEDIR"))], [])


@unittest.skipUnless(shutil.which("skopeo") and shutil.which("umoci"), "skopeo/umoci not installed")
class TestOciTools(OciCase):
    def test_skopeo_inspect(self):
        out = self.tmp.join("oci")
        doc = self.export_oci(out)
        proc = self.run_tool(["skopeo", "inspect", "oci:%s:v1" % out])
        info = json.loads(proc.stdout)
        self.assertEqual(info["Os"], "linux")
        self.assertEqual(info["Digest"], doc["manifest_digest"])
        self.assertEqual(info["Layers"], [l["digest"] for l in doc["layers"]])

    def test_skopeo_copy_to_docker_archive(self):
        out = self.tmp.join("oci")
        self.export_oci(out)
        archive = self.tmp.join("docker.tar")
        self.run_tool(["skopeo", "--policy", self.policy, "copy", "oci:%s:v1" % out,
                       "docker-archive:%s:models:v1" % archive])
        unpacked = self.tmp.join("docker")
        os.makedirs(unpacked)
        with tarfile.open(archive) as tf:
            docker = json.load(tf.extractfile("manifest.json"))
            for i, name in enumerate(docker[0]["Layers"]):
                with open(os.path.join(unpacked, "layer%d.tar" % i), "wb") as out:
                    shutil.copyfileobj(tf.extractfile(name), out)
        self.assertEqual(docker[0]["RepoTags"], ["docker.io/library/models:v1"])
        fs = read_layers([os.path.join(unpacked, "layer%d.tar" % i) for i in range(len(docker[0]["Layers"]))])
        self.assert_rootfs_matches_lock(fs)

    def test_umoci_unpack(self):
        out = self.tmp.join("oci")
        self.export_oci(out, "--layout", "flat")
        stat = self.run_tool(["umoci", "stat", "--json", "--image", "%s:v1" % out])
        self.assertEqual(len(json.loads(stat.stdout)["history"]), 3)
        bundle = self.tmp.join("bundle")
        self.run_tool(["umoci", "unpack", "--image", "%s:v1" % out, bundle])
        rootfs = os.path.join(bundle, "rootfs")
        for m in self.lock["models"]:
            for f in m["files"]:
                with open(os.path.join(rootfs, "models", m["name"], f["path"]), "rb") as fh:
                    self.assertEqual(hashlib.sha256(fh.read()).hexdigest(), f["sha256"])
        self.assertTrue(os.path.isfile(os.path.join(rootfs, "models", "modelbake.lock")))


def buildah_usable(tmp):
    if not shutil.which("buildah"):
        return "buildah is not installed"
    probe = subprocess.run(["buildah", "--storage-driver", "vfs", "--root", os.path.join(tmp, "root"),
                            "--runroot", os.path.join(tmp, "run"), "from", "scratch"],
                           capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        return "buildah cannot run here: " + probe.stderr.strip()[:300]
    return None


class TestBuildah(OciCase):
    def test_buildah_copy_from_exported_image(self):
        why = buildah_usable(self.tmp.join("probe"))
        if why:
            self.skipTest(why)
        # buildah names the stage's image after the layout path, so every path component must
        # be a valid image-reference component (lower-case alphanumerics; mkdtemp's random
        # names may end in '_', which is not).
        safe_dir = os.path.join(tempfile.gettempdir(), "mbtestoci" + uuid.uuid4().hex)
        os.mkdir(safe_dir)
        self.addCleanup(shutil.rmtree, safe_dir, True)
        layout = os.path.join(safe_dir, "models-oci")
        self.export_oci(layout)
        ctx = self.tmp.join("ctx")
        os.makedirs(ctx)
        with open(os.path.join(ctx, "Containerfile"), "w") as f:
            f.write("FROM oci:%s:v1 AS models\nFROM scratch\nCOPY --from=models /models /models\n" % layout)
        registries = self.tmp.join("registries.conf")
        with open(registries, "w") as f:
            f.write("unqualified-search-registries = []\n")
        env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=registries, BUILDAH_ISOLATION="chroot")
        store = ["--storage-driver", "vfs", "--root", self.tmp.join("root"), "--runroot", self.tmp.join("run")]
        self.run_tool(["buildah"] + store + ["bud", "--isolation", "chroot", "--signature-policy", self.policy,
                                             "--pull-never", "-f", os.path.join(ctx, "Containerfile"),
                                             "-t", "localhost/baked:1", ctx], env=env)
        pushed = self.tmp.join("pushed")
        self.run_tool(["buildah"] + store + ["push", "--signature-policy", self.policy, "localhost/baked:1",
                                             "oci:%s:baked" % pushed], env=env)
        with open(os.path.join(pushed, "index.json")) as f:
            index = json.load(f)
        blobs = os.path.join(pushed, "blobs", "sha256")
        with open(os.path.join(blobs, index["manifests"][0]["digest"][7:])) as f:
            manifest = json.load(f)
        fs = read_layers([os.path.join(blobs, l["digest"][7:]) for l in manifest["layers"]])
        self.assert_rootfs_matches_lock(fs)
        self.assertFalse(any(not p.startswith("models") for p in fs), sorted(fs)[:5])


if __name__ == "__main__":
    unittest.main()
