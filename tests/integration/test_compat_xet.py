"""The test hub's Xet CAS is faithful to the Hub's: the official @huggingface/hub (npm, pinned
in tests/compat/package-lock.json) downloads a Xet file from it byte-identically through its
own Xet path, and the package's hasher computes the same chunk, xorb and file hashes as the
test CAS did. (Chunk boundaries are the test CAS's own, from the spec: @huggingface/xetchunk-wasm
0.2.0 cuts below the spec's 8 KiB minimum, so its boundaries are not a reference.)"""

import json
import os
import shutil
import subprocess
import unittest

from mbtest import MbTestCase, RepoBuilder, pseudo_random_bytes, source_dir

COMPAT = os.path.join(source_dir(), "tests", "compat")
SCRIPT = os.path.join(COMPAT, "xet_check.mjs")
TOKEN = "hf_xet_js_token"
DATA = (pseudo_random_bytes(1_500_000, seed=41) + b"".join(b"entry %06d;" % i
                                                          for i in range(80_000)))


@unittest.skipUnless(shutil.which("node"), "node is not installed")
class TestHuggingfaceJsXet(MbTestCase):
    def setUp(self):
        super().setUp()
        if not os.path.isdir(os.path.join(COMPAT, "node_modules", "@huggingface", "hub")):
            self.fail("@huggingface/hub is not installed: run `npm ci --prefix tests/compat` "
                      "(the CTest fixture compat.npm_ci does)")

    def test_js_client_downloads_and_hashes_like_the_test_cas(self):
        repo = RepoBuilder("org/xet", private=True, tokens=[TOKEN])
        repo.add_file("model.bin", DATA, lfs=True)
        hub = self.start_hub(repo, xet=True)
        # Small xorbs: several of them, each with records of all three schemes.
        hub.set_config(xet_xorb_chunks=5)
        import urllib.request
        req = urllib.request.Request(hub.url + "/api/models/org/xet/tree/main",
                                     headers={"Authorization": "Bearer " + TOKEN})
        with urllib.request.urlopen(req, timeout=60) as r:
            file_id = json.loads(r.read())[0]["xetHash"]
        truth = hub.admin("xet/" + file_id)
        truth_path = self.tmp.join("truth.json")
        with open(truth_path, "w") as f:
            json.dump(truth, f)
        out = self.tmp.join("out.bin")
        proc = subprocess.run(["node", SCRIPT, hub.url, "org/xet", "model.bin", out, truth_path,
                               TOKEN], capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        got = json.loads(proc.stdout)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), DATA)
        # Its Xet path, not the bridge: probe, token, reconstruction, xorb ranges.
        self.assertEqual(hub.requests(path="^/cdn/"), [])
        self.assertGreater(len(hub.requests(path="^/cas/xorb/")), 0)
        self.assertEqual({r["auth"] for r in hub.requests(path="^/cas/v2/")}, {"xet"})
        # Its hasher agrees with the CAS on every chunk, xorb and the file.
        self.assertEqual(got["chunks"], [h for h, _ in truth["chunks"]])
        self.assertEqual(got["xorbs"], {x: x for x in truth["xorbs"]})
        self.assertEqual(got["file"], file_id)
        self.assertGreater(len(truth["xorbs"]), 3)
