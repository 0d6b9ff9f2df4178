"""import is hostile-input safe: a tar-slip corpus built with Python's tarfile. Every hostile
bundle exits 1, writes nothing outside the target cache's temp area, and leaves the cache
without any visible model; the same bundle without the hostile entry imports fine (control)."""

import hashlib
import io
import json
import os
import resource
import subprocess
import tarfile
import unittest

from mbtest import MbTestCase, lock_document, modelbake_bin, run_modelbake, serialize_lock, tool_env

CONFIG = b'{"hidden_size": 8}\n'
WEIGHTS = bytes(range(256)) * 64


def lock_bytes():
    doc = lock_document([{
        "name": "bert", "repo": "org/bert", "type": "model", "revision": "main",
        "commit": "a" * 40, "include": [], "exclude": [], "expect": None,
        "files": [("config.json", CONFIG, False), ("model.safetensors", WEIGHTS, True)]}])
    return serialize_lock(doc).encode()


def file_info(name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    return ti, io.BytesIO(data)


def link_info(name, target, kind):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = target
    return ti, None


def special_info(name, kind):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.devmajor, ti.devminor = 1, 3
    return ti, None


def good_members():
    return [file_info("modelbake.lock", lock_bytes()),
            file_info("bert/config.json", CONFIG),
            file_info("bert/model.safetensors", WEIGHTS)]


HOSTILE = {
    "absolute_path": [file_info("/tmp/mbtest-evil-abs", b"x")],
    "dotdot_path": [file_info("../evil-dotdot", b"x")],
    "dotdot_inside": [file_info("bert/../../evil-inside", b"x")],
    "symlink_escaping": [link_info("bert/escape", "../../evil-link", tarfile.SYMTYPE)],
    "symlink_absolute": [link_info("bert/abs", "/etc/passwd", tarfile.SYMTYPE)],
    "symlink_then_write_through": [link_info("bert/dir", "../..", tarfile.SYMTYPE),
                                   file_info("bert/dir/evil-through", b"x")],
    "hardlink_escaping": [link_info("bert/hl", "../evil-hard", tarfile.LNKTYPE)],
    "hardlink_absolute": [link_info("bert/hl", "/etc/passwd", tarfile.LNKTYPE)],
    "char_device": [special_info("bert/dev", tarfile.CHRTYPE)],
    "block_device": [special_info("bert/blk", tarfile.BLKTYPE)],
    "fifo": [special_info("bert/fifo", tarfile.FIFOTYPE)],
    "duplicate_same_content": [file_info("bert/config.json", CONFIG)],
    "duplicate_other_content": [file_info("bert/config.json", b'{"evil": 1}\n')],
    "entry_not_in_lock": [file_info("bert/extra.py", b"import os\n")],
    "harmless_symlink_not_in_lock": [link_info("bert/alias.json", "config.json", tarfile.SYMTYPE)],
}

EXPECTED_MESSAGE = {
    "absolute_path": "absolute path", "dotdot_path": "'..' component", "dotdot_inside": "'..' component",
    "symlink_escaping": "escapes the bundle", "symlink_absolute": "absolute path",
    "symlink_then_write_through": "escapes the bundle", "hardlink_escaping": "leaves the bundle",
    "hardlink_absolute": "leaves the bundle", "char_device": "device", "block_device": "device",
    "fifo": "fifo", "duplicate_same_content": "duplicate entry", "duplicate_other_content": "duplicate entry",
    "entry_not_in_lock": "not in the bundled lock", "harmless_symlink_not_in_lock": "not in the bundled lock",
}


class TestTarSlip(MbTestCase):
    def setUp(self):
        super().setUp()
        self.work = self.tmp.join("work")
        os.makedirs(self.work)

    def write_tar(self, name, members, fmt=tarfile.PAX_FORMAT):
        path = os.path.join(self.work, name)
        with tarfile.open(path, "w", format=fmt) as tf:
            for ti, data in members:
                if data is not None:
                    data.seek(0)
                tf.addfile(ti, data)
        return path

    def snapshot_outside(self):
        seen = set()
        for root, dirs, files in os.walk(self.tmp.path):
            for n in dirs + files:
                p = os.path.join(root, n)
                targets = os.path.join(self.work, "target")
                if p != targets and not p.startswith(targets + os.sep):
                    seen.add(p)
        return seen

    def assert_nothing_visible(self, target):
        for n in os.listdir(target):
            self.assertIn(n, (".locks", "CACHEDIR.TAG"), "import made %s visible" % n)
        self.assertEqual(os.listdir(os.path.join(target, ".locks", "modelbake", "tmp")), [])
        objects = os.path.join(target, ".locks", "modelbake", "objects", "sha256")
        self.assertEqual(os.listdir(objects) if os.path.isdir(objects) else [], [])

    def test_control_good_bundle_imports(self):
        bundle = self.write_tar("good.tar", good_members())
        target = os.path.join(self.work, "target")
        proc = run_modelbake(["import", bundle, "--cache", target])
        self.assertExit(proc, 0)
        snap = os.path.join(target, "models--org--bert", "snapshots", "a" * 40, "model.safetensors")
        with open(snap, "rb") as f:
            self.assertEqual(f.read(), WEIGHTS)

    def test_each_hostile_entry_is_refused(self):
        for case, extra in HOSTILE.items():
            with self.subTest(case=case):
                bundle = self.write_tar(case + ".tar", good_members() + extra)
                target = os.path.join(self.work, "target", case)
                before = self.snapshot_outside()
                proc = run_modelbake(["import", bundle, "--cache", target])
                self.assertExit(proc, 1)
                self.assertIn(EXPECTED_MESSAGE[case], proc.stderr)
                self.assertEqual(self.snapshot_outside() - before, set(), "wrote outside the cache")
                self.assertFalse(os.path.lexists("/tmp/mbtest-evil-abs"))
                self.assert_nothing_visible(target)

    def test_hostile_entry_first_is_refused_too(self):
        for case in ("dotdot_path", "symlink_escaping", "char_device"):
            with self.subTest(case=case):
                bundle = self.write_tar("first-" + case + ".tar", HOSTILE[case] + good_members())
                target = os.path.join(self.work, "target", "first-" + case)
                self.assertExit(run_modelbake(["import", bundle, "--cache", target]), 1)
                self.assert_nothing_visible(target)

    def test_gnu_longname_dotdot_is_refused(self):
        members = good_members() + [file_info("bert/" + "a" * 120 + "/../../../evil-long", b"x")]
        bundle = self.write_tar("gnu.tar", members, fmt=tarfile.GNU_FORMAT)
        target = os.path.join(self.work, "target", "gnu")
        self.assertExit(run_modelbake(["import", bundle, "--cache", target]), 1)
        self.assert_nothing_visible(target)

    def test_wrong_content_for_the_lock_is_refused(self):
        members = [file_info("modelbake.lock", lock_bytes()), file_info("bert/config.json", CONFIG),
                   file_info("bert/model.safetensors", WEIGHTS[:-1] + b"\0")]
        bundle = self.write_tar("wrong.tar", members)
        target = os.path.join(self.work, "target", "wrong")
        proc = run_modelbake(["import", bundle, "--cache", target])
        self.assertExit(proc, 1)
        self.assertIn("model.safetensors", proc.stderr)
        self.assert_nothing_visible(target)

    def test_missing_file_is_refused(self):
        members = [file_info("modelbake.lock", lock_bytes()), file_info("bert/config.json", CONFIG)]
        target = os.path.join(self.work, "target", "missing")
        proc = run_modelbake(["import", self.write_tar("missing.tar", members), "--cache", target])
        self.assertExit(proc, 1)
        self.assertIn("lacks", proc.stderr)
        self.assert_nothing_visible(target)

    def test_garbage_lock_is_refused(self):
        members = [file_info("modelbake.lock", b"{not json"), file_info("bert/config.json", CONFIG)]
        target = os.path.join(self.work, "target", "garbage")
        self.assertExit(run_modelbake(["import", self.write_tar("garbage.tar", members), "--cache", target]), 1)
        self.assert_nothing_visible(target)

    def test_not_a_bundle(self):
        target = os.path.join(self.work, "target", "none")
        self.assertExit(run_modelbake(["import", self.write_tar("plain.tar", [file_info("a.txt", b"a")]),
                                       "--cache", target]), 2)
        self.assertExit(run_modelbake(["import", os.path.join(self.work, "nope.tar"), "--cache", target]), 2)

    def test_hostile_oci_layout_tar(self):
        index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
        cases = {
            "escaping_blob": [file_info("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                              file_info("index.json", index), file_info("blobs/sha256/../../evil", b"x")],
            "extra_file": [file_info("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                           file_info("index.json", index), file_info("run.sh", b"x")],
        }
        for case, members in cases.items():
            with self.subTest(case=case):
                target = os.path.join(self.work, "target", "oci-" + case)
                proc = run_modelbake(["import", self.write_tar("oci-" + case + ".tar", members), "--cache", target])
                self.assertExit(proc, 1)
                self.assert_nothing_visible(target)


class ZeroStream(io.RawIOBase):
    """`size` zero bytes, produced on demand (a bomb's content without holding it in memory)."""

    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), self.left)
        buf[:n] = bytes(n)
        self.left -= n
        return n


FILE_LIMIT = 1 << 20        # RLIMIT_FSIZE of the import: no file it writes may reach this
BOMB_SIZE = 64 << 20        # what a bomb entry expands to (the 17 KB .tar.zst of issue 10 held 512 MiB)


class TestBombs(MbTestCase):
    """A bundle's entries are checked against its lock (name, kind, declared size) before a
    byte is copied, and the bytes written are capped by the locked sizes. The import runs
    with RLIMIT_FSIZE = 1 MiB: writing any bomb entry would kill it with SIGXFSZ instead of
    letting it exit 1 with a clear message."""

    def setUp(self):
        super().setUp()
        self.work = self.tmp.join("work")
        os.makedirs(self.work)

    def write_zst(self, name, members):
        """members: (TarInfo, fileobj or None); streams the tar through the zstd CLI."""
        path = os.path.join(self.work, name)
        with open(path, "wb") as out:
            zstd = subprocess.Popen(["zstd", "-q", "-c", "-3"], stdin=subprocess.PIPE, stdout=out)
            with tarfile.open(fileobj=zstd.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                for ti, data in members:
                    tf.addfile(ti, data)
            zstd.stdin.close()
            self.assertEqual(zstd.wait(), 0)
        self.assertLess(os.path.getsize(path), FILE_LIMIT // 4, "the bomb should be small")
        return path

    def run_import_limited(self, bundle, target, *extra):
        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
        return subprocess.run([modelbake_bin(), "import", bundle, "--cache", target] + list(extra),
                              env=tool_env(), capture_output=True, text=True, timeout=300, preexec_fn=limit)

    def assert_refused_small(self, proc, target, message):
        self.assertEqual(proc.returncode, 1, "exit %s (-25 = killed writing past 1 MiB)\n%s" % (proc.returncode, proc.stderr))
        self.assertIn(message, proc.stderr)
        self.assertEqual(os.listdir(os.path.join(target, ".locks", "modelbake", "tmp")), [])

    def bomb(self, name, size=BOMB_SIZE):
        ti = tarfile.TarInfo(name)
        ti.size = size
        ti.mode = 0o644
        return ti, ZeroStream(size)

    def test_entry_not_in_lock_is_refused_before_copy(self):
        bundle = self.write_zst("bomb.tar.zst", good_members() + [self.bomb("bert/zeros.bin")])
        target = os.path.join(self.work, "t-extra")
        self.assert_refused_small(self.run_import_limited(bundle, target), target, "not in the bundled lock")

    def test_bomb_before_the_lock_is_refused_before_copy(self):
        # The lock comes last: import finds it by reading headers only, then refuses the bomb.
        members = [self.bomb("bert/zeros.bin")] + good_members()
        bundle = self.write_zst("bomb-first.tar.zst", members)
        target = os.path.join(self.work, "t-first")
        self.assert_refused_small(self.run_import_limited(bundle, target), target, "not in the bundled lock")

    def test_locked_name_with_a_larger_size_is_refused_before_copy(self):
        members = [good_members()[0], good_members()[1], self.bomb("bert/model.safetensors")]
        bundle = self.write_zst("size.tar.zst", members)
        target = os.path.join(self.work, "t-size")
        proc = self.run_import_limited(bundle, target)
        self.assert_refused_small(proc, target, "the bundled lock says %d" % len(WEIGHTS))

    def test_pax_size_larger_than_the_header_is_refused_before_copy(self):
        # ustar size = the locked size, a PAX 'size' record (which wins) says 64 MiB.
        ti = tarfile.TarInfo("bert/model.safetensors")
        ti.size = BOMB_SIZE
        ti.mode = 0o644
        ti.pax_headers = {"size": str(BOMB_SIZE)}
        members = [good_members()[0], good_members()[1], (ti, ZeroStream(BOMB_SIZE))]
        bundle = self.write_zst("pax.tar.zst", members)
        target = os.path.join(self.work, "t-pax")
        self.assert_refused_small(self.run_import_limited(bundle, target), target, "the bundled lock says")

    def test_lock_last_still_imports(self):
        members = good_members()[1:] + good_members()[:1]
        bundle = self.write_zst("lock-last.tar.zst", members)
        target = os.path.join(self.work, "t-last")
        proc = self.run_import_limited(bundle, target)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        snap = os.path.join(target, "models--org--bert", "snapshots", "a" * 40, "model.safetensors")
        with open(snap, "rb") as f:
            self.assertEqual(f.read(), WEIGHTS)

    def oci_layout(self, repeats=1):
        """An OCI layout directory whose image lists one layer (the good members) `repeats` times."""
        layer = io.BytesIO()
        with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for ti, data in good_members():
                tf.addfile(ti, data)
        layout = os.path.join(self.work, "oci")
        blobs = os.path.join(layout, "blobs", "sha256")
        os.makedirs(blobs)

        def blob(data):
            digest = hashlib.sha256(data).hexdigest()
            with open(os.path.join(blobs, digest), "wb") as f:
                f.write(data)
            return {"digest": "sha256:" + digest, "size": len(data)}

        layer_desc = dict(blob(layer.getvalue()), mediaType="application/vnd.oci.image.layer.v1.tar")
        config = dict(blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
            "type": "layers", "diff_ids": [layer_desc["digest"]] * repeats}}).encode()),
            mediaType="application/vnd.oci.image.config.v1+json")
        manifest = dict(blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                         "config": config, "layers": [layer_desc] * repeats}).encode()),
                        mediaType="application/vnd.oci.image.manifest.v1+json")
        with open(os.path.join(layout, "oci-layout"), "w") as f:
            f.write('{"imageLayoutVersion":"1.0.0"}')
        with open(os.path.join(layout, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)
        return layout, layer_desc["digest"]

    def test_repeated_oci_layer_is_read_once(self):
        layout, digest = self.oci_layout(repeats=2000)
        target = os.path.join(self.work, "t-oci")
        proc = self.run_import_limited(layout, target, "-v")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr.count("reading layer " + digest), 1, proc.stderr[-2000:])

    def test_oci_layout_in_a_compressed_tar_is_refused(self):
        # Its blobs would be copied out before the lock inside a layer is known.
        layout, _ = self.oci_layout()
        members = []
        for root, _dirs, files in os.walk(layout):
            for n in sorted(files):
                path = os.path.join(root, n)
                with open(path, "rb") as f:
                    members.append(file_info(os.path.relpath(path, layout), f.read()))
        bundle = self.write_zst("oci.tar.zst", members)
        target = os.path.join(self.work, "t-oci-zst")
        proc = self.run_import_limited(bundle, target)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("compressed tar", proc.stderr)
        self.assertEqual(os.listdir(os.path.join(target, ".locks", "modelbake", "tmp")), [])


if __name__ == "__main__":
    unittest.main()
