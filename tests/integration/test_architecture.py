"""The layering rule of docs/ARCHITECTURE.md, checked mechanically.

Each folder under src/ may include only the folders listed for it. In particular the store
never includes the network layer, and the runtime verifier (modelbake-verify) never reaches
code that needs libcurl, libarchive or yaml-cpp.
"""
import os
import re
import unittest

SRC = os.path.join(os.environ.get("MODELBAKE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")), "src")

BASE = {"core", "lock", "store", "verify"}
ALLOWED = {
    "core": {"core"},
    "lock": {"core", "lock"},
    "store": {"core", "lock", "store"},
    "verify": {"core", "lock", "store", "verify"},
    "runtime": BASE | {"runtime"},
    "manifest": {"core", "lock", "manifest"},
    "net": {"core", "net"},
    "hub": {"core", "net", "hub"},
    "xet": {"core", "net", "hub", "xet"},
    "bundle": {"core", "lock", "store", "bundle"},
    "oci": {"core", "lock", "store", "net", "bundle", "oci"},
    "fetch": {"core", "lock", "store", "manifest", "net", "hub", "xet", "fetch"},
    # The hub mirror reads the cache; pull-through asks upstream with the hub client and
    # brings files in with the fetch engine.
    "serve": BASE | {"serve", "net", "hub", "fetch", "manifest", "app"},
    "app": {"app"},
    "cli": None,  # the top: may include everything
}
# Third-party headers that must stay out of the libcrypto-only layers.
HEAVY = re.compile(r'#include\s*[<"](curl/|archive|yaml-cpp/|CLI/|spdlog/)')
INCLUDE = re.compile(r'#include\s*"([a-z_]+)/[^"]+"')


def sources(folder):
    for dirpath, _, files in os.walk(os.path.join(SRC, folder)):
        for name in files:
            if name.endswith((".cpp", ".hpp", ".h")):
                yield os.path.join(dirpath, name)


