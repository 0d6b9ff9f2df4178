"""Fast checks of the shipped Dockerfiles (seconds, in the default suite); the real builds are
in test_dockerfile_build.py (label dockerbuild).

* docker/modelbake.Dockerfile's build stage installs a Debian package for every package that
  CMakeLists.txt and cmake/*.cmake find (a find_package without one broke the image build);
* every service Dockerfile's model stage takes --build-arg HF_ENDPOINT, reads the token from a
  secret *file* (the env= form is BuildKit-only), and its header says how to lock with the
  tool image.
"""

import glob
import os
import re
import shlex
import subprocess
import unittest

from mbtest import source_dir

# CMake package (find_package name or pkg-config module) -> (Debian package, a file that
# package must hold on this machine (a glob), which proves the mapping). A package missing here fails
# the test: add it here, to the Dockerfile's build stage and to scripts/install-deps.sh.
DEBIAN_PACKAGES = {
    "Threads": ("libc6-dev", "/usr/include/pthread.h"),
    "OpenSSL": ("libssl-dev", "/usr/include/openssl/ssl.h"),
    "CURL": ("libcurl4-openssl-dev", "/usr/include/*/curl/curl.h"),
    "LibArchive": ("libarchive-dev", "/usr/include/archive.h"),
    "yaml-cpp": ("libyaml-cpp-dev", "/usr/lib/*/cmake/yaml-cpp/yaml-cpp-config.cmake"),
    "nlohmann_json": ("nlohmann-json3-dev", "/usr/share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake"),
    "CLI11": ("libcli11-dev", "/usr/share/cmake/CLI11/CLI11Config.cmake"),
    "fmt": ("libfmt-dev", "/usr/lib/*/cmake/fmt/fmt-config.cmake"),
    "spdlog": ("libspdlog-dev", "/usr/lib/*/cmake/spdlog/spdlogConfig.cmake"),
    "PkgConfig": ("pkgconf", "/usr/bin/pkg-config"),
    "libmicrohttpd": ("libmicrohttpd-dev", "/usr/lib/*/pkgconfig/libmicrohttpd.pc"),
    "liblz4": ("liblz4-dev", "/usr/lib/*/pkgconfig/liblz4.pc"),
    "GTest": ("libgtest-dev", "/usr/lib/*/cmake/GTest/GTestConfig.cmake"),
}
# Packages that another one the Dockerfile names depends on.
IMPLIED_BY = {"libc6-dev": "build-essential", "pkgconf": "pkg-config"}


