"""Helpers for modelbake's integration tests (Python stdlib only, run by /usr/bin/python3).

    from mbtest import MbTestCase, RepoBuilder, run_modelbake, make_cache, write_manifest

* binaries: modelbake_bin(), verify_bin(), source_dir(), build_dir()
* run_modelbake(args, env=None, cwd=None, timeout=...) -> subprocess.CompletedProcess (text)
* RepoBuilder: tiny deterministic hub repos (files, LFS, commits, branches, tags, gated)
* TestHub: starts tests/hub/testhub.py, faults, request log (see tests/hub/README.md)
* make_cache(): a modelbake cache + lock written directly, without the tool
* run_json(), snapshot_path(), describe_tree() (byte-for-byte layout snapshots)
* write_manifest(), git_blob_sha1(), sha256_hex(), pseudo_random_bytes()
"""

import atexit
import json
import os
import re
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from mbcache import (describe_tree, lock_document, make_cache, repo_dir,  # noqa: F401
                     repo_folder_name, serialize_lock, snapshot_link_target, snapshot_path)
from mbrepo import (RepoBuilder, git_blob_sha1, pseudo_random_bytes, sha256_file,  # noqa: F401
                    sha256_hex, write_hub_data)

PYTHON = "/usr/bin/python3"


# ---- locations ----------------------------------------------------------------------------

def source_dir():
    env = os.environ.get("MODELBAKE_SOURCE_DIR")
    if env:
        return env
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_dir():
    return os.environ.get("MODELBAKE_BUILD_DIR") or os.path.join(source_dir(), "build")


def _binary(env_name, name):
    path = os.environ.get(env_name) or os.path.join(build_dir(), name)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s not found at %s: build it first or set %s" % (name, path, env_name))
    return path


def modelbake_bin():
    return _binary("MODELBAKE_BIN", "modelbake")


def verify_bin():
    return _binary("MODELBAKE_VERIFY_BIN", "modelbake-verify")


def testhub_script():
    return os.path.join(source_dir(), "tests", "hub", "testhub.py")


# ---- temp dirs ----------------------------------------------------------------------------

def _force_rmtree(path):
    def onerror(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o755)
            os.chmod(p, 0o755)
        except OSError:
            pass
        func(p)
    if os.path.lexists(path):
        shutil.rmtree(path, onerror=onerror)


class TempDir:
    """A private temp directory, removed on exit even if it holds read-only objects."""

    def __init__(self, prefix="mbtest-"):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def __str__(self):
        return self.path

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def cleanup(self):
        _force_rmtree(self.path)


_isolated_home = None


def _default_hf_home():
    # Keeps a test that forgets --cache from touching the user's real cache.
    global _isolated_home
    if _isolated_home is None:
        _isolated_home = tempfile.mkdtemp(prefix="mbtest-hfhome-")
        atexit.register(_force_rmtree, _isolated_home)
    return _isolated_home


# ---- running the binaries -----------------------------------------------------------------

_SCRUBBED_PREFIXES = ("HF_", "HUGGINGFACE_")


