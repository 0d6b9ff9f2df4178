"""Bundles that runtimes mount and run directly (issue 22): `export --format oci --base`
(KServe modelcar, ImageVolume), ModelPack and Docker Model Runner artifacts; their shape,
reproducibility and round trip through import."""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import unittest
import uuid

from mbimage import (Layout, Podman, add_platform_index, busybox_base, podman_runner, tree_bytes,
                     validate_modelpack_config, validate_oci)
from mbregistry import DockerRegistry
from mbtest import MbTestCase, pseudo_random_bytes, repo_folder_name, run_json, run_modelbake

MODELS = [
    {"repo": "org/tiny-bert", "as": "bert", "files": {
        "config.json": b'{"hidden_size": 8}\n',
        "model.safetensors": (pseudo_random_bytes(150_000, seed=7), True),
        "README.md": b"# tiny\n",
        "tokenizer/vocab.txt": b"[PAD]\nhello\n"}},
    {"repo": "org/tiny-gguf", "as": "llm", "files": {
        "model-q4.gguf": (pseudo_random_bytes(90_000, seed=8), True)}},
]


class BaseImageCase(MbTestCase):
    """A busybox base image (built once per class with umoci) and a project with two models."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not shutil.which("umoci") or not os.path.exists("/bin/busybox"):
            raise unittest.SkipTest("umoci or busybox-static not installed")
        cls.class_tmp = tempfile.mkdtemp(prefix="mbtest-base-")
        cls.base_dir = os.path.join(cls.class_tmp, "base")
        busybox_base(cls.base_dir, "base")
        add_platform_index(cls.base_dir, "base", "multi")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(getattr(cls, "class_tmp", ""), ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.make_project(MODELS)

    def export(self, out, *args, code=0):
        proc, doc = run_json(["export", "-f", self.manifest, "--cache", self.cache, "-o", out] + list(args))
        self.assertExit(proc, code)
        return doc if code == 0 else proc

    def export_on_base(self, out, tag="base", *args):
        return self.export(out, "--format", "oci", "--tag", "models:v1", "--base",
                           "oci:%s:%s" % (self.base_dir, tag), *args)


class TestExportOnBase(BaseImageCase):
    def test_model_layers_on_the_base_layers_config_kept(self):
        out = self.tmp.join("oci")
        doc = self.export_on_base(out, "base", "--layout", "flat")
        base = Layout(self.base_dir)
        base_man = base.json_blob(base.entry("base")["digest"])
        base_cfg = base.json_blob(base_man["config"]["digest"])
        lay = Layout(out)
        entry = lay.entry()
        self.assertEqual(entry["digest"], doc["manifest_digest"])
        man = lay.json_blob(entry["digest"])
        self.assertNotIn("artifactType", man)
        cfg = lay.json_blob(man["config"]["digest"])
        n_base = len(base_man["layers"])
        self.assertEqual(doc["base_layers"], n_base)
        self.assertEqual(man["layers"][:n_base], base_man["layers"])
        self.assertEqual([l["digest"] for l in man["layers"][n_base:]], [l["digest"] for l in doc["layers"]])
        self.assertEqual([l["annotations"]["io.modelbake.model"] for l in man["layers"][n_base:]],
                         ["bert", "llm", "modelbake.lock"])
        self.assertEqual(cfg["rootfs"]["diff_ids"],
                         base_cfg["rootfs"]["diff_ids"] + [l["digest"] for l in doc["layers"]])
        for key in ("architecture", "os", "created"):
            self.assertEqual(cfg[key], base_cfg[key], key)
        self.assertEqual(cfg["config"]["Cmd"], ["sh"])
        self.assertNotIn("Entrypoint", cfg["config"])  # KServe passes Args
        self.assertEqual(cfg["config"]["Env"][0], "PATH=/bin")
        self.assertIn("HF_HUB_OFFLINE=1", cfg["config"]["Env"])
        self.assertEqual(cfg["config"]["Labels"]["org.example.base"], "busybox")
        self.assertEqual(len(cfg["history"]), len(base_cfg["history"]) + 3)
        # every base blob is in the output, and docker-load's manifest.json lists all layers
        for l in base_man["layers"]:
            self.assertEqual(lay.blob(l["digest"]), base.blob(l["digest"]))
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertEqual(len(json.load(f)[0]["Layers"]), n_base + 3)

    def test_second_export_is_byte_identical(self):
        a, b = self.tmp.join("a"), self.tmp.join("b")
        self.export_on_base(a)
        self.export_on_base(b, "base", "--no-layer-cache")
        self.assertEqual(tree_bytes(a), tree_bytes(b))
        c, d = self.tmp.join("c"), self.tmp.join("d")
        self.export_on_base(c, "multi")
        self.export_on_base(d, "multi")
        self.assertEqual(tree_bytes(c), tree_bytes(d))

    def test_multi_platform_base_gives_an_index_sharing_the_model_layers(self):
        out = self.tmp.join("oci")
        doc = self.export_on_base(out, "multi")
        lay = Layout(out)
        entry = lay.entry()
        self.assertEqual(entry["mediaType"], "application/vnd.oci.image.index.v1+json")
        index = lay.json_blob(entry["digest"])
        self.assertEqual([e["platform"]["architecture"] for e in index["manifests"]], ["amd64", "arm64"])
        self.assertEqual([p["platform"] for p in doc["platforms"]], ["linux/amd64", "linux/arm64"])
        model_layers = [l["digest"] for l in doc["layers"]]
        for e in index["manifests"]:
            man = lay.json_blob(e["digest"])
            cfg = lay.json_blob(man["config"]["digest"])
            self.assertEqual(cfg["architecture"], e["platform"]["architecture"])
            self.assertEqual([l["digest"] for l in man["layers"][-3:]], model_layers)
            self.assertEqual(cfg["rootfs"]["diff_ids"][-3:], model_layers)
        self.assertFalse(os.path.exists(os.path.join(out, "manifest.json")))

    def test_kserve_fetch_mode_extracts_the_models(self):
        # kserve_storage._download_oci: resolve the index to linux/<arch>, accept only these
        # layer types (no +zstd), stream each tar and extract the entries named models/...
        accepted = {"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
                    "application/vnd.docker.image.rootfs.diff.tar.gzip"}
        out = self.tmp.join("oci")
        self.export_on_base(out, "multi", "--layout", "flat")
        lay = Layout(out)
        index = lay.json_blob(lay.entry()["digest"])
        entry = next(e for e in index["manifests"] if e["platform"] == {"architecture": "arm64", "os": "linux"})
        dest = self.tmp.join("mnt")
        os.makedirs(dest)
        for layer in lay.json_blob(entry["digest"])["layers"]:
            self.assertIn(layer["mediaType"], accepted)
            with tarfile.open(lay.blob_path(layer["digest"]), "r|*") as tf:
                for member in tf:
                    if member.name.startswith("models/"):
                        tf.extract(member, dest)
        for m in self.lock["models"]:
            for f in m["files"]:
                with open(os.path.join(dest, "models", m["name"], f["path"]), "rb") as fh:
                    self.assertEqual(hashlib.sha256(fh.read()).hexdigest(), f["sha256"])

    def test_bad_base_is_a_usage_error_and_writes_nothing(self):
        out = self.tmp.join("oci")
        proc = self.export(out, "--format", "oci", "--base", "oci:" + self.tmp.join("nothing"), code=2)
        self.assertIn("no OCI layout", proc.stderr)
        proc = self.export(out, "--format", "oci", "--base", "oci:%s:nosuchtag" % self.base_dir, code=2)
        self.assertIn("no image tagged 'nosuchtag'", proc.stderr)
        proc = self.export(out, "--format", "tar", "--base", "oci:%s:base" % self.base_dir, code=2)
        self.assertFalse(os.path.exists(out))

    def test_entrypoint_workdir_and_env_of_the_base_are_kept(self):
        base = self.tmp.join("ep")
        shutil.copytree(self.base_dir, base)
        subprocess.run(["umoci", "config", "--image", "%s:base" % base, "--tag", "ep", "--config.entrypoint", "/bin/sh",
                        "--config.workingdir", "/srv", "--config.env", "HF_HUB_OFFLINE=0"],
                       capture_output=True, check=True)
        out = self.tmp.join("oci")
        self.export(out, "--format", "oci", "--base", "oci:%s:ep" % base)
        lay = Layout(out)
        cfg = lay.json_blob(lay.json_blob(lay.entry()["digest"])["config"]["digest"])
        self.assertEqual(cfg["config"]["Entrypoint"], ["/bin/sh"])
        self.assertEqual(cfg["config"]["WorkingDir"], "/srv")
        env = cfg["config"]["Env"]
        self.assertIn("HF_HUB_OFFLINE=0", env)  # the base's own value wins
        self.assertNotIn("HF_HUB_OFFLINE=1", env)
        self.assertIn("HF_HUB_CACHE=/models", env)

    def test_unsupported_base_layer_type_is_a_usage_error(self):
        base = self.tmp.join("odd")
        shutil.copytree(self.base_dir, base)
        lay = Layout(base)
        man = lay.json_blob(lay.entry("base")["digest"])
        man["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        data = json.dumps(man).encode()
        lay.add_ref({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": lay.put_blob(data),
                     "size": len(data)}, "odd")
        out = self.tmp.join("oci")
        proc = self.export(out, "--format", "oci", "--base", "oci:%s:odd" % base, code=2)
        self.assertIn("unsupported layer media type", proc.stderr)
        self.assertFalse(os.path.exists(out))

    def test_tampered_base_layer_fails_with_integrity_error(self):
        broken = self.tmp.join("broken")
        shutil.copytree(self.base_dir, broken)
        lay = Layout(broken)
        man = lay.json_blob(lay.entry("base")["digest"])
        path = lay.blob_path(man["layers"][0]["digest"])
        os.chmod(path, 0o644)
        with open(path, "r+b") as f:
            f.seek(100)
            f.write(b"X")
        out = self.tmp.join("oci")
        proc = self.export(out, "--format", "oci", "--base", "oci:%s:base" % broken, code=1)
        self.assertIn("does not match its digest", proc.stderr)
        self.assertFalse(os.path.exists(out))


def file_bytes(cache, lock):
    """{(model name, path): bytes} of every locked file in the cache's snapshots."""
    out = {}
    for m in lock["models"]:
        for f in m["files"]:
            p = os.path.join(cache, repo_folder_name(m["type"], m["repo"]), "snapshots", m["commit"], f["path"])
            with open(p, "rb") as fh:
                out[(m["name"], f["path"])] = fh.read()
    return out


