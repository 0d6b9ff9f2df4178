"""The test hub's data directory: repos, revisions, files (see tests/hub/README.md).

<root>/repos.json describes every repo; file contents live in <root>/blobs/<sha256>.
Everything a client sees (etags, sizes, listings) is derived from the real content unless a
file carries an "advertise" block, which lets hostile-server tests lie about sizes/digests.
"""

import hashlib
import json
import os
import re

HEX40 = re.compile(r"^[0-9a-f]{40}$")
REPO_TYPES = ("model", "dataset")


def git_blob_sha1(data):
    h = hashlib.sha1()
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(sha256, size):
    return ("version https://git-lfs.github.com/spec/v1\n"
            "oid sha256:%s\nsize %d\n" % (sha256, size)).encode()


def _hash_blob(path):
    """(size, sha256, git sha1) of a file, streamed."""
    size = os.path.getsize(path)
    s256, s1 = hashlib.sha256(), hashlib.sha1()
    s1.update(b"blob %d\0" % size)
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            s256.update(chunk)
            s1.update(chunk)
    return size, s256.hexdigest(), s1.hexdigest()


class HubFile:
    """One file of one commit. `blob` names the real content (its sha256)."""

    def __init__(self, spec, blob_dir):
        self.path = spec["path"]
        self.blob = spec["blob"]
        self.lfs = bool(spec.get("lfs", False))
        self.advertise = dict(spec.get("advertise") or {})
        self.blob_path = os.path.join(blob_dir, self.blob)
        if "size" in spec and "git_sha1" in spec:
            self.size, self.git_sha1 = int(spec["size"]), spec["git_sha1"]
        else:
            self.size, _, self.git_sha1 = _hash_blob(self.blob_path)
        self.pointer = lfs_pointer(self.blob, self.size)

    # What the hub claims (possibly lies, for hostile tests).
    @property
    def listed_size(self):
        return int(self.advertise.get("size", self.size))

    @property
    def listed_sha256(self):
        return self.advertise.get("sha256", self.blob)

    @property
    def oid(self):
        """Top-level tree oid / blobId: git sha1 of the content, or of the LFS pointer."""
        if "etag" in self.advertise and not self.lfs:
            return self.advertise["etag"]
        return git_blob_sha1(self.pointer) if self.lfs else self.git_sha1

    @property
    def etag(self):
        """The /resolve etag: X-Linked-Etag (sha256) for LFS, ETag (git sha1) otherwise."""
        if self.lfs:
            return self.advertise.get("etag", self.listed_sha256)
        return self.oid

    @property
    def linked_size(self):
        return int(self.advertise.get("linked_size", self.listed_size))

    def lfs_info(self, sha_key):
        return {sha_key: self.listed_sha256, "size": self.listed_size,
                "pointerSize": len(self.pointer)}


class HubRepo:
    def __init__(self, spec, blob_dir):
        self.id = spec["id"]
        self.type = spec.get("type", "model")
        if self.type not in REPO_TYPES:
            raise ValueError("repo %s: unknown type %r" % (self.id, self.type))
        gated = spec.get("gated", False)  # true (= "auto"), "auto" or "manual"
        self.gated = gated if gated in ("auto", "manual") else ("auto" if gated else False)
        self.private = bool(spec.get("private", False))
        self.tokens = list(spec.get("tokens", []))
        self.renamed_from = list(spec.get("renamed_from", []))
        self.refs = dict(spec.get("refs", {}))
        self.tags = set(spec.get("tags", []))
        self.commits = {}
        for sha, files in spec.get("commits", {}).items():
            if not HEX40.match(sha):
                raise ValueError("repo %s: commit %r is not 40 hex" % (self.id, sha))
            self.commits[sha] = {f["path"]: HubFile(f, blob_dir) for f in files}
        for name, sha in self.refs.items():
            if sha not in self.commits:
                raise ValueError("repo %s: ref %s -> unknown commit %s" % (self.id, name, sha))

    def resolve(self, revision):
        """Commit sha for a branch, tag, refs/pr/N or full commit; None if unknown."""
        if revision in self.refs:
            return self.refs[revision]
        if HEX40.match(revision) and revision in self.commits:
            return revision
        return None

    def files(self, commit):
        """Files of a commit sorted by path."""
        return [self.commits[commit][p] for p in sorted(self.commits[commit])]


def _clean_parts(path):
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return None
    return parts


def tree_entries(repo, commit, base="", recursive=False):
    """Tree API entries under `base` (directories derived from clean file paths).

    Returns None when `base` is neither "" nor a directory of the commit. Hostile paths
    (absolute, "..", empty components) are listed verbatim as files at the root level.
    """
    files = repo.files(commit)
    dirs = set()
    for f in files:
        parts = _clean_parts(f.path)
        if parts:
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
    if base and base not in dirs:
        return None
    prefix = base + "/" if base else ""

    def wanted(path):
        if not path.startswith(prefix):
            return False
        rest = path[len(prefix):]
        return recursive or "/" not in rest or _clean_parts(path) is None

    entries = []
    for d in sorted(dirs):
        if wanted(d):
            entries.append((d, {"type": "directory",
                                "oid": hashlib.sha1(("tree " + d).encode()).hexdigest(),
                                "size": 0, "path": d}))
    for f in files:
        if wanted(f.path):
            e = {"type": "file", "oid": f.oid, "size": f.listed_size, "path": f.path}
            if f.lfs:
                e["lfs"] = f.lfs_info("oid")
            entries.append((f.path, e))
    entries.sort(key=lambda pe: pe[0])
    return [e for _, e in entries]


def siblings(repo, commit, blobs):
    out = []
    for f in repo.files(commit):
        s = {"rfilename": f.path}
        if blobs:
            s["size"] = f.listed_size
            s["blobId"] = f.oid
            if f.lfs:
                s["lfs"] = f.lfs_info("sha256")
        out.append(s)
    return out


class HubData:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.blob_dir = os.path.join(self.root, "blobs")
        with open(os.path.join(self.root, "repos.json"), encoding="utf-8") as f:
            spec = json.load(f)
        self.tokens = list(spec.get("tokens", []))
        self.repos = {}
        self.renames = {}
        for r in spec.get("repos", []):
            repo = HubRepo(r, self.blob_dir)
            self.repos[(repo.type, repo.id)] = repo
            for old in repo.renamed_from:
                self.renames[(repo.type, old)] = repo.id

    def find(self, repo_type, repo_id):
        return self.repos.get((repo_type, repo_id))

    def known_id(self, repo_type, repo_id):
        key = (repo_type, repo_id)
        return key in self.repos or key in self.renames

    def token_ok(self, repo, token):
        return token is not None and (token in self.tokens or token in repo.tokens)