class LayeringTest(unittest.TestCase):
    def test_every_folder_is_known(self):
        folders = {d for d in os.listdir(SRC) if os.path.isdir(os.path.join(SRC, d))}
        self.assertEqual(folders - set(ALLOWED), set(), "add new folders to ARCHITECTURE.md and this test")

    def test_includes_point_down(self):
        violations = []
        for folder, allowed in ALLOWED.items():
            if allowed is None:
                continue
            for path in sources(folder):
                with open(path, encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.search(line)
                        if m and m.group(1) in ALLOWED and m.group(1) not in allowed:
                            violations.append(f"{os.path.relpath(path, SRC)}:{lineno}: {folder} includes {m.group(1)}")
        self.assertEqual(violations, [])

    @staticmethod
    def _header_only_logging(path, line):
        # spdlog is used header-only (with fmt header-only) behind core/log.hpp, in one file.
        return path.endswith(os.path.join("core", "log.cpp")) and "spdlog/" in line

    def test_base_layers_need_no_heavy_libraries(self):
        violations = []
        for folder in sorted(BASE | {"runtime"}):
            for path in sources(folder):
                with open(path, encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        if HEAVY.search(line) and not path.endswith(os.path.join("runtime", "main.cpp")) \
                                and not self._header_only_logging(path, line):
                            violations.append(f"{os.path.relpath(path, SRC)}:{lineno}: {line.strip()}")
        self.assertEqual(violations, [])


# Below the top level: the runtime's own folders point down too (docs/ARCHITECTURE.md, "The
# runtime's folders", holds the same table). Bottom: the bounded format readers and the float
# kernels; then the model folder's files (the only folder that reaches runtime/confined), the
# tokenizers and the ONNX interpreter; then the encoder and the decoder; at the top of the
# engine the probes that pick and run one of them. The verifier's files at runtime/ top may
# use all of them and are included by none (runtime/confined aside).
RUNTIME_SUB = {
    "formats": {"formats"},
    "kernels": {"kernels"},
    "model": {"formats", "confined", "model"},
    "tokenizers": {"formats", "tokenizers"},
    "onnx": {"formats", "onnx"},
    "encoder": {"formats", "kernels", "model", "encoder"},
    "decoder": {"formats", "kernels", "model", "tokenizers", "decoder"},
    "probe": {"formats", "kernels", "model", "tokenizers", "onnx", "encoder", "decoder", "probe"},
}
RUNTIME_INCLUDE = re.compile(r'#include\s*"runtime/([a-z_]+)[/.]')


class RuntimeLayeringTest(unittest.TestCase):
    def test_runtime_folders_are_known(self):
        runtime = os.path.join(SRC, "runtime")
        folders = {d for d in os.listdir(runtime) if os.path.isdir(os.path.join(runtime, d))}
        self.assertEqual(folders - set(RUNTIME_SUB), set(), "add new runtime folders to RUNTIME_SUB")

    def test_runtime_includes_point_down(self):
        violations = []
        for folder, allowed in RUNTIME_SUB.items():
            for path in sources(os.path.join("runtime", folder)):
                with open(path, encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = RUNTIME_INCLUDE.search(line)
                        if m and m.group(1) not in allowed:
                            violations.append(f"{os.path.relpath(path, SRC)}:{lineno}: runtime/{folder} includes "
                                              f"runtime/{m.group(1)}")
        self.assertEqual(violations, [])

    def test_the_checker_sees_a_violation(self):
        # The pattern must match what a violation looks like, or the test above cannot fail.
        m = RUNTIME_INCLUDE.search('#include "runtime/decoder/decoder.hpp"')
        self.assertEqual(m.group(1), "decoder")
        self.assertNotIn(m.group(1), RUNTIME_SUB["kernels"])
        self.assertNotIn("probe", RUNTIME_SUB["decoder"])
        self.assertEqual(RUNTIME_INCLUDE.search('#include "runtime/confined.hpp"').group(1), "confined")
        self.assertNotIn("report", RUNTIME_SUB["probe"])

    def test_runtime_graph_has_no_cycle(self):
        # Each folder may include only folders that come before it in one order.
        order, left = [], dict(RUNTIME_SUB)
        while left:
            ready = [f for f, allowed in left.items() if allowed - {f, "confined"} <= set(order)]
            self.assertTrue(ready, f"cycle among {sorted(left)}")
            order.extend(sorted(ready))
            for f in ready:
                del left[f]

    def test_architecture_doc_has_the_same_table(self):
        with open(os.path.join(os.path.dirname(SRC), "docs", "ARCHITECTURE.md"), encoding="utf-8") as f:
            doc = f.read()
        rows = dict(re.findall(r"^\| `runtime/([a-z_]+)` \|[^|]*\| ([^|]*) \|$", doc, re.M))
        self.assertEqual(set(rows), set(RUNTIME_SUB))
        for folder, allowed in rows.items():
            named = set(re.findall(r"`([a-z_]+)`", allowed))
            self.assertEqual(named, RUNTIME_SUB[folder] - {folder}, folder)


class TargetsTest(unittest.TestCase):
    def test_main_is_one_call(self):
        # The CLI is the library mb_cli (tested by the unit tests); main only hands over.
        with open(os.path.join(SRC, "cli", "main.cpp"), encoding="utf-8") as f:
            code = [l for l in f.read().splitlines() if l.strip() and not l.strip().startswith(("//", "#include"))]
        self.assertEqual(code, ["int main(int argc, char** argv) { return mb::cli::run(argc, argv); }"])

    def test_cli_is_a_library_the_unit_tests_link(self):
        root = os.path.dirname(SRC)
        with open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8") as f:
            top = f.read()
        with open(os.path.join(root, "tests", "CMakeLists.txt"), encoding="utf-8") as f:
            tests = f.read()
        self.assertRegex(top, r"add_library\(mb_cli STATIC")
        self.assertRegex(top, r"add_executable\(modelbake src/cli/main\.cpp\)")
        self.assertRegex(tests, r"target_link_libraries\(mb_unit_tests PRIVATE[^)]*\bmb_cli\b")


if __name__ == "__main__":
    unittest.main()
