"""modelbake export / import: every layout x format round-trips through import into an empty
cache; exports are byte-for-byte reproducible; a bundle corrupted after export is refused;
export refuses a cache whose content does not match the lock."""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import unittest

from mbtest import (MbTestCase, describe_tree, make_cache, modelbake_bin, pseudo_random_bytes,
                    repo_folder_name, run_json, run_modelbake, snapshot_path, tool_env)

FORMATS = ("dir", "tar", "tar.zst", "oci")
LAYOUTS = ("hub", "flat")

MODELS = [
    {"repo": "org/tiny-bert", "name": "bert", "revision": "main",
     "files": {"config.json": b'{"hidden_size": 8}\n',
               "model.safetensors": (pseudo_random_bytes(300_000, seed=1), True),
               "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\n",
               # same bytes as config.json under another name: written once (hardlink)
               "config_copy.json": b'{"hidden_size": 8}\n'}},
    {"repo": "org/tiny-gguf", "name": "llm", "revision": "v1.0",
     "files": {"model-q4.gguf": (pseudo_random_bytes(200_000, seed=2), True),
               "README.md": b"# tiny\n"}},
]


def sha256_path(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_digest(path):
    """Digest of a whole output (file or directory tree), for determinism checks."""
    if os.path.isfile(path):
        return sha256_path(path)
    return hashlib.sha256(json.dumps(sorted(describe_tree(path).items())).encode()).hexdigest()


class BundleCase(MbTestCase):
    def setUp(self):
        super().setUp()
        self.make_project(MODELS)

    def export(self, out, *args, cache=None, env=None):
        return run_modelbake(["export", "-f", self.manifest, "--cache", cache or self.cache, "-o", out] + list(args),
                             env=env)

    def import_(self, bundle, cache):
        return run_modelbake(["import", bundle, "--cache", cache])

    def assert_cache_matches_lock(self, cache):
        """The imported cache resolves every locked file the way huggingface_hub does."""
        for m in self.lock["models"]:
            folder = os.path.join(cache, repo_folder_name(m["type"], m["repo"]))
            if m["revision"] != m["commit"]:
                with open(os.path.join(folder, "refs", m["revision"])) as f:
                    self.assertEqual(f.read(), m["commit"])
            for f in m["files"]:
                p = snapshot_path(cache, m["repo"], m["commit"], f["path"])
                self.assertTrue(os.path.islink(p), p)
                self.assertEqual(os.path.getsize(p), f["size"])
                self.assertEqual(sha256_path(p), f["sha256"])
                obj = os.path.join(cache, ".locks", "modelbake", "objects", "sha256", f["sha256"][:2], f["sha256"][2:])
                self.assertEqual(os.stat(obj).st_ino, os.stat(os.path.realpath(p)).st_ino)
        leftovers = os.listdir(os.path.join(cache, ".locks", "modelbake", "tmp"))
        self.assertEqual(leftovers, [], "import left temp files behind")


class TestRoundTrip(BundleCase):
    def test_every_layout_and_format_round_trips(self):
        for layout in LAYOUTS:
            for fmt in FORMATS:
                with self.subTest(layout=layout, format=fmt):
                    out = self.tmp.join("out-%s-%s" % (layout, fmt))
                    proc = self.export(out, "--format", fmt, "--layout", layout)
                    self.assertExit(proc, 0)
                    target = self.tmp.join("imported-%s-%s" % (layout, fmt))
                    proc = self.import_(out, target)
                    self.assertExit(proc, 0)
                    self.assert_cache_matches_lock(target)
                    verify = run_modelbake(["verify", "-f", self.manifest, "--cache", target])
                    if "not implemented" not in verify.stderr:
                        self.assertExit(verify, 0)

    def test_dir_hub_layout_is_a_hub_cache_with_only_locked_content(self):
        out = self.tmp.join("bundle")
        self.assertExit(self.export(out, "--format", "dir"), 0)
        tree = describe_tree(out)
        with open(os.path.join(self.project, "modelbake.lock"), "rb") as f:
            lock_bytes = f.read()
        self.assertEqual(tree["modelbake.lock"][2], hashlib.sha256(lock_bytes).hexdigest())
        bert = self.lock["models"][0]
        link = "models--org--tiny-bert/snapshots/%s/tokenizer/vocab.txt" % bert["commit"]
        vocab = next(f for f in bert["files"] if f["path"] == "tokenizer/vocab.txt")
        self.assertEqual(tree[link], ("link", "../../../blobs/" + vocab["etag"]))
        self.assertEqual(tree["models--org--tiny-bert/refs/main"][1], 40)
        self.assertFalse(any(p.startswith(".locks") for p in tree))
        blobs = [p for p in tree if "/blobs/" in p]
        self.assertEqual(len(blobs), 5)  # config.json and config_copy.json share one etag

    def test_flat_layout_uses_lock_names_and_real_files(self):
        out = self.tmp.join("flat")
        self.assertExit(self.export(out, "--format", "dir", "--layout", "flat"), 0)
        tree = describe_tree(out)
        self.assertEqual(tree["bert/tokenizer/vocab.txt"][0], "file")
        self.assertEqual(tree["llm/model-q4.gguf"][1], 200_000)
        self.assertFalse(any(v[0] == "link" for v in tree.values()))
        # identical content is stored once (hard link) in a directory bundle too
        self.assertEqual(os.stat(os.path.join(out, "bert/config.json")).st_ino,
                         os.stat(os.path.join(out, "bert/config_copy.json")).st_ino)

    def test_tar_entries_are_normalised(self):
        out = self.tmp.join("b.tar")
        self.assertExit(self.export(out, "--format", "tar", "--prefix", "/models", "--layout", "flat"), 0)
        with tarfile.open(out) as tf:
            members = tf.getmembers()
        names = [m.name for m in members]
        # the lock first (after its folder), so import knows it before any content; then sorted
        self.assertEqual(names[:2], ["models", "models/modelbake.lock"])
        self.assertEqual(names[2:], sorted(names[2:], key=lambda n: n.encode()))
        for m in members:
            self.assertEqual((m.uid, m.gid, m.uname, m.gname, m.mtime), (0, 0, "", "", 0), m.name)
            self.assertEqual(m.pax_headers, {}, m.name)
            if m.isdir():
                self.assertEqual(m.mode, 0o755)
            elif m.isfile() or m.islnk():
                self.assertEqual(m.mode, 0o644)
        links = [m for m in members if m.islnk()]
        self.assertEqual(len(links), 1, "duplicate content is written once")
        self.assertEqual(links[0].linkname, "models/bert/config.json")
        self.assertEqual(links[0].name, "models/bert/config_copy.json")
        self.assertEqual(os.path.getsize(out) % 512, 0)
        hub = self.tmp.join("hub.tar")
        self.assertExit(self.export(hub, "--format", "tar"), 0)
        with tarfile.open(hub) as tf:
            syms = [m for m in tf.getmembers() if m.issym()]
        self.assertEqual(len(syms), 6)
        self.assertTrue(all(m.linkname.startswith("../../") and m.mode == 0o777 for m in syms))

    def test_source_date_epoch_sets_mtime(self):
        out = self.tmp.join("b.tar")
        self.assertExit(self.export(out, "--format", "tar", env={"SOURCE_DATE_EPOCH": "1700000000"}), 0)
        with tarfile.open(out) as tf:
            self.assertEqual({m.mtime for m in tf.getmembers()}, {1700000000})
        bad = self.export(self.tmp.join("c.tar"), "--format", "tar", env={"SOURCE_DATE_EPOCH": "yesterday"})
        self.assertExit(bad, 2)

    def test_tar_zst_is_zstd(self):
        out = self.tmp.join("b.tar.zst")
        self.assertExit(self.export(out, "--format", "tar.zst"), 0)
        with open(out, "rb") as f:
            self.assertEqual(f.read(4), b"\x28\xb5\x2f\xfd")
        listing = subprocess.run(["tar", "--zstd", "-tf", out], capture_output=True, text=True)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn("modelbake.lock", listing.stdout.split())

    def test_existing_output_needs_force(self):
        out = self.tmp.join("b.tar")
        self.assertExit(self.export(out, "--format", "tar"), 0)
        self.assertExit(self.export(out, "--format", "tar"), 2)
        self.assertExit(self.export(out, "--format", "tar", "--force"), 0)

    def test_usage_errors(self):
        self.assertExit(self.export(self.tmp.join("x"), "--format", "zip"), 2)
        self.assertExit(self.export(self.tmp.join("x"), "--layout", "tree"), 2)
        self.assertExit(self.export(self.tmp.join("x"), "--format", "tar", "--tag", "a:b"), 2)
        self.assertExit(self.export(self.tmp.join("x"), "--format", "oci", "--tag", "Bad Name"), 2)
        self.assertExit(self.export(self.tmp.join("x"), "--format", "tar", "--prefix", "a/../b"), 2)
        self.assertFalse(os.path.exists(self.tmp.join("x")))

    def test_json_output(self):
        proc, doc = run_json(["export", "-f", self.manifest, "--cache", self.cache, "-o", self.tmp.join("o"),
                              "--format", "oci", "--tag", "models:v1"])
        self.assertExit(proc, 0)
        self.assertEqual(doc["format"], "oci")
        self.assertEqual([l["model"] for l in doc["layers"]], ["bert", "llm", "modelbake.lock"])
        self.assertEqual(doc["files"], 6)


class TestDeterminism(BundleCase):
    def test_two_caches_with_different_mtimes_and_modes_give_identical_bundles(self):
        other = self.tmp.join("cache2")
        shutil.copytree(self.cache, other, symlinks=True)
        for root, dirs, files in os.walk(other):
            for name in dirs + files:
                p = os.path.join(root, name)
                if not os.path.islink(p):
                    os.utime(p, (1234567, 7654321))
                    if os.getuid() == 0:
                        os.chown(p, 4242, 4343)
        for layout in LAYOUTS:
            for fmt in FORMATS:
                with self.subTest(layout=layout, format=fmt):
                    a = self.tmp.join("a-%s-%s" % (layout, fmt))
                    b = self.tmp.join("b-%s-%s" % (layout, fmt))
                    self.assertExit(self.export(a, "--format", fmt, "--layout", layout), 0)
                    self.assertExit(self.export(b, "--format", fmt, "--layout", layout, "--no-layer-cache",
                                                cache=other), 0)
                    self.assertEqual(tree_digest(a), tree_digest(b))

    def test_no_sync_writes_the_same_bytes_without_flushing_them(self):
        # strace shows which fsync calls hit the output: the default flushes the bundle's data
        # before publishing it, --no-sync leaves that to the kernel. The bytes are the same.
        for fmt in ("tar", "oci", "dir"):
            with self.subTest(format=fmt):
                synced, unsynced = self.tmp.join("synced-" + fmt), self.tmp.join("unsynced-" + fmt)
                calls = {}
                for out, extra in ((synced, []), (unsynced, ["--no-sync"])):
                    trace = out + ".strace"
                    p = subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync", "-o", trace,
                                        modelbake_bin(), "-q", "export", "-f", self.manifest, "--cache", self.cache,
                                        "-o", out, "--format", fmt] + extra,
                                       env=tool_env(), capture_output=True, text=True)
                    self.assertEqual(p.returncode, 0, p.stderr)
                    with open(trace) as f:
                        calls[out] = sum(1 for line in f if "fsync(" in line)
                self.assertEqual(tree_digest(synced), tree_digest(unsynced))
                self.assertGreater(calls[synced], calls[unsynced])
                if fmt == "tar":
                    self.assertEqual(calls[unsynced], 0)

    def test_changing_one_model_keeps_other_layer_digests(self):
        a = self.tmp.join("a")
        proc, first = run_json(["export", "-f", self.manifest, "--cache", self.cache, "-o", a, "--format", "oci"])
        self.assertExit(proc, 0)
        changed = [dict(MODELS[0]), MODELS[1]]
        changed[0]["files"] = dict(MODELS[0]["files"], **{"config.json": b'{"hidden_size": 16}\n'})
        cache2 = self.tmp.join("cache2")
        project2 = self.tmp.join("project2")
        os.makedirs(project2)
        make_cache(cache2, changed, lock_path=os.path.join(project2, "modelbake.lock"))
        proc, second = run_json(["export", "-f", os.path.join(project2, "modelbake.yaml"), "--cache", cache2,
                                 "-o", self.tmp.join("b"), "--format", "oci"])
        self.assertExit(proc, 0)
        d1 = {l["model"]: l["digest"] for l in first["layers"]}
        d2 = {l["model"]: l["digest"] for l in second["layers"]}
        self.assertEqual(d1["llm"], d2["llm"])
        self.assertNotEqual(d1["bert"], d2["bert"])
        self.assertNotEqual(d1["modelbake.lock"], d2["modelbake.lock"])


