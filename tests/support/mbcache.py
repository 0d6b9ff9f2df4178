"""Writes a modelbake cache and modelbake.lock directly, without the tool, so verify/export
tests do not depend on fetch. Mirrors src/store/layout.cpp, src/store/store.cpp and
src/lock/lockfile.cpp exactly:

  <cache>/CACHEDIR.TAG
  <cache>/.locks/modelbake/{objects/sha256,tmp,locks}/
  <cache>/.locks/modelbake/objects/sha256/<2 hex>/<62 hex>     read-only (0444)
  <cache>/<models|datasets>--org--name/blobs/<etag>            hard link to the object
  <cache>/<...>/snapshots/<commit>/<path> -> ../../blobs/<etag>  (one ../ per directory level)
  <cache>/<...>/refs/<revision>                                40-hex commit, no newline
  <cache>/.locks/modelbake/meta/<repo-folder>/<commit>.json    fetched_at / last_used
"""

import hashlib
import json
import os
import time

CACHEDIR_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                "# This file is a cache directory tag created by modelbake.\n"
                "# For information about cache directory tags, see https://bford.info/cachedir/\n")


def repo_folder_name(repo_type, repo_id):
    return ("datasets" if repo_type == "dataset" else "models") + "--" + repo_id.replace("/", "--")


def snapshot_link_target(path, etag):
    return "../../" + "../" * path.count("/") + "blobs/" + etag


def repo_dir(cache_dir, repo_id, repo_type="model"):
    return os.path.join(cache_dir, repo_folder_name(repo_type, repo_id))


def snapshot_path(cache_dir, repo_id, commit, path, repo_type="model"):
    return os.path.join(repo_dir(cache_dir, repo_id, repo_type), "snapshots", commit, path)


def _git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".mbtest-tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _normalise_files(files):
    """{path: bytes | (bytes, lfs) | {"data": bytes, "lfs": bool}} -> [(path, bytes, lfs)]"""
    out = []
    for path, v in files.items():
        if isinstance(v, dict):
            data, lfs = v["data"], bool(v.get("lfs", False))
        elif isinstance(v, tuple):
            data, lfs = v
        else:
            data, lfs = v, False
        if isinstance(data, str):
            data = data.encode()
        out.append((path, data, lfs))
    return out


def _from_builder(m):
    b = m["builder"]
    revision = m.get("revision", "main")
    commit = b.resolve(revision)
    files = b.files_at(revision)
    if "paths" in m:
        files = {p: files[p] for p in m["paths"]}
    out = dict(m)
    out.pop("builder")
    out.setdefault("repo", b.id)
    out.setdefault("type", b.type)
    out.setdefault("revision", revision)
    out.setdefault("commit", commit)
    out["files"] = {p: (f.data, f.lfs) for p, f in files.items()}
    return out


def _model_spec(m):
    if hasattr(m, "files_at"):  # a RepoBuilder
        m = {"builder": m}
    if "builder" in m:
        m = _from_builder(m)
    repo = m["repo"]
    revision = m.get("revision", "main")
    files = _normalise_files(m["files"])
    commit = m.get("commit")
    if commit is None:
        h = hashlib.sha1(repo.encode() + b"\0" + revision.encode())
        for path, data, lfs in sorted(files):
            h.update(path.encode() + b"\0" + hashlib.sha256(data).digest() + bytes([lfs]))
        commit = h.hexdigest()
    return {"name": m.get("name", m.get("as", repo.split("/")[-1])), "repo": repo,
            "type": m.get("type", "model"), "revision": revision, "commit": commit,
            "include": list(m.get("include", [])), "exclude": list(m.get("exclude", [])),
            "expect": m.get("expect"), "files": files}


