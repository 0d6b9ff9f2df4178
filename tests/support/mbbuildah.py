"""Image builds for the Dockerfile test (tests/integration/test_dockerfile_build.py), offline.

* base_image_tar(): a `debian:bookworm-slim` root filesystem made with mmdebstrap from the
  Debian archive, cached between runs (one tar per suite and day) under test_cache_dir().
* Buildah: a private buildah store (vfs driver, its own --root/--runroot), so parallel tests
  and other users of the machine never share or delete each other's images. Containers run
  with --isolation chroot: on these VMs crun refuses the hybrid cgroup layout. Builds use the
  host network (the test hub listens on loopback) and never pull: every FROM is local.

Every command's output goes to a log file kept under the build tree (logs_dir()), so a
failed CI run can be read afterwards.
"""

import datetime
import fcntl
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from mbtest import _force_rmtree, build_dir

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# debian:bookworm-slim is minbase without documentation, manuals and translations.
SLIM_DPKG_OPTS = ["path-exclude=/usr/share/man/*", "path-exclude=/usr/share/doc/*",
                  "path-include=/usr/share/doc/*/copyright", "path-exclude=/usr/share/locale/*",
                  "path-exclude=/usr/share/info/*"]


def test_cache_dir():
    """Where the base image and buildah's cache mounts (ccache) persist between runs:
    $MODELBAKE_TEST_CACHE, else /var/cache/modelbake-test, else the build tree."""
    for path in (os.environ.get("MODELBAKE_TEST_CACHE"), "/var/cache/modelbake-test"):
        if not path:
            continue
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK):
            return path
    path = os.path.join(build_dir(), "test-cache")
    os.makedirs(path, exist_ok=True)
    return path


def logs_dir():
    path = os.path.join(build_dir(), "Testing", "dockerbuild")
    os.makedirs(path, exist_ok=True)
    return path


