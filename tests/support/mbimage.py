"""OCI image helpers for the runtime tests (tests/integration/test_bundle_runtimes.py).

* busybox_base(dir, tag): a tiny runnable base image, Debian's busybox-static as /bin/sh with
  the applets KServe's modelcar command uses, built with umoci (no registry needed)
* add_platform_index(dir, tag, new_tag, arches): an image index over copies of that image for
  other architectures (same layers, per-arch config), as multi-platform bases are
* Layout: read a layout's index, manifests, configs and blobs
* podman_runner(tmp): how to run podman on the project's VMs (or None and why not)
"""

import hashlib
import json
import os
import shutil
import subprocess

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "ln", "sleep", "ls", "mkdir", "cat", "sha256sum", "test", "echo", "["]


def _run(args, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
    if proc.returncode != 0:
        raise RuntimeError("%s failed: %s %s" % (" ".join(args), proc.stdout, proc.stderr))
    return proc


def busybox_base(layout, tag="base"):
    """Creates (or extends) the OCI layout `layout` with image `tag`: /bin/busybox and applet
    symlinks, PATH=/bin, Cmd ["sh"], no Entrypoint (KServe passes Args)."""
    if not os.path.exists(os.path.join(layout, "oci-layout")):
        _run(["umoci", "init", "--layout", layout])
    _run(["umoci", "new", "--image", "%s:%s" % (layout, tag)])
    bundle = layout + ".unpack-" + tag
    _run(["umoci", "unpack", "--rootless", "--image", "%s:%s" % (layout, tag), bundle])
    bindir = os.path.join(bundle, "rootfs", "bin")
    os.makedirs(bindir, exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(bindir, "busybox"))
    for applet in APPLETS:
        os.symlink("busybox", os.path.join(bindir, applet))
    os.makedirs(os.path.join(bundle, "rootfs", "mnt"), exist_ok=True)
    _run(["umoci", "repack", "--image", "%s:%s" % (layout, tag), bundle])
    _run(["umoci", "config", "--image", "%s:%s" % (layout, tag), "--config.env", "PATH=/bin",
          "--config.cmd", "sh", "--config.label", "org.example.base=busybox"])
    shutil.rmtree(bundle, ignore_errors=True)
    return layout


class Layout:
    def __init__(self, path):
        self.path = path

    def blob_path(self, digest):
        return os.path.join(self.path, "blobs", "sha256", digest.split(":", 1)[1])

    def blob(self, digest):
        with open(self.blob_path(digest), "rb") as f:
            return f.read()

    def json_blob(self, digest):
        return json.loads(self.blob(digest))

    def index(self):
        with open(os.path.join(self.path, "index.json")) as f:
            return json.load(f)

    def entry(self, tag=None):
        entries = self.index()["manifests"]
        if tag is None:
            assert len(entries) == 1, entries
            return entries[0]
        return next(e for e in entries if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)

    def put_blob(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(self.blob_path(digest), "wb") as f:
            f.write(data)
        return digest

    def add_ref(self, desc, tag):
        index = self.index()
        desc = dict(desc, annotations={"org.opencontainers.image.ref.name": tag})
        index["manifests"].append(desc)
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(index, f)


def add_platform_index(layout, tag, new_tag, arches=("amd64", "arm64")):
    """An image index `new_tag` holding image `tag` once per architecture (the layers are
    shared; each config says its architecture), plus an attestation-like entry of unknown
    platform that consumers skip."""
    lay = Layout(layout)
    base = lay.entry(tag)
    manifest = lay.json_blob(base["digest"])
    config = lay.json_blob(manifest["config"]["digest"])
    entries = []
    for arch in arches:
        cfg = dict(config, architecture=arch)
        cfg_bytes = json.dumps(cfg, sort_keys=True).encode()
        cfg_digest = lay.put_blob(cfg_bytes)
        man = dict(manifest, config={"mediaType": "application/vnd.oci.image.config.v1+json",
                                     "digest": cfg_digest, "size": len(cfg_bytes)})
        man_bytes = json.dumps(man, sort_keys=True).encode()
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": lay.put_blob(man_bytes), "size": len(man_bytes),
                        "platform": {"architecture": arch, "os": "linux"}})
    att = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                      "digest": lay.put_blob(b"{}")}, "layers": []}
    att_bytes = json.dumps(att).encode()
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": lay.put_blob(att_bytes), "size": len(att_bytes),
                    "platform": {"architecture": "unknown", "os": "unknown"}})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    index_bytes = json.dumps(index).encode()
    lay.add_ref({"mediaType": "application/vnd.oci.image.index.v1+json",
                 "digest": lay.put_blob(index_bytes), "size": len(index_bytes)}, new_tag)
    return index


def tree_bytes(root):
    """{relative path: bytes} of every regular file under root (byte-identity checks)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


class Podman:
    """podman on the project's VMs (2 cores, no CAP_SYS_RESOURCE, hybrid cgroups): run in a
    private mount namespace with the cgroup2 mount unmounted, vfs storage, cgroupfs manager,
    no cgroups, explicit ulimits. Root and runroot live in short paths (podman's socket paths
    must stay under 108 bytes)."""

    def __init__(self, root):
        self.root = root
        self.graph = os.path.join(root, "g")
        self.run_root = os.path.join(root, "r")
        assert len(self.run_root) <= 50, self.run_root

    def cmd(self, *args):
        inner = ["podman", "--root", self.graph, "--runroot", self.run_root, "--storage-driver", "vfs",
                 "--cgroup-manager", "cgroupfs", "--events-backend", "none"] + list(args)
        script = "umount /sys/fs/cgroup/unified 2>/dev/null; exec \"$@\""
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"] + inner

    def run(self, *args, check=True, timeout=600, env=None):
        proc = subprocess.run(self.cmd(*args), capture_output=True, text=True, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise AssertionError("podman %s failed (%d):\n%s\n%s" % (" ".join(args), proc.returncode,
                                                                     proc.stdout, proc.stderr))
        return proc

    RUN_FLAGS = ["--rm", "--network", "none", "--cgroups", "disabled",
                 "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def podman_runner(short_root):
    """A Podman for `short_root`, or (None, why) when podman cannot run containers here."""
    if not shutil.which("podman") or not shutil.which("unshare"):
        return None, "podman is not installed"
    if not os.path.exists(BUSYBOX):
        return None, "busybox-static is not installed"
    return Podman(short_root), None


# ---- schema validation (tests/support/schemas, see its README) ---------------------------

SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")


def _schema(name):
    with open(os.path.join(SCHEMAS, name)) as f:
        return json.load(f)


def validate_oci(doc, kind):
    """Validates `doc` against the OCI image-spec v1.1.1 schema `kind` (image-manifest-schema,
    image-index-schema, config-schema, image-layout-schema); raises jsonschema's
    ValidationError."""
    import jsonschema
    prefix = "oci-image-spec-v1.1.1-"
    schema = _schema(prefix + kind + ".json")

    def by_file_name(uri):
        return _schema(prefix + uri.rsplit("/", 1)[-1].split("#")[0])
    resolver = jsonschema.RefResolver.from_schema(schema, handlers={"https": by_file_name, "http": by_file_name})
    jsonschema.Draft4Validator(schema, resolver=resolver,
                               format_checker=jsonschema.draft4_format_checker).validate(doc)


def validate_modelpack_config(doc):
    """Validates a ModelPack config against model-spec v0.0.7's schema/config-schema.json."""
    import jsonschema
    schema = _schema("modelpack-v0.0.7-config-schema.json")
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.draft4_format_checker).validate(doc)
