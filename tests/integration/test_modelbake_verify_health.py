"""modelbake-verify --stamp / --health (issue 14 part 3): the full check writes a stamp at build
time; the health check compares every file's size, mtime, inode and ctime with it and reads
only structure headers. A changed or missing file fails at once; --timeout ends a health check
whose read blocks."""

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest

import mbtest
from test_modelbake_verify import VerifyBase, model_files, spec, write_hub_bundle

STAMP = ".modelbake-verify.stamp"
HANG_GUARD = 120  # only against a hang stalling the suite; never a speed assertion

# Makes pread64() block forever on files whose path ends with $MB_BLOCK_SUFFIX: a read on a
# hung filesystem, for the --timeout test.
BLOCKING_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
static int blocked(int fd) {
  const char* suffix = getenv("MB_BLOCK_SUFFIX");
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (!suffix || n <= 0) return 0;
  path[n] = 0;
  size_t ls = strlen(suffix), lp = (size_t)n;
  return lp >= ls && strcmp(path + lp - ls, suffix) == 0;
}
ssize_t pread64(int fd, void* buf, size_t count, off_t offset) {
  if (blocked(fd)) for (;;) pause();
  ssize_t (*real)(int, void*, size_t, off_t) = dlsym(RTLD_NEXT, "pread64");
  return real(fd, buf, count, offset);
}
ssize_t pread(int fd, void* buf, size_t count, off_t offset) { return pread64(fd, buf, count, offset); }
"""


class Health(VerifyBase):
    def health(self, root, *extra, env=None):
        proc = mbtest.run_verify(["--json", "--health", *extra, root], env=env, timeout=HANG_GUARD)
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            doc = None
        return proc, doc

    def stamped(self):
        root = self.flat()
        proc = mbtest.run_verify(["--stamp", root])
        self.assertExit(proc, 0)
        self.assertIn("stamp written to " + os.path.join(root, STAMP), proc.stdout)
        return root

    def assert_unhealthy(self, root, *words):
        proc, doc = self.health(root)
        self.assertExit(proc, 1)
        self.assertEqual(doc["status"], "failed")
        for w in words:
            self.assertIn(w, doc["error"]["message"])
        return doc

    def test_stamp_then_health_ready(self):
        root = self.stamped()
        proc, doc = self.health(root)
        self.assertExit(proc, 0)
        self.assertEqual(doc["status"], "ready")
        self.assertEqual((doc["models"], doc["files"], doc["relocated_models"]), (1, 5, 0))
        # The only bytes read from the model: the safetensors length field and JSON header.
        n = struct.unpack("<Q", model_files()["model.safetensors"][:8])[0]
        self.assertEqual(doc["header_bytes_read"], 8 + n)
        human = mbtest.run_verify(["--health", root], timeout=HANG_GUARD)
        self.assertExit(human, 0)
        self.assertIn("healthy: 1 models, 5 files unchanged", human.stdout)

    def test_hub_bundle_stamp_then_health(self):
        root = self.tmp.join("hub")
        os.makedirs(root)
        write_hub_bundle(root, [spec(), spec(name="second", repo="org/second", files=model_files(1))])
        self.assertExit(mbtest.run_verify(["--stamp", root]), 0)
        proc, doc = self.health(root)
        self.assertExit(proc, 0)
        self.assertEqual((doc["models"], doc["files"]), (2, 10))

    def test_no_stamp_is_a_clear_failure(self):
        proc, doc = self.health(self.flat())
        self.assertExit(proc, 1)
        self.assertIn("no stamp at", doc["error"]["message"])
        self.assertIn("--stamp", doc["error"]["hint"])

    def test_touched_file_fails_at_once(self):
        root = self.stamped()
        p = os.path.join(root, "tiny", "config.json")
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        self.assert_unhealthy(root, "config.json", "changed since the stamp", "mtime")

    def test_modified_file_with_restored_mtime_fails(self):
        root = self.stamped()
        p = os.path.join(root, "tiny", "model.safetensors")
        st = os.stat(p)
        with open(p, "r+b") as f:
            f.seek(st.st_size - 4)
            f.write(b"\0\0\0\0")
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # hide it from size and mtime
        self.assert_unhealthy(root, "model.safetensors", "ctime")

    def test_removed_file_fails(self):
        root = self.stamped()
        os.unlink(os.path.join(root, "tiny", "tokenizer.json"))
        self.assert_unhealthy(root, "tokenizer.json", "missing")

    def test_changed_lock_fails(self):
        root = self.stamped()
        with open(os.path.join(root, "modelbake.lock"), "a") as f:
            f.write("\n")
        self.assert_unhealthy(root, "modelbake.lock", "changed since the stamp")

    def test_file_replaced_by_fifo_fails_without_hanging(self):
        root = self.stamped()
        p = os.path.join(root, "tiny", "model.safetensors")
        os.unlink(p)
        os.mkfifo(p)
        self.assert_unhealthy(root, "model.safetensors", "not a regular file")

    def test_stamp_as_fifo_fails_without_hanging(self):
        root = self.flat()
        os.mkfifo(os.path.join(root, STAMP))
        proc, doc = self.health(root)
        self.assertExit(proc, 1)
        self.assertIn("not a regular file", doc["error"]["message"])

    def test_failed_full_check_writes_no_stamp_and_removes_a_stale_one(self):
        root = self.stamped()
        p = os.path.join(root, "tiny", "model.safetensors")
        with open(p, "r+b") as f:
            f.seek(os.path.getsize(p) - 3)
            f.write(b"\xff")
        proc = mbtest.run_verify(["--stamp", root])
        self.assertExit(proc, 1)
        self.assertFalse(os.path.exists(os.path.join(root, STAMP)))
        self.assertIn("removed the stale stamp", proc.stderr)
        self.assert_unhealthy(root, "no stamp")

    def test_stamp_file_elsewhere(self):
        root = self.flat()
        stamp = self.tmp.join("state", "verify.stamp")
        proc = mbtest.run_verify(["--json", "--stamp", "--stamp-file", stamp, root])
        self.assertExit(proc, 0)
        self.assertEqual(json.loads(proc.stdout)["stamp"], stamp)
        self.assertFalse(os.path.exists(os.path.join(root, STAMP)))
        proc, doc = self.health(root, "--stamp-file", stamp)
        self.assertExit(proc, 0)
        self.assert_unhealthy(root, "no stamp")

    def test_unwritable_stamp_location_fails_after_the_report(self):
        root = self.flat()
        blocker = self.tmp.join("not-a-dir")
        with open(blocker, "w") as f:
            f.write("x")
        proc = mbtest.run_verify(["--stamp", "--stamp-file", os.path.join(blocker, "s"), root])
        self.assertExit(proc, 1)
        self.assertIn("1 of 1 models ready", proc.stdout)
        self.assertIn("cannot write the stamp", proc.stderr)
        self.assertIn("--stamp-file", proc.stderr)

    def test_copied_bundle_is_compared_by_size_and_mtime(self):
        root = self.stamped()
        copy = self.tmp.join("copy")
        shutil.copytree(root, copy, symlinks=True)  # copy2: keeps mtimes, new inodes
        proc, doc = self.health(copy)
        self.assertExit(proc, 0)
        self.assertEqual(doc["relocated_models"], 1)
        p = os.path.join(copy, "tiny", "config.json")
        with open(p, "ab") as f:
            f.write(b" ")
        self.assert_unhealthy(copy, "config.json", "size")

    def test_copied_hub_bundle_with_a_link_out_of_root_fails(self):
        root = self.tmp.join("hub")
        os.makedirs(root)
        doc = write_hub_bundle(root, [spec()])
        self.assertExit(mbtest.run_verify(["--stamp", root]), 0)
        copy = self.tmp.join("copy")
        shutil.copytree(root, copy, symlinks=True)
        snap = os.path.join(copy, "models--org--tiny-bert", "snapshots", doc["models"][0]["commit"])
        # Same size and mtime, but outside ROOT: the copy's link now points at the original.
        link = os.path.join(snap, "config.json")
        target = os.path.realpath(os.path.join(root, os.path.relpath(link, copy)))
        os.unlink(link)
        os.symlink(target, link)
        self.assert_unhealthy(copy, "config.json", "resolves outside")

    def test_health_reads_no_content_bytes(self):
        root = self.stamped()
        log = self.tmp.join("strace.log")
        cmd = ["strace", "-f", "-y", "-o", log, "-e", "trace=openat,open,read,pread64,readv,preadv,mmap",
               mbtest.verify_bin(), "--health", root]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_GUARD)
        except FileNotFoundError:
            self.skipTest("strace is not installed")
        if "PTRACE" in proc.stderr or "Operation not permitted" in proc.stderr:
            self.skipTest("ptrace is not allowed here")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        real_root = os.path.realpath(root)
        read_bytes, mapped = {}, []
        with open(log) as f:
            for line in f:
                m = re.search(r"\b(read|pread64|readv|preadv)\((\d+)<([^>]*)>.*\)\s+=\s+(\d+)", line)
                if m and m.group(3).startswith(real_root + "/"):
                    read_bytes[m.group(3)] = read_bytes.get(m.group(3), 0) + int(m.group(4))
                m = re.search(r"\bmmap\(.*,\s*(\d+)<([^>]*)>", line)
                if m and m.group(2).startswith(real_root + "/"):
                    mapped.append(m.group(2))
        self.assertEqual(mapped, [])
        weights = os.path.join(real_root, "tiny", "model.safetensors")
        header = 8 + struct.unpack("<Q", model_files()["model.safetensors"][:8])[0]
        self.assertEqual(read_bytes.pop(os.path.join(real_root, STAMP), 0),
                         os.path.getsize(os.path.join(root, STAMP)))
        # Of the model's files only the safetensors header is read; no byte of a tensor,
        # of the tokenizer, the configs or the lock.
        self.assertEqual(read_bytes, {weights: header})
        self.assertLess(header, os.path.getsize(weights))

    def test_timeout_ends_a_blocked_read(self):
        root = self.stamped()
        shim_dir = tempfile.mkdtemp(dir=self.tmp.path)
        src, lib = os.path.join(shim_dir, "shim.c"), os.path.join(shim_dir, "shim.so")
        with open(src, "w") as f:
            f.write(BLOCKING_SHIM)
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cc:
            self.skipTest("no C compiler for the blocking-read shim")
        subprocess.run([cc, "-shared", "-fPIC", "-o", lib, src, "-ldl"], check=True)
        env = dict(os.environ, LD_PRELOAD=lib, MB_BLOCK_SUFFIX="/model.safetensors")
        proc = mbtest.run_verify(["--health", "--timeout", "1s", root], env=env, timeout=HANG_GUARD)
        self.assertExit(proc, 1)
        self.assertIn("gave up after 1s", proc.stderr)
        # The same shim without the block: the health check passes (the shim itself is inert).
        env["MB_BLOCK_SUFFIX"] = "/nothing-matches"
        self.assertExit(mbtest.run_verify(["--health", "--timeout", "1m", root], env=env,
                                          timeout=HANG_GUARD), 0)

    def test_usage_errors(self):
        root = self.flat()
        for args in (["--health", "--timeout", "0", root], ["--health", "--timeout", "soon", root],
                     ["--health", "--infer", root], ["--stamp", "--health", root],
                     ["--stamp-file", "x", root], ["--health", "--lock", "x", root]):
            proc = mbtest.run_verify(args)
            self.assertExit(proc, 2)


if __name__ == "__main__":
    unittest.main()