class TestCorruption(BundleCase):
    def corrupt_object(self, cache, sha):
        obj = os.path.join(cache, ".locks", "modelbake", "objects", "sha256", sha[:2], sha[2:])
        os.chmod(obj, 0o644)
        with open(obj, "r+b") as f:
            f.seek(1000)
            b = f.read(1)
            f.seek(1000)
            f.write(bytes([b[0] ^ 0xFF]))

    def test_export_refuses_corrupt_cache_and_leaves_no_output(self):
        weights = next(f for f in self.lock["models"][0]["files"] if f["path"] == "model.safetensors")
        self.corrupt_object(self.cache, weights["sha256"])
        for fmt in FORMATS:
            with self.subTest(format=fmt):
                out = self.tmp.join("out-" + fmt)
                proc = self.export(out, "--format", fmt)
                self.assertExit(proc, 1)
                self.assertIn("model.safetensors", proc.stderr)
                self.assertFalse(os.path.exists(out))
                self.assertEqual([n for n in os.listdir(self.tmp.path) if n.startswith(".out-")], [])

    def test_oci_warm_layer_cache_still_catches_corruption(self):
        self.assertExit(self.export(self.tmp.join("warm"), "--format", "oci"), 0)
        weights = next(f for f in self.lock["models"][0]["files"] if f["path"] == "model.safetensors")
        self.corrupt_object(self.cache, weights["sha256"])
        proc = self.export(self.tmp.join("again"), "--format", "oci")
        self.assertExit(proc, 1)
        self.assertFalse(os.path.exists(self.tmp.join("again")))

    def test_export_refuses_missing_file(self):
        f = self.lock["models"][1]["files"][0]
        os.unlink(os.path.join(self.cache, ".locks", "modelbake", "objects", "sha256", f["sha256"][:2], f["sha256"][2:]))
        proc = self.export(self.tmp.join("o"), "--format", "tar")
        self.assertExit(proc, 1)
        self.assertIn("fetch --locked", proc.stderr)

    def test_bundle_corrupted_after_export_is_refused_and_nothing_is_visible(self):
        for fmt in ("dir", "tar", "oci"):
            with self.subTest(format=fmt):
                out = self.tmp.join("c-" + fmt)
                self.assertExit(self.export(out, "--format", fmt, "--layout", "flat"), 0)
                target = self.tmp.join("target-" + fmt)
                if fmt == "dir":
                    victim = os.path.join(out, "bert", "model.safetensors")
                    offset = 5000
                elif fmt == "tar":
                    victim, offset = out, os.path.getsize(out) // 2
                else:
                    blobs = os.path.join(out, "blobs", "sha256")
                    victim = max((os.path.join(blobs, n) for n in os.listdir(blobs)), key=os.path.getsize)
                    offset = os.path.getsize(victim) // 2
                with open(victim, "r+b") as f:
                    f.seek(offset)
                    b = f.read(1)
                    f.seek(offset)
                    f.write(bytes([b[0] ^ 0x55]))
                proc = self.import_(out, target)
                self.assertExit(proc, 1)
                visible = [p for p in describe_tree(target) if not p.startswith(".locks")
                           and p != "CACHEDIR.TAG"]
                self.assertEqual(visible, [])
                self.assertEqual(os.listdir(os.path.join(target, ".locks", "modelbake", "tmp")), [])
                objects = os.path.join(target, ".locks", "modelbake", "objects", "sha256")
                self.assertEqual(os.listdir(objects), [])


if __name__ == "__main__":
    unittest.main()