class ArtifactCase(MbTestCase):
    def export(self, out, *args, code=0):
        proc, doc = run_json(["export", "-f", self.manifest, "--cache", self.cache, "-o", out] + list(args))
        self.assertExit(proc, code)
        return doc if code == 0 else proc

    def assert_import_round_trip(self, bundle, fmt):
        target = self.tmp.join("cache-" + os.path.basename(bundle))
        proc, doc = run_json(["import", bundle, "--cache", target])
        self.assertExit(proc, 0)
        self.assertEqual(doc["format"], fmt)
        self.assertEqual(file_bytes(target, self.lock), file_bytes(self.cache, self.lock))

    def artifact(self, out):
        lay = Layout(out)
        entry = lay.entry()
        manifest = lay.json_blob(entry["digest"])
        return lay, entry, manifest, lay.json_blob(manifest["config"]["digest"])


class TestModelPack(ArtifactCase):
    def setUp(self):
        super().setUp()
        self.make_project(MODELS)

    def test_layout_conforms_to_modelpack_v0_0_7(self):
        out = self.tmp.join("mp")
        doc = self.export(out, "--format", "modelpack", "--tag", "pack:v1")
        lay, entry, manifest, config = self.artifact(out)
        with open(os.path.join(out, "oci-layout")) as f:
            validate_oci(json.load(f), "image-layout-schema")
        validate_oci(lay.index(), "image-index-schema")
        validate_oci(manifest, "image-manifest-schema")
        validate_modelpack_config(config)
        self.assertEqual(entry["artifactType"], "application/vnd.cncf.model.manifest.v1+json")
        self.assertEqual(entry["annotations"]["org.opencontainers.image.ref.name"], "v1")
        self.assertEqual(entry["digest"], doc["manifest_digest"])
        self.assertEqual(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json")
        self.assertEqual(manifest["artifactType"], "application/vnd.cncf.model.manifest.v1+json")
        self.assertEqual(manifest["config"]["mediaType"], "application/vnd.cncf.model.config.v1+json")
        self.assertEqual(config["modelfs"], {"type": "layers", "diffIds": [l["digest"] for l in manifest["layers"]]})
        self.assertEqual(config["config"]["format"], "safetensors")
        pre = "application/vnd.cncf.model."
        types = {l["annotations"]["org.cncf.model.filepath"]: l["mediaType"][len(pre):] for l in manifest["layers"]}
        self.assertEqual(types, {"bert/config.json": "weight.config.v1.raw",
                                 "bert/model.safetensors": "weight.v1.raw",
                                 "bert/README.md": "doc.v1.raw",
                                 "bert/tokenizer/vocab.txt": "weight.config.v1.raw",
                                 "llm/model-q4.gguf": "weight.v1.raw",
                                 "modelbake.lock": "doc.v1.raw"})
        content = file_bytes(self.cache, self.lock)
        for layer in manifest["layers"]:
            ann = layer["annotations"]
            path = ann["org.cncf.model.filepath"]
            self.assertEqual(ann["org.opencontainers.image.title"], path)  # CRI-O's file name
            self.assertEqual(ann["org.cncf.model.file.mediatype.untested"], "false")
            meta = json.loads(ann["org.cncf.model.file.metadata+json"])
            self.assertEqual(meta, {"name": path, "mode": 0o644, "uid": 0, "gid": 0, "size": layer["size"],
                                    "mtime": "1970-01-01T00:00:00Z", "typeflag": 48})
            blob = lay.blob(layer["digest"])
            if path != "modelbake.lock":  # a raw layer is the file itself
                name, rel = path.split("/", 1)
                self.assertEqual(blob, content[(name, rel)])

    def test_export_is_reproducible_and_import_reads_it_back(self):
        a, b = self.tmp.join("a"), self.tmp.join("b")
        first = self.export(a, "--format", "modelpack")
        second = self.export(b, "--format", "modelpack", "--no-sync")
        self.assertEqual(first["manifest_digest"], second["manifest_digest"])
        self.assertEqual(tree_bytes(a), tree_bytes(b))
        self.assert_import_round_trip(a, "modelpack")

    def test_import_refuses_a_tampered_weight(self):
        out = self.tmp.join("mp")
        self.export(out, "--format", "modelpack")
        lay, _entry, manifest, _cfg = self.artifact(out)
        weight = next(l for l in manifest["layers"] if l["annotations"]["org.cncf.model.filepath"].endswith(".gguf"))
        path = lay.blob_path(weight["digest"])
        os.chmod(path, 0o644)
        with open(path, "r+b") as f:
            f.write(b"X")
        target = self.tmp.join("t")
        proc = run_modelbake(["import", out, "--cache", target])
        self.assertExit(proc, 1)
        self.assertIn("does not match its digest", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(target, repo_folder_name("model", "org/tiny-gguf"))))

    def test_corrupt_cache_fails_the_export_and_leaves_nothing(self):
        m = self.lock["models"][1]
        f = m["files"][0]
        obj = os.path.realpath(os.path.join(self.cache, repo_folder_name("model", m["repo"]), "snapshots",
                                            m["commit"], f["path"]))
        os.chmod(obj, 0o644)
        with open(obj, "r+b") as fh:
            fh.write(b"X")
        out = self.tmp.join("mp")
        proc = self.export(out, "--format", "modelpack", code=1)
        self.assertIn("does not match its digest", proc.stderr)
        self.assertEqual([n for n in os.listdir(self.tmp.path) if n.startswith((".mp", "mp"))], [])