def tool_env(env=None):
    """The environment for a tool run: HF_* variables scrubbed, HF_HOME isolated, then
    `env` applied (a value of None removes the variable)."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    out["HF_HOME"] = _default_hf_home()
    for k, v in (env or {}).items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = str(v)
    return out


def run_binary(binary, args, env=None, cwd=None, timeout=300, input=None):
    return subprocess.run([binary] + [str(a) for a in args], env=tool_env(env), cwd=cwd,
                          timeout=timeout, input=input, capture_output=True, text=True)


def run_modelbake(args, env=None, cwd=None, timeout=300, input=None):
    return run_binary(modelbake_bin(), args, env, cwd, timeout, input)


def run_verify(args, env=None, cwd=None, timeout=300, input=None):
    return run_binary(verify_bin(), args, env, cwd, timeout, input)


def run_json(args, env=None, cwd=None, timeout=300):
    """Runs `modelbake --json ARGS`; returns (proc, parsed stdout or None if not JSON)."""
    proc = run_modelbake(["--json"] + list(args), env, cwd, timeout)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        doc = None
    return proc, doc


def describe(proc):
    return "exit %s\n--- stdout\n%s\n--- stderr\n%s" % (proc.returncode, proc.stdout, proc.stderr)


# ---- manifests ----------------------------------------------------------------------------

def manifest_text(models, endpoint=None, version=1):
    """YAML for modelbake.yaml. Every value is written in JSON syntax (valid YAML flow)."""
    lines = ["version: %d" % version]
    if endpoint:
        lines.append("endpoint: %s" % json.dumps(endpoint))
    lines.append("models:")
    for m in models:
        first = True
        for key, value in m.items():
            lines.append("%s%s: %s" % ("  - " if first else "    ", key, json.dumps(value)))
            first = False
    return "\n".join(lines) + "\n"


def write_manifest(path, models, endpoint=None, version=1):
    """Writes modelbake.yaml; `models` is a list of dicts (repo, revision, type, include,
    exclude, as, ...) or a raw YAML string. Returns the path."""
    text = models if isinstance(models, str) else manifest_text(models, endpoint, version)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


# ---- the test hub -------------------------------------------------------------------------

class TestHub:
    """tests/hub/testhub.py in a subprocess. Use as a context manager or start()/stop()."""

    __test__ = False  # not a unittest class

    def __init__(self, repos=(), tokens=(), data_dir=None, page_size=None, faults=None,
                 cdn_host=None, cdn_ttl=None, xet=False):
        self.repos = list(repos)
        self.tokens = list(tokens)
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="mbtest-hub-")
        self.page_size, self.faults, self.cdn_host, self.cdn_ttl = page_size, faults, cdn_host, cdn_ttl
        self.xet = xet
        self.proc = None
        self.port = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=30):
        if self.repos or not os.path.exists(os.path.join(self.data_dir, "repos.json")):
            write_hub_data(self.data_dir, self.repos, self.tokens)
        cmd = [PYTHON, "-B", testhub_script(), "--data", self.data_dir, "--exit-with-stdin"]
        if self.page_size:
            cmd += ["--page-size", str(self.page_size)]
        if self.cdn_host:
            cmd += ["--cdn-host", self.cdn_host]
        if self.cdn_ttl is not None:
            cmd += ["--cdn-ttl", str(self.cdn_ttl)]
        if self.xet:
            cmd += ["--xet"]
        if self.faults:
            path = os.path.join(self.data_dir, "faults.json")
            with open(path, "w") as f:
                json.dump({"faults": self.faults}, f)
            cmd += ["--faults", path]
        self._stderr = open(os.path.join(self.data_dir, "testhub.stderr"), "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            why = self._stderr_text()
            self.stop()
            raise RuntimeError("test hub did not start: " + why)
        self.port = json.loads(line)["port"]
        return self

    def _stderr_text(self):
        try:
            with open(os.path.join(self.data_dir, "testhub.stderr"), "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdin.close()
            self.proc.stdout.close()
            self._stderr.close()
            self.proc = None
            noise = self._stderr_text()
            if noise:  # a hub traceback explains many a confusing client failure
                sys.stderr.write("--- testhub stderr\n%s\n" % noise)
        if self._own_dir:
            _force_rmtree(self.data_dir)
            self._own_dir = False

    def env(self, token=None):
        """Environment for a tool run against this hub."""
        out = {"HF_ENDPOINT": self.url}
        if token is not None:
            out["HF_TOKEN"] = token
        return out

    def admin(self, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + "/_admin/" + path, data=data,
                                     method="GET" if data is None else "POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError("test hub admin %s failed: %s" % (path, e.read().decode()))

    def update(self, repos=None, tokens=None):
        """Rewrites the data directory (e.g. after moving a branch) and reloads it."""
        if repos is not None:
            self.repos = list(repos)
        if tokens is not None:
            self.tokens = list(tokens)
        write_hub_data(self.data_dir, self.repos, self.tokens)
        return self.admin("reload", {})

    def set_faults(self, faults, append=False):
        return self.admin("faults", {"faults": list(faults), "append": append})["faults"]

    def clear_faults(self):
        return self.set_faults([])

    def faults_state(self):
        return self.admin("faults")["faults"]

    def set_config(self, **config):
        return self.admin("config", config)

    def requests(self, path=None, method=None, host=None, settled=False):
        """The request log, optionally filtered: `path` and `host` are regexes searched in
        the target / Host header, `method` an exact method. settled=True first waits (up to
        10 s) until the hub has finished answering every logged request, so counts such as
        body_bytes are final even when the client finished reading before the hub's thread
        recorded them."""
        out = self.admin("requests")["requests"]
        deadline = time.monotonic() + 10
        while settled and not all(r.get("done") for r in out) and time.monotonic() < deadline:
            time.sleep(0.02)
            out = self.admin("requests")["requests"]
        if path is not None:
            out = [r for r in out if re.search(path, r["path"])]
        if method is not None:
            out = [r for r in out if r["method"] == method]
        if host is not None:
            out = [r for r in out if re.search(host, r["host"] or "")]
        return out

    def cdn_requests(self, settled=False):
        return self.requests(path="^/cdn/", settled=settled)

    def reset(self, faults=False):
        """Clears the request log (and the faults when faults=True)."""
        return self.admin("reset", {"faults": faults})

    def resolve_url(self, repo_id, path, revision="main", repo_type="model"):
        from urllib.parse import quote
        prefix = "/datasets" if repo_type == "dataset" else ""
        return "%s%s/%s/resolve/%s/%s" % (self.url, prefix, repo_id, quote(revision, safe=""),
                                          quote(path))


# ---- unittest base ------------------------------------------------------------------------

class MbTestCase(unittest.TestCase):
    """Gives each test self.tmp (a TempDir) and start_hub()."""

    def setUp(self):
        super().setUp()
        self.tmp = TempDir()
        self.addCleanup(self.tmp.cleanup)

    def make_project(self, models):
        """A cache holding `models` (mbcache.make_cache specs) and a project folder with their
        lock. Sets self.project, self.cache, self.lock (the lock document) and self.manifest
        (the manifest's path; the file is the test's to write when it needs one)."""
        self.project = self.tmp.join("project")
        os.makedirs(self.project)
        self.cache = self.tmp.join("cache")
        self.lock = make_cache(self.cache, models, lock_path=os.path.join(self.project, "modelbake.lock"))
        self.manifest = os.path.join(self.project, "modelbake.yaml")

    def start_hub(self, *repos, **kwargs):
        hub = TestHub(repos, **kwargs).start()
        self.addCleanup(hub.stop)
        return hub

    def assertExit(self, proc, code):
        self.assertEqual(proc.returncode, code, describe(proc))

    def wait_until(self, predicate, timeout=30, interval=0.05):
        """Polls `predicate` (for events, not for timing assertions)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        self.fail("condition not reached within %ss" % timeout)


def is_readonly(path):
    return not (os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


__all__ = [
    "MbTestCase", "TempDir", "TestHub", "RepoBuilder", "make_cache", "write_manifest",
    "manifest_text", "run_modelbake", "run_verify", "run_json", "run_binary", "tool_env",
    "describe", "modelbake_bin", "verify_bin", "source_dir", "build_dir", "git_blob_sha1",
    "sha256_hex", "sha256_file", "pseudo_random_bytes", "write_hub_data", "repo_folder_name",
    "repo_dir", "snapshot_path", "snapshot_link_target", "is_readonly", "describe_tree",
    "lock_document", "serialize_lock",
]
