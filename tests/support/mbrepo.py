"""Deterministic tiny hub repos for tests, written in the test hub's data format
(tests/hub/README.md): <root>/repos.json + <root>/blobs/<sha256>."""

import hashlib
import json
import os
import shutil


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def git_blob_sha1(data):
    """The etag the hub gives a regular (non-LFS) file: sha1("blob <len>\\0" + content)."""
    h = hashlib.sha1()
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def sha256_file(path):
    """(size, sha256, git blob sha1) of a file, streamed."""
    size = os.path.getsize(path)
    s256, s1 = hashlib.sha256(), hashlib.sha1()
    s1.update(b"blob %d\0" % size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            s256.update(chunk)
            s1.update(chunk)
    return size, s256.hexdigest(), s1.hexdigest()


def pseudo_random_bytes(n, seed=0):
    """n deterministic, incompressible-looking bytes (sha256 counter stream)."""
    out = bytearray()
    block = 0
    key = str(seed).encode()
    while len(out) < n:
        out += hashlib.sha256(key + block.to_bytes(8, "little")).digest()
        block += 1
    return bytes(out[:n])


class _Content:
    def __init__(self, data=None, source=None):
        if (data is None) == (source is None):
            raise ValueError("give exactly one of data or source")
        self.data = data
        self.source = os.path.abspath(source) if source else None
        if data is not None:
            self.size, self.sha256, self.git_sha1 = len(data), sha256_hex(data), git_blob_sha1(data)
        else:
            self.size, self.sha256, self.git_sha1 = sha256_file(source)

    def read(self):
        if self.data is not None:
            return self.data
        with open(self.source, "rb") as f:
            return f.read()


class RepoFile:
    def __init__(self, path, content, lfs, advertise):
        self.path, self.content, self.lfs = path, content, lfs
        self.advertise = dict(advertise or {})

    @property
    def size(self):
        return self.content.size

    @property
    def sha256(self):
        return self.content.sha256

    @property
    def etag(self):
        """The real etag (ignores `advertise` lies): sha256 for LFS, git sha1 otherwise."""
        return self.content.sha256 if self.lfs else self.content.git_sha1

    @property
    def data(self):
        return self.content.read()

    def spec(self):
        out = {"path": self.path, "blob": self.sha256, "size": self.size,
               "git_sha1": self.content.git_sha1, "lfs": self.lfs}
        if self.advertise:
            out["advertise"] = self.advertise
        return out


class RepoBuilder:
    """A hub repo built in memory.

        r = RepoBuilder("org/tiny").add_file("config.json", b"{}")
        r.add_file("model.safetensors", weights, lfs=True)
        c1 = r.commit("first")          # moves main; returns the 40-hex commit
        r.tag("v1.0")                   # tags the current head of main
        r.add_file("README.md", b"hi"); c2 = r.commit("second", branch="dev")

    Files added after the last commit are committed to main automatically when the hub data
    is written (or head/files_at are used). `advertise` lets a hostile test lie about a
    file: {"size": N, "sha256": hex, "etag": hex, "linked_size": N}.
    """

    def __init__(self, repo_id, type="model", gated=False, private=False, tokens=(),
                 renamed_from=()):
        if type not in ("model", "dataset"):
            raise ValueError("repo type must be model or dataset")
        self.id, self.type = repo_id, type
        self.gated, self.private = gated, private
        self.tokens, self.renamed_from = list(tokens), list(renamed_from)
        self.working = {}
        self.commits = {}  # sha -> {path: RepoFile}
        self.order = []    # commit shas in creation order
        self.refs = {}
        self.tags = set()
        self._dirty = False

    @property
    def name(self):
        return self.id.split("/")[-1]

    def add_file(self, path, data=None, lfs=False, source=None, advertise=None):
        if isinstance(data, str):
            data = data.encode()
        self.working[path] = RepoFile(path, _Content(data, source), lfs, advertise)
        self._dirty = True
        return self

    def remove_file(self, path):
        del self.working[path]
        self._dirty = True
        return self

    def commit(self, message="", branch="main"):
        parent = self.refs.get(branch, "")
        h = hashlib.sha1()
        h.update(json.dumps([self.id, self.type, parent, message, len(self.order)]).encode())
        for p in sorted(self.working):
            f = self.working[p]
            h.update(json.dumps([p, f.sha256, f.lfs, f.advertise], sort_keys=True).encode())
        sha = h.hexdigest()
        self.commits[sha] = dict(self.working)
        self.order.append(sha)
        self.refs[branch] = sha
        self._dirty = False
        return sha

    def _ensure_committed(self):
        if self._dirty or not self.commits:
            self.commit("auto")

    def branch(self, name, commit=None):
        self._ensure_committed()
        self.refs[name] = commit or self.refs["main"]
        return self

    def tag(self, name, commit=None):
        self.branch(name, commit)
        self.tags.add(name)
        return self

    def pr(self, number, commit=None):
        return self.branch("refs/pr/%d" % number, commit)

    @property
    def head(self):
        self._ensure_committed()
        return self.refs["main"]

    def resolve(self, revision="main"):
        self._ensure_committed()
        return self.refs.get(revision, revision if revision in self.commits else None)

    def files_at(self, revision="main"):
        """{path: RepoFile} of a revision (branch, tag or commit)."""
        commit = self.resolve(revision)
        if commit is None:
            raise KeyError("unknown revision %s of %s" % (revision, self.id))
        return dict(self.commits[commit])

    def spec(self):
        self._ensure_committed()
        return {"id": self.id, "type": self.type, "gated": self.gated, "private": self.private,
                "tokens": self.tokens, "renamed_from": self.renamed_from,
                "refs": dict(self.refs), "tags": sorted(self.tags),
                "commits": {sha: [self.commits[sha][p].spec() for p in sorted(self.commits[sha])]
                            for sha in self.order}}

    def contents(self):
        self._ensure_committed()
        seen = {}
        for files in self.commits.values():
            for f in files.values():
                seen[f.sha256] = f.content
        return seen


def _place_blob(content, dest):
    if os.path.exists(dest):
        return
    tmp = dest + ".tmp"
    if content.source:
        try:
            os.link(content.source, tmp)
        except OSError:
            shutil.copyfile(content.source, tmp)
    else:
        with open(tmp, "wb") as f:
            f.write(content.data)
    os.replace(tmp, dest)


def write_hub_data(root, repos, tokens=()):
    """Writes repos.json and blobs/ for the test hub. `repos` are RepoBuilders."""
    blob_dir = os.path.join(root, "blobs")
    os.makedirs(blob_dir, exist_ok=True)
    for r in repos:
        for sha, content in r.contents().items():
            _place_blob(content, os.path.join(blob_dir, sha))
    doc = {"tokens": list(tokens), "repos": [r.spec() for r in repos]}
    tmp = os.path.join(root, "repos.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, os.path.join(root, "repos.json"))
    return root