class TestDockerModel(ArtifactCase):
    def test_gguf_model_layout(self):
        self.make_project([MODELS[1]])
        out = self.tmp.join("dmr")
        doc = self.export(out, "--format", "docker-model", "--tag", "ai/tiny:q4")
        lay, entry, manifest, config = self.artifact(out)
        validate_oci(manifest, "image-manifest-schema")
        validate_oci(lay.index(), "image-index-schema")
        self.assertNotIn("artifactType", manifest)
        self.assertEqual(manifest["config"]["mediaType"], "application/vnd.docker.ai.model.config.v0.2+json")
        self.assertEqual([(l["mediaType"], l["annotations"]["org.cncf.model.filepath"]) for l in manifest["layers"]],
                         [("application/vnd.docker.ai.gguf.v3", "model-q4.gguf"),
                          ("application/vnd.docker.ai.model.file", "modelbake.lock")])
        self.assertEqual(config["config"]["format"], "gguf")
        self.assertEqual(config["config"]["size"], str(sum(l["size"] for l in manifest["layers"])))
        self.assertEqual(config["files"], [{"diffID": l["digest"], "type": l["mediaType"]} for l in manifest["layers"]])
        self.assertEqual(config["rootfs"], {"type": "layers", "diff_ids": [l["digest"] for l in manifest["layers"]]})
        self.assertEqual(lay.blob(manifest["layers"][0]["digest"]), file_bytes(self.cache, self.lock)[("llm", "model-q4.gguf")])
        self.assertEqual(entry["digest"], doc["manifest_digest"])
        again = self.tmp.join("dmr2")
        self.export(again, "--format", "docker-model", "--tag", "ai/tiny:q4")
        self.assertEqual(tree_bytes(out), tree_bytes(again))
        self.assert_import_round_trip(out, "docker-model")

    def test_safetensors_model_layout(self):
        self.make_project([MODELS[0]])
        out = self.tmp.join("dmr")
        self.export(out, "--format", "docker-model")
        _lay, _entry, manifest, config = self.artifact(out)
        self.assertEqual(config["config"]["format"], "safetensors")
        types = {l["annotations"]["org.cncf.model.filepath"]: l["mediaType"] for l in manifest["layers"]}
        self.assertEqual(types["model.safetensors"], "application/vnd.docker.ai.safetensors")
        self.assertEqual(types["tokenizer/vocab.txt"], "application/vnd.docker.ai.model.file")
        self.assert_import_round_trip(out, "docker-model")

    def test_refuses_a_lock_of_several_models(self):
        self.make_project(MODELS)
        proc = self.export(self.tmp.join("dmr"), "--format", "docker-model", code=2)
        self.assertIn("holds one model", proc.stderr)
        self.assertFalse(os.path.exists(self.tmp.join("dmr")))


