"""fetch --from REGISTRY/REPO:TAG: the registry provides what it has, the hub the rest."""

import hashlib
import os

from mbregistry import DockerRegistry
from mbtest import (MbTestCase, RepoBuilder, pseudo_random_bytes, run_modelbake, snapshot_path,
                    write_manifest)


def repo(name, seed):
    r = RepoBuilder(name)
    r.add_file("config.json", ('{"seed": %d}\n' % seed).encode())
    r.add_file("model.safetensors", pseudo_random_bytes(120_000, seed=seed), lfs=True)
    return r


class FetchFrom(MbTestCase):
    def setUp(self):
        super().setUp()
        self.tiny, self.other = repo("org/tiny", 1), repo("org/other", 2)
        self.hub = self.start_hub(self.tiny, self.other)
        self.registry = DockerRegistry(self.tmp.join("registry")).start()
        self.addCleanup(self.registry.stop)
        # Machine 1 fetched org/tiny from the hub and pushed it.
        self.p1 = self.tmp.join("p1")
        os.makedirs(self.p1)
        write_manifest(os.path.join(self.p1, "modelbake.yaml"), [{"repo": "org/tiny", "as": "tiny"}])
        self.assertExit(self.mb(self.p1, self.tmp.join("cache1"), "fetch"), 0)
        self.ref = self.registry.host + "/shared/models:v1"

    def mb(self, project, cache, *args):
        return run_modelbake(["--cache", cache] + list(args), env=self.hub.env(), cwd=project)

    def push(self, artifact):
        self.assertExit(self.mb(self.p1, self.tmp.join("cache1"), "push", self.ref, "--plain-http",
                                "--artifact", artifact), 0)

    def check_cache(self, cache, repo_builder, commit):
        for path, f in repo_builder.files_at("main").items():
            with open(snapshot_path(cache, repo_builder.id, commit, path), "rb") as fh:
                self.assertEqual(hashlib.sha256(fh.read()).hexdigest(), f.sha256)

    def run_machine2(self):
        p2 = self.tmp.join("p2")
        os.makedirs(p2)
        write_manifest(os.path.join(p2, "modelbake.yaml"),
                       [{"repo": "org/tiny", "as": "tiny"}, {"repo": "org/other", "as": "other"}])
        cache2 = self.tmp.join("cache2")
        self.assertExit(self.mb(p2, cache2, "lock"), 0)
        self.hub.reset()
        proc = self.mb(p2, cache2, "fetch", "--locked", "--from", self.ref, "--plain-http")
        self.assertExit(proc, 0)
        return cache2

    def test_modelpack_provides_its_files_and_hub_the_rest(self):
        self.push("modelpack")
        cache2 = self.run_machine2()
        self.assertEqual(self.hub.requests(path="org/tiny"), [])
        self.assertTrue(self.hub.requests(path="org/other"))
        self.check_cache(cache2, self.tiny, self.tiny.resolve("main"))
        self.check_cache(cache2, self.other, self.other.resolve("main"))

    def test_image_provides_its_models(self):
        self.push("image")
        cache2 = self.run_machine2()
        self.assertEqual(self.hub.requests(path="org/tiny"), [])
        self.check_cache(cache2, self.tiny, self.tiny.resolve("main"))
        self.check_cache(cache2, self.other, self.other.resolve("main"))

    def test_unreachable_registry_falls_back_to_the_hub(self):
        self.ref = "127.0.0.1:9/shared/models:v1"
        cache2 = self.run_machine2()
        self.check_cache(cache2, self.tiny, self.tiny.resolve("main"))


if __name__ == "__main__":
    import unittest
    unittest.main()
