"""import is hostile-input safe: a tar-slip corpus built with Python's tarfile. Every hostile
bundle exits 1, writes nothing outside the target cache's temp area, and leaves the cache
without any visible model; the same bundle without the hostile entry imports fine (control)."""

import hashlib
import io
import json
import os
import tarfile
import unittest

from mbtest import MbTestCase, lock_document, run_modelbake, serialize_lock

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


if __name__ == "__main__":
    unittest.main()