def dockerfile_instructions(path):
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments dropped."""
    out, pending = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line = (pending + line).strip()
            pending = ""
            if line:
                word, _, rest = line.partition(" ")
                out.append((word.upper(), rest.strip()))
    return out


def stages(instructions):
    """{stage name or index: [instructions after its FROM]}"""
    result, current = {}, None
    for word, args in instructions:
        if word == "FROM":
            parts = args.split()
            current = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(result))
            result[current] = []
        elif current is not None:
            result[current].append((word, args))
    return result


def apt_packages(run_args):
    words = shlex.split(run_args.replace("&&", " && "))
    out = set()
    for i, w in enumerate(words):
        if w == "install" and i > 0 and words[i - 1] == "apt-get":
            for p in words[i + 1:]:
                if p == "&&":
                    break
                if not p.startswith("-"):
                    out.add(p)
    return out


def strip_test_only(cmake_text):
    """cmake_text without the bodies of `if(MODELBAKE_BUILD_TESTS)` blocks."""
    out, depth = [], 0
    for line in cmake_text.splitlines():
        s = line.strip()
        if depth:
            if re.match(r"if\s*\(", s):
                depth += 1
            elif re.match(r"endif\s*\(", s):
                depth -= 1
            continue
        if re.match(r"if\s*\(\s*MODELBAKE_BUILD_TESTS\s*\)", s):
            depth = 1
            continue
        out.append(line)
    return "\n".join(out)


def cmake_packages(text):
    found = set(re.findall(r"find_package\s*\(\s*([\w-]+)", text))
    for args in re.findall(r"pkg_check_modules\s*\(([^)]*)\)", text):
        for word in args.split()[1:]:
            if word not in ("REQUIRED", "QUIET", "IMPORTED_TARGET", "GLOBAL", "NO_CMAKE_PATH",
                            "NO_CMAKE_ENVIRONMENT_PATH"):
                found.add(re.split(r"[<>=]", word)[0])
    return found


def project_cmake_texts():
    root = source_dir()
    paths = [os.path.join(root, "CMakeLists.txt")] + sorted(glob.glob(os.path.join(root, "cmake", "*.cmake")))
    texts = {}
    for p in paths:
        with open(p, encoding="utf-8") as f:
            texts[os.path.relpath(p, root)] = f.read()
    return texts


class ToolImagePackages(unittest.TestCase):
    def setUp(self):
        self.dockerfile = os.path.join(source_dir(), "docker", "modelbake.Dockerfile")
        self.stages = stages(dockerfile_instructions(self.dockerfile))

    def build_stage_packages(self):
        self.assertIn("build", self.stages, "docker/modelbake.Dockerfile has no `AS build` stage")
        pkgs = set()
        for word, args in self.stages["build"]:
            if word == "RUN":
                pkgs |= apt_packages(args)
        return pkgs

    def test_build_stage_configures_without_tests(self):
        runs = " ".join(a for w, a in self.stages["build"] if w == "RUN")
        self.assertIn("-DMODELBAKE_BUILD_TESTS=OFF", runs)

    def test_build_stage_installs_every_package_cmake_finds(self):
        # The image configures with tests off, so test-only finds are not needed there.
        needed = set()
        for name, text in project_cmake_texts().items():
            needed |= cmake_packages(strip_test_only(text))
        self.assertIn("fmt", needed)  # the parser sees cmake/Dependencies.cmake
        unknown = sorted(needed - set(DEBIAN_PACKAGES))
        self.assertEqual(unknown, [], "CMake finds packages with no Debian package in this test's "
                         "table: add them here, to docker/modelbake.Dockerfile and install-deps.sh")
        installed = self.build_stage_packages()
        missing = []
        for name in sorted(needed):
            pkg = DEBIAN_PACKAGES[name][0]
            if pkg not in installed and IMPLIED_BY.get(pkg) not in installed:
                missing.append("%s (for %s)" % (pkg, name))
        self.assertEqual(missing, [], "docker/modelbake.Dockerfile's build stage lacks packages")

    def test_package_table_matches_this_machine(self):
        # Each mapping is proved by dpkg: the named file belongs to the named package.
        paths = {}
        for name, (pkg, pattern) in sorted(DEBIAN_PACKAGES.items()):
            found = glob.glob(pattern)
            self.assertEqual(len(found), 1, "%s: %s matches %s" % (name, pattern, found))
            paths[name] = found[0]
        # One dpkg-query for all: each output line is "pkg:arch[, pkg2:arch]: path".
        proc = subprocess.run(["dpkg-query", "-S"] + list(paths.values()), capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        owners = {}
        for line in proc.stdout.splitlines():
            pkgs, path = line.rsplit(": ", 1)
            owners[path] = {p.strip().split(":")[0] for p in pkgs.split(",")}
        for name, path in paths.items():
            self.assertIn(DEBIAN_PACKAGES[name][0], owners.get(path, set()), "%s: %s" % (name, path))

    def test_host_install_script_has_the_same_packages(self):
        with open(os.path.join(source_dir(), "scripts", "install-deps.sh"), encoding="utf-8") as f:
            script = f.read()
        for pkg in sorted(self.build_stage_packages() - {"ca-certificates"}):
            self.assertRegex(script, r"(?<![\w-])%s(?![\w-])" % re.escape(pkg))

    def test_parser_sees_a_missing_package(self):
        # The check can fail: the Dockerfile as it was before fmt/spdlog were added.
        old = 'RUN apt-get update && apt-get install -y --no-install-recommends cmake libssl-dev && rm -rf x'
        self.assertEqual(apt_packages(old.split(" ", 1)[1]), {"cmake", "libssl-dev"})
        self.assertEqual(cmake_packages("find_package(fmt 9 REQUIRED)\n"
                                        "pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd>=0.9)"),
                         {"fmt", "libmicrohttpd"})
        self.assertEqual(cmake_packages(strip_test_only("if(MODELBAKE_BUILD_TESTS)\n"
                                                        "  find_package(GTest REQUIRED)\nendif()")), set())


def service_dockerfiles():
    out = []
    for path in sorted(glob.glob(os.path.join(source_dir(), "docker", "*.Dockerfile"))):
        with open(path, encoding="utf-8") as f:
            m = re.search(r"COPY manifests/([\w-]+)/modelbake\.yaml", f.read())
        if m:
            out.append((path, m.group(1)))
    return out


class ServiceDockerfiles(unittest.TestCase):
    def test_there_are_service_dockerfiles(self):
        self.assertGreaterEqual(len(service_dockerfiles()), 5)

    def test_model_stage_takes_the_endpoint_build_arg(self):
        for path, _ in service_dockerfiles():
            models = stages(dockerfile_instructions(path)).get("models")
            self.assertIsNotNone(models, path)
            words = [w for w, _ in models]
            self.assertIn(("ARG", "HF_ENDPOINT"), models, path)
            self.assertLess(words.index("ARG"), words.index("RUN"), path)

    def test_token_comes_from_a_secret_file(self):
        for path, _ in service_dockerfiles():
            runs = [a for w, a in stages(dockerfile_instructions(path))["models"] if w == "RUN"]
            fetch = [a for a in runs if "modelbake fetch" in a]
            self.assertEqual(len(fetch), 1, path)
            m = re.match(r"--mount=type=secret,(\S+)", fetch[0])
            self.assertTrue(m, path)
            opts = dict(kv.split("=", 1) for kv in m.group(1).split(","))
            self.assertEqual(set(opts) - {"id", "required"}, set(), "%s: only id= is portable" % path)
            self.assertIn("HF_TOKEN_PATH=/run/secrets/%s modelbake fetch" % opts["id"], fetch[0], path)

    def test_header_shows_how_to_lock_with_the_tool_image(self):
        for path, svc in service_dockerfiles():
            with open(path, encoding="utf-8") as f:
                header = "".join(l for l in f if l.startswith("#"))
            self.assertIn('docker run --rm -v "$PWD:/w" -w /w modelbake:local lock -f '
                          "manifests/%s/modelbake.yaml" % svc, header, path)
            self.assertIn("--build-arg HF_ENDPOINT=", header, path)
            self.assertIn("--secret id=hf_token,src=", header, path)


if __name__ == "__main__":
    unittest.main()