def base_image_tar(log):
    """The cached rootfs tar of today's bookworm-slim; made once a day with mmdebstrap.
    A lock file serialises concurrent runs; the tar appears under its name only when whole."""
    cache = test_cache_dir()
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")
    tar = os.path.join(cache, "debian-%s-slim-%s.tar" % (SUITE, day))
    with open(os.path.join(cache, "mmdebstrap.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(tar):
            return tar
        partial = tar + ".partial"
        cmd = ["mmdebstrap", "--mode=root", "--variant=minbase", "--format=tar"]
        cmd += ["--dpkgopt=" + o for o in SLIM_DPKG_OPTS] + [SUITE, partial, MIRROR]
        run_logged(cmd, log)
        os.rename(partial, tar)
        for old in glob.glob(os.path.join(cache, "debian-%s-slim-*.tar" % SUITE)):
            if old != tar:
                os.unlink(old)
        return tar


class CommandFailed(AssertionError):
    def __init__(self, cmd, code, log):
        super().__init__("%s exited %s; log: %s\n%s" % (" ".join(cmd[:4]), code, log, tail(log)))
        self.code, self.log = code, log


def tail(path, chars=6000):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")[-chars:]


def run_logged(cmd, log, env=None, check=True, timeout=3000):
    """Runs cmd with stdout+stderr appended to `log`; returns (exit code, seconds)."""
    start = time.monotonic()
    with open(log, "ab") as out:
        out.write(("\n$ %s\n" % " ".join(cmd)).encode())
        out.flush()
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                              timeout=timeout).returncode
    seconds = time.monotonic() - start
    if check and code != 0:
        raise CommandFailed(cmd, code, log)
    return code, seconds


class Buildah:
    """A private buildah store; stop() removes it."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="mbbuildah-")
        # The run root holds sockets and locks: keep its path short.
        self.runroot = tempfile.mkdtemp(prefix="mbr", dir="/tmp")
        self.policy = os.path.join(self.dir, "policy.json")
        with open(self.policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        registries = os.path.join(self.dir, "registries.conf")
        with open(registries, "w") as f:
            f.write("unqualified-search-registries = []\n")
        # buildah keeps RUN --mount=type=cache directories under $TMPDIR/buildah-cache-<uid>:
        # in the persistent test cache, so the tool image's ccache survives the store.
        tmp = os.path.join(test_cache_dir(), "buildah-tmp")
        os.makedirs(tmp, exist_ok=True)
        self.env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=registries,
                        BUILDAH_ISOLATION="chroot", TMPDIR=tmp)
        self.store = ["--storage-driver", "vfs", "--root", os.path.join(self.dir, "root"),
                      "--runroot", self.runroot]

    def log(self, what):
        return os.path.join(logs_dir(), "%s-%s.log" % (self.name, what))

    def buildah(self, args, log, check=True):
        return run_logged(["buildah"] + self.store + list(args), log, env=self.env, check=check)

    def capture(self, args):
        proc = subprocess.run(["buildah"] + self.store + list(args), env=self.env,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise AssertionError("buildah %s: exit %d\n%s" % (args[0], proc.returncode, proc.stderr))
        return proc.stdout

    def import_rootfs(self, tar, tag, log):
        """A one-layer image from a root filesystem tar (what `docker import` does)."""
        ctr = self.capture(["from", "--signature-policy", self.policy, "scratch"]).strip()
        try:
            self.buildah(["add", ctr, tar, "/"], log)
            self.buildah(["config", "--cmd", "bash", ctr], log)
            self.buildah(["commit", "--signature-policy", self.policy, ctr, tag], log)
        finally:
            self.buildah(["rm", ctr], log, check=False)

    def bud(self, dockerfile, context, tag, log, build_args=None, secrets=None, target=None,
            check=True):
        """`buildah bud` as the docs show it; returns (exit code, seconds)."""
        args = ["bud", "--isolation", "chroot", "--network", "host", "--pull-never",
                "--format", "docker", "--signature-policy", self.policy, "-f", dockerfile,
                "-t", tag]
        for k, v in (build_args or {}).items():
            args += ["--build-arg", "%s=%s" % (k, v)]
        for sid, path in (secrets or {}).items():
            args += ["--secret", "id=%s,src=%s" % (sid, path)]
        if target:
            args += ["--target", target]
        return self.buildah(args + [context], log, check=check)

    def run(self, image, cmd, log, volumes=(), env=None, workdir=None, check=True):
        """Runs cmd in a fresh working container of `image` (buildah run does not apply the
        image's ENTRYPOINT); returns the exit code."""
        ctr = self.capture(["from", "--pull-never", "--signature-policy", self.policy, image]).strip()
        try:
            args = ["run", "--isolation", "chroot", "--network", "host"]
            for v in volumes:
                args += ["-v", v]
            for k, v in (env or {}).items():
                args += ["--env", "%s=%s" % (k, v)]
            if workdir:
                args += ["--workingdir", workdir]
            return self.buildah(args + [ctr, "--"] + list(cmd), log, check=check)[0]
        finally:
            self.buildah(["rm", ctr], log, check=False)

    def inspect(self, image):
        return json.loads(self.capture(["inspect", "--type", "image", image]))

    def push_oci(self, image, out, log):
        """The image as an OCI layout directory; returns [(media type, blob path)] of its
        config and every layer, decompressed bytes available through read_blob()."""
        self.buildah(["push", "--signature-policy", self.policy, image, "oci:%s:x" % out], log)
        blobs = os.path.join(out, "blobs", "sha256")
        with open(os.path.join(out, "index.json")) as f:
            manifest_digest = json.load(f)["manifests"][0]["digest"]
        with open(os.path.join(blobs, manifest_digest.split(":")[1])) as f:
            manifest = json.load(f)
        parts = [manifest["config"]] + manifest["layers"]
        return [(p["mediaType"], os.path.join(blobs, p["digest"].split(":")[1])) for p in parts]

    def stop(self):
        self.buildah(["rm", "--all"], self.log("cleanup"), check=False)
        _force_rmtree(self.dir)
        _force_rmtree(self.runroot)


def read_blob(media_type, path):
    """A blob's bytes, decompressed when the layer is gzip- or zstd-compressed."""
    if media_type.endswith("+zstd") or media_type.endswith(".zstd"):
        return subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"\x1f\x8b":
        with gzip.open(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def dockerfile_block(markdown_path, heading):
    """The first ```dockerfile block below `heading` in a Markdown file."""
    with open(markdown_path, encoding="utf-8") as f:
        text = f.read()
    start = text.index(heading)
    m = re.search(r"```dockerfile\n(.*?)```", text[start:], re.S)
    if not m:
        raise AssertionError("no dockerfile block under %r in %s" % (heading, markdown_path))
    return m.group(1)


def copy_into(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)
