"""A real client reads modelbake's cache: @huggingface/hub (npm, version pinned in
tests/compat/package-lock.json) scanCacheDir must see exactly the repos, revisions, refs,
files and sizes modelbake wrote. The package is installed by the CTest fixture
`compat.npm_ci` (npm ci --prefix tests/compat), never at build time."""

import json
import os
import shutil
import subprocess
import unittest

from mbtest import MbTestCase, RepoBuilder, make_cache, run_modelbake, source_dir, write_manifest

COMPAT = os.path.join(source_dir(), "tests", "compat")
SCRIPT = os.path.join(COMPAT, "scan_cache.mjs")


def scan(cache):
    proc = subprocess.run(["node", SCRIPT, cache], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError("scan_cache.mjs failed:\n" + proc.stderr)
    return json.loads(proc.stdout)


def expected_view(lock):
    """What a hub-cache reader must see for a lock: hf.js scanCacheDir lists only the
    top-level files of a snapshot (it skips sub-directories; huggingface_hub's Python scanner
    recurses), so nested paths are compared separately."""
    repos = {}
    for m in lock["models"]:
        revs = repos.setdefault((m["repo"], m["type"]), {})
        rev = revs.setdefault(m["commit"], {"commit": m["commit"], "refs": [], "files": []})
        if m["revision"] != m["commit"]:
            rev["refs"].append(m["revision"])
        rev["files"] += [{"path": f["path"], "size": f["size"]} for f in m["files"] if "/" not in f["path"]]
    out = []
    for (repo, typ), revs in sorted(repos.items()):
        revisions = []
        for commit in sorted(revs):
            r = revs[commit]
            r["refs"] = sorted(set(r["refs"]))
            r["files"] = sorted({f["path"]: f for f in r["files"]}.values(), key=lambda f: f["path"])
            revisions.append(r)
        out.append({"repo": repo, "type": typ, "revisions": revisions})
    return out


@unittest.skipUnless(shutil.which("node"), "node is not installed")
class TestHuggingfaceJsScanCacheDir(MbTestCase):
    def setUp(self):
        super().setUp()
        if not os.path.isdir(os.path.join(COMPAT, "node_modules", "@huggingface", "hub")):
            self.fail("@huggingface/hub is not installed: run `npm ci --prefix tests/compat` "
                      "(the CTest fixture compat.npm_ci does)")

    def test_sees_exactly_what_modelbake_wrote(self):
        mini = RepoBuilder("org/mini")
        mini.add_file("config.json", b'{"hidden_size": 8}')
        mini.add_file("model.safetensors", b"\x01" * 3000, lfs=True)
        mini.add_file("1_Pooling/config.json", b'{"pooling_mode_mean_tokens": true}')
        mini.commit("v1")
        mini.tag("v1.0")
        mini.add_file("README.md", b"# mini\n")
        mini.commit("v2")
        data = RepoBuilder("org/data", type="dataset")
        data.add_file("train.csv", b"a,b\n1,2\n")
        data.commit("init")
        cache = self.tmp.join("cache")
        lock = make_cache(cache, [{"builder": mini, "revision": "main", "as": "mini"},
                                  {"builder": mini, "revision": "v1.0", "as": "mini-v1"},
                                  {"builder": data, "as": "data"}])
        seen = scan(cache)
        self.assertEqual(seen["repos"], expected_view(lock))
        # modelbake's private folder lives under .locks/, which the scanner skips.
        self.assertEqual(seen["warnings"], [])

    def test_sees_what_a_real_fetch_wrote(self):
        rb = RepoBuilder("org/fetched")
        rb.add_file("config.json", b'{"a": 1}')
        rb.add_file("model.safetensors", b"\x02" * 5000, lfs=True)
        rb.commit("init")
        hub = self.start_hub(rb)
        cache = self.tmp.join("cache")
        write_manifest(self.tmp.join("modelbake.yaml"), [{"repo": "org/fetched", "as": "fetched"}])
        proc = run_modelbake(["--cache", cache, "fetch"], env=hub.env(), cwd=self.tmp.path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(self.tmp.join("modelbake.lock")) as f:
            lock = json.load(f)
        seen = scan(cache)
        self.assertEqual(seen["repos"], expected_view(lock))
        self.assertEqual(seen["warnings"], [])

    def test_nested_files_resolve_to_blobs_of_the_locked_size(self):
        # hf.js does not list nested files, so check them the way its resolver reads them.
        rb = RepoBuilder("org/nested")
        rb.add_file("a/b/c.json", b"{}" * 50)
        rb.commit("init")
        cache = self.tmp.join("cache")
        lock = make_cache(cache, [rb])
        m = lock["models"][0]
        path = os.path.join(cache, "models--org--nested", "snapshots", m["commit"], "a/b/c.json")
        self.assertEqual(os.path.getsize(os.path.realpath(path)), m["files"][0]["size"])
        self.assertEqual(scan(cache)["repos"][0]["revisions"][0]["files"], [])


if __name__ == "__main__":
    unittest.main()