def lock_document(models):
    """The lock as src/lock/lockfile.cpp serialises it: models by name, files by path,
    fixed key order."""
    doc = {"version": 1, "models": []}
    for m in sorted(models, key=lambda m: m["name"]):
        jm = {"name": m["name"], "repo": m["repo"], "type": m["type"],
              "revision": m["revision"], "commit": m["commit"],
              "include": m["include"], "exclude": m["exclude"]}
        if m.get("expect") is not None:
            jm["expect"] = m["expect"]
        jm["files"] = [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest(),
                        "etag": hashlib.sha256(d).hexdigest() if lfs else _git_sha1(d)}
                       for p, d, lfs in sorted(m["files"], key=lambda t: t[0].encode())]
        doc["models"].append(jm)
    return doc


def serialize_lock(doc):
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _place_object(cache_dir, data):
    sha = hashlib.sha256(data).hexdigest()
    obj = os.path.join(cache_dir, ".locks", "modelbake", "objects", "sha256", sha[:2], sha[2:])
    if not os.path.isfile(obj):
        _write(obj, data)
        os.chmod(obj, 0o444)
    return obj


def _link_blob(obj, blob):
    os.makedirs(os.path.dirname(blob), exist_ok=True)
    if os.path.isfile(blob) and os.stat(blob).st_ino == os.stat(obj).st_ino:
        return
    tmp = blob + ".mbtest-tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.link(obj, tmp)
    os.replace(tmp, blob)


def _link_snapshot(link, target):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.islink(link) and os.readlink(link) == target:
        return
    tmp = link + ".mbtest-tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def make_cache(cache_dir, models, lock_path=None, now=None):
    """Populates `cache_dir` and returns the lock document (a dict).

    `models`: RepoBuilders and/or dicts with "repo", "files" ({path: bytes | (bytes, lfs) |
    {"data":..., "lfs":...}}) and optionally "name"/"as", "type", "revision", "commit"
    (default: derived from the content), "include", "exclude", "expect"; or {"builder": rb,
    "revision": ..., "paths": [...]} to take (some) files of a RepoBuilder revision.
    Writes the lock to `lock_path` when given.
    """
    specs = [_model_spec(m) for m in models]
    now = int(time.time()) if now is None else int(now)
    priv = os.path.join(cache_dir, ".locks", "modelbake")
    for d in ("objects/sha256", "tmp", "locks"):
        os.makedirs(os.path.join(priv, d), exist_ok=True)
    tag = os.path.join(cache_dir, "CACHEDIR.TAG")
    if not os.path.isfile(tag):
        _write(tag, CACHEDIR_TAG.encode())
    for m in specs:
        folder = repo_folder_name(m["type"], m["repo"])
        repo_dir = os.path.join(cache_dir, folder)
        for path, data, lfs in m["files"]:
            obj = _place_object(cache_dir, data)
            etag = hashlib.sha256(data).hexdigest() if lfs else _git_sha1(data)
            _link_blob(obj, os.path.join(repo_dir, "blobs", etag))
            _link_snapshot(os.path.join(repo_dir, "snapshots", m["commit"], path),
                           snapshot_link_target(path, etag))
        os.makedirs(os.path.join(repo_dir, "snapshots", m["commit"]), exist_ok=True)
        if m["revision"] != m["commit"]:
            _write(os.path.join(repo_dir, "refs", m["revision"]), m["commit"].encode())
        meta = {"commit": m["commit"], "fetched_at": now, "last_used": now,
                "repo": m["repo"], "type": m["type"]}
        _write(os.path.join(priv, "meta", folder, m["commit"] + ".json"),
               (json.dumps(meta, sort_keys=True, separators=(",", ":")) + "\n").encode())
    doc = lock_document(specs)
    if lock_path:
        _write(lock_path, serialize_lock(doc).encode())
    return doc


def describe_tree(root, skip=(".locks/modelbake/tmp", ".locks/modelbake/locks")):
    """{relative path: description} of everything under `root`, for byte-for-byte layout
    assertions: ("dir",), ("link", target), ("file", size, sha256, mode & 0o777).
    Paths under `skip` (relative prefixes) are left out."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if any(rel == s or rel.startswith(s + "/") for s in skip):
                continue
            st = os.lstat(full)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                out[rel] = ("dir",)
            else:
                h = hashlib.sha256()
                with open(full, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                out[rel] = ("file", st.st_size, h.hexdigest(), st.st_mode & 0o777)
    return out