class TestImportOnBase(BaseImageCase):
    def test_import_reads_the_models_of_an_image_on_a_base(self):
        for tag in ("base", "multi"):
            with self.subTest(tag=tag):
                out = self.tmp.join("oci-" + tag)
                self.export_on_base(out, tag)
                lay = Layout(out)
                root = lay.json_blob(lay.entry()["digest"])
                validate_oci(root, "image-index-schema" if tag == "multi" else "image-manifest-schema")
                target = self.tmp.join("cache-" + tag)
                proc, doc = run_json(["import", out, "--cache", target])
                self.assertExit(proc, 0)
                self.assertEqual(file_bytes(target, self.lock), file_bytes(self.cache, self.lock))


KSERVE_MODELCAR = 'ln -sf /proc/$$/root/models /mnt/models && '  # pkg/utils/storage.go, then our check
KSERVE_INIT_CHECK = '[ -d /models ] && [ "$(ls -A /models)" ]'


class TestRealConsumers(BaseImageCase):
    """podman (ImageVolume's semantics with --mount type=image, KServe's modelcar command),
    Debian's docker-registry, skopeo and umoci against what modelbake writes."""

    def setUp(self):
        super().setUp()
        # podman wants short, lower-case paths (socket path limits, oci: reference syntax)
        self.short = os.path.join("/tmp", "mbrt" + uuid.uuid4().hex[:10])
        os.mkdir(self.short)
        self.addCleanup(shutil.rmtree, self.short, True)
        self.podman, why = podman_runner(os.path.join(self.short, "p"))
        self.why = why

    def need_podman(self):
        if self.podman is None:
            self.skipTest(self.why)

    def sha256sum_lines(self, root):
        return sorted("%s  %s/%s/%s" % (f["sha256"], root, m["name"], f["path"])
                      for m in self.lock["models"] for f in m["files"])

    def sha256sum_cmd(self, root):
        return "sha256sum " + " ".join("%s/%s/%s" % (root, m["name"], f["path"])
                                       for m in self.lock["models"] for f in m["files"])

    def test_plain_image_mounts_as_an_image_volume_byte_identical(self):
        self.need_podman()
        models = os.path.join(self.short, "models")
        self.export(models, "--format", "oci", "--tag", "models:v1", "--layout", "flat")
        self.podman.run("pull", "oci:%s:v1" % models)
        self.podman.run("pull", "oci:%s:base" % self.base_dir)
        # podman names an image pulled from a layout by its config digest (the image ID)
        def image_id(layout, tag):
            lay = Layout(layout)
            return lay.json_blob(lay.entry(tag)["digest"])["config"]["digest"].split(":")[1]
        model_id, base_id = image_id(models, None), image_id(self.base_dir, "base")
        run = Podman.RUN_FLAGS + ["--mount", "type=image,source=%s,destination=/mnt/models" % model_id]
        proc = self.podman.run("run", *run, base_id, "sh", "-c", self.sha256sum_cmd("/mnt/models/models"))
        self.assertEqual(sorted(proc.stdout.splitlines()), self.sha256sum_lines("/mnt/models/models"))
        raw = subprocess.run(self.podman.cmd("run", *run, base_id, "cat", "/mnt/models/models/llm/model-q4.gguf"),
                             capture_output=True, timeout=600)
        self.assertEqual(raw.returncode, 0, raw.stderr)
        self.assertEqual(raw.stdout, file_bytes(self.cache, self.lock)[("llm", "model-q4.gguf")])
        # read-only, as ImageVolume mounts are
        proc = self.podman.run("run", *run, base_id, "sh", "-c", "echo x > /mnt/models/models/new", check=False)
        self.assertNotEqual(proc.returncode, 0)

    def test_modelcar_image_runs_kserve_command(self):
        self.need_podman()
        out = os.path.join(self.short, "modelcar")
        self.export(out, "--format", "oci", "--tag", "modelcar:v1", "--layout", "flat",
                    "--base", "oci:%s:base" % self.base_dir)
        ref = "oci:%s:v1" % out
        proc = self.podman.run("run", *Podman.RUN_FLAGS, ref, "sh", "-c", KSERVE_INIT_CHECK + " && echo ready")
        self.assertEqual(proc.stdout.strip(), "ready")
        proc = self.podman.run("run", *Podman.RUN_FLAGS, ref, "sh", "-c",
                               KSERVE_MODELCAR + self.sha256sum_cmd("/mnt/models"))
        self.assertEqual(sorted(proc.stdout.splitlines()), self.sha256sum_lines("/mnt/models"))

    def test_push_multi_platform_modelcar_podman_pull_and_modelbake_pull(self):
        self.need_podman()
        registry = DockerRegistry(self.tmp.join("registry")).start()
        self.addCleanup(registry.stop)
        ref = registry.host + "/team/modelcar:v1"
        proc, doc = run_json(["push", ref, "--plain-http", "-f", self.manifest, "--cache", self.cache,
                              "--layout", "flat", "--base", "oci:%s:multi" % self.base_dir])
        self.assertExit(proc, 0)
        exported = self.export(self.tmp.join("same"), "--format", "oci", "--layout", "flat",
                               "--base", "oci:%s:multi" % self.base_dir)
        self.assertEqual(doc["digest"], exported["manifest_digest"])  # push sends what export writes
        self.podman.run("pull", "--tls-verify=false", ref)
        proc = self.podman.run("run", *Podman.RUN_FLAGS, ref, "sh", "-c",
                               KSERVE_MODELCAR + self.sha256sum_cmd("/mnt/models"))
        self.assertEqual(sorted(proc.stdout.splitlines()), self.sha256sum_lines("/mnt/models"))
        empty = self.tmp.join("pulled-cache")
        proc, pulled = run_json(["pull", ref, "--plain-http", "--cache", empty])
        self.assertExit(proc, 0)
        self.assertEqual(pulled["digest"], doc["digest"])
        self.assertEqual(file_bytes(empty, self.lock), file_bytes(self.cache, self.lock))

    @unittest.skipUnless(shutil.which("skopeo"), "skopeo not installed")
    def test_base_from_a_registry_gives_the_same_image_as_from_its_layout(self):
        registry = DockerRegistry(self.tmp.join("registry")).start()
        self.addCleanup(registry.stop)
        policy = self.tmp.join("policy.json")
        with open(policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        for tag in ("base", "multi"):
            with self.subTest(tag=tag):
                remote = "%s/library/busybox:%s" % (registry.host, tag)
                subprocess.run(["skopeo", "--policy", policy, "copy", "--all", "--preserve-digests",
                                "--dest-tls-verify=false", "oci:%s:%s" % (self.base_dir, tag), "docker://" + remote],
                               capture_output=True, check=True)
                from_layout = self.export(self.tmp.join("l-" + tag), "--format", "oci", "--base",
                                          "oci:%s:%s" % (self.base_dir, tag))
                from_registry = self.export(self.tmp.join("r-" + tag), "--format", "oci", "--base", remote,
                                            "--plain-http")
                self.assertEqual(from_registry["manifest_digest"], from_layout["manifest_digest"])
                self.assertEqual(tree_bytes(self.tmp.join("r-" + tag)), tree_bytes(self.tmp.join("l-" + tag)))
                ref = "%s/team/modelcar-%s:v1" % (registry.host, tag)
                proc, pushed = run_json(["push", ref, "--plain-http", "-f", self.manifest, "--cache", self.cache,
                                         "--base", remote])
                self.assertExit(proc, 0)
                self.assertEqual(pushed["digest"], from_layout["manifest_digest"])

    @unittest.skipUnless(shutil.which("skopeo"), "skopeo not installed")
    def test_artifact_layouts_read_by_skopeo_and_umoci_push_equals_export(self):
        registry = DockerRegistry(self.tmp.join("registry")).start()
        self.addCleanup(registry.stop)
        policy = self.tmp.join("policy.json")
        with open(policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        for fmt, artifact in (("modelpack", "modelpack"), ("docker-model", "docker-model")):
            with self.subTest(fmt=fmt):
                if fmt == "docker-model":  # one model per DMR artifact
                    shutil.rmtree(self.tmp.join("project"))
                    shutil.rmtree(self.cache)
                    self.make_project([MODELS[1]])
                out = self.tmp.join(fmt)
                doc = self.export(out, "--format", fmt, "--tag", "art:v1")
                raw = subprocess.run(["skopeo", "inspect", "--raw", "oci:%s:v1" % out],
                                     capture_output=True, check=True).stdout
                self.assertEqual("sha256:" + hashlib.sha256(raw).hexdigest(), doc["manifest_digest"])
                copied = self.tmp.join(fmt + "-copy")
                subprocess.run(["skopeo", "--policy", policy, "copy", "oci:%s:v1" % out, "oci:%s:v1" % copied],
                               capture_output=True, check=True)
                self.assertEqual(Layout(copied).entry()["digest"], doc["manifest_digest"])
                if shutil.which("umoci"):
                    tags = subprocess.run(["umoci", "ls", "--layout", out], capture_output=True, text=True, check=True)
                    self.assertEqual(tags.stdout.split(), ["v1"])
                ref = "%s/team/%s:v1" % (registry.host, fmt)
                proc, pushed = run_json(["push", ref, "--plain-http", "-f", self.manifest, "--cache", self.cache,
                                         "--artifact", artifact])
                self.assertExit(proc, 0)
                self.assertEqual(pushed["digest"], doc["manifest_digest"])
                target = self.tmp.join("pulled-" + fmt)
                proc, pulled = run_json(["pull", ref, "--plain-http", "--cache", target])
                self.assertExit(proc, 0)
                self.assertEqual(pulled["artifact"], fmt)
                self.assertEqual(file_bytes(target, self.lock), file_bytes(self.cache, self.lock))


if __name__ == "__main__":
    unittest.main()
