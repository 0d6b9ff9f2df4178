"""Builds the repository's Dockerfiles the way a user does, offline, with Debian's buildah
(label `dockerbuild`: minutes, so not in the default test command; .ci/run runs it).

Once per run: a `debian:bookworm-slim` base made with mmdebstrap (cached between runs), then
docker/modelbake.Dockerfile as shipped (the tool image every service Dockerfile starts FROM).
Then, against the test hub on loopback, serving a tiny model under the embedder's repo id:

* the lock is made with nothing but the tool image (the command each Dockerfile header shows);
* docker/embedder.Dockerfile's model stage fetches through `--build-arg HF_ENDPOINT`;
* a gated repo: refused without the token, fetched with it as a secret file, and the token is
  in no layer of the image and no build log;
* a missing lock fails the model stage with the command that makes it;
* the README's and docs/bundles.md's examples build, run `modelbake-verify --stamp` in the
  final stage, keep the HEALTHCHECK, and `--health` passes (and fails once a file changes).
"""

import os
import sys
import time
import unittest

import gen_tiny_models  # tests/support (torch)
from mbbuildah import Buildah, base_image_tar, copy_into, dockerfile_block, read_blob
from mbtest import MbTestCase, RepoBuilder, source_dir

TOOL = "modelbake:local"
REPO = "sentence-transformers/all-MiniLM-L6-v2"  # what manifests/embedder/modelbake.yaml names
TOKEN = "hf_dockerbuild_secret_7c1e9a0b5d"
# The README's final stage starts FROM the python image, which has libssl3 and cannot be
# pulled here: a local stand-in with what modelbake-verify needs takes its place.
PYTHON_STANDIN = "localhost/mbtest-python-standin:1"
STANDIN_FILE = """FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 \\
 && rm -rf /var/lib/apt/lists/*
"""


def tiny_embedder_repo(tmp, gated=False):
    """A tiny random BERT sentence-transformer under the embedder manifest's repo id."""
    out = gen_tiny_models.make_model(os.path.join(tmp, "gen"), "bert")
    repo = RepoBuilder(REPO, gated=gated)
    for root, _, files in os.walk(out):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, out)
            with open(path, "rb") as f:
                repo.add_file(rel, f.read(), lfs=rel.endswith(".safetensors"))
    return repo


class DockerfileBuild(MbTestCase):
    store = None

    @classmethod
    def setUpClass(cls):
        cls.store = Buildah("dockerbuild-%d" % os.getpid())
        try:
            log = cls.store.log("base")
            started = time.monotonic()
            tar = base_image_tar(log)
            cls.store.import_rootfs(tar, "docker.io/library/debian:bookworm-slim", log)
            sys.stderr.write("base image ready in %.0f s (%s)\n" % (time.monotonic() - started, tar))
            # docker/modelbake.Dockerfile exactly as shipped, the repository as its context.
            _, seconds = cls.store.bud(os.path.join(source_dir(), "docker", "modelbake.Dockerfile"),
                                       source_dir(), TOOL, cls.store.log("tool-image"))
            sys.stderr.write("tool image built in %.0f s (log %s)\n" % (seconds, cls.store.log("tool-image")))
            standin = os.path.join(cls.store.dir, "standin")
            os.makedirs(standin)
            with open(os.path.join(standin, "Containerfile"), "w") as f:
                f.write(STANDIN_FILE)
            cls.store.bud(os.path.join(standin, "Containerfile"), standin, PYTHON_STANDIN,
                          cls.store.log("standin"))
        except BaseException:
            cls.store.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.store.stop()

    def setUp(self):
        super().setUp()
        self.logs = []

    def log(self, what):
        """A fresh log file for one command of this test (kept under build/Testing/dockerbuild)."""
        path = self.store.log("%s-%d-%s" % (self._testMethodName, len(self.logs), what))
        if os.path.exists(path):
            os.unlink(path)
        self.logs.append(path)
        return path

    # ---- helpers ----------------------------------------------------------------------------

    def embedder_context(self):
        """A build context holding manifests/embedder/modelbake.yaml as shipped."""
        ctx = self.tmp.join("ctx")
        copy_into(os.path.join(source_dir(), "manifests", "embedder", "modelbake.yaml"),
                  os.path.join(ctx, "manifests", "embedder", "modelbake.yaml"))
        return ctx

    def lock_with_tool_image(self, ctx, manifest, hub, token_file=None):
        """docs/bundles.md's buildah form of
        `docker run --rm -v "$PWD:/w" -w /w modelbake:local lock -f MANIFEST`."""
        volumes = ["%s:/w" % ctx]
        env = {"HF_ENDPOINT": hub.url}
        if token_file:
            volumes.append("%s:/run/secrets/hf_token:ro" % token_file)
            env["HF_TOKEN_PATH"] = "/run/secrets/hf_token"
        code = self.store.run(TOOL, ["modelbake", "lock", "-f", manifest], self.log("lock"),
                              volumes=volumes, env=env, workdir="/w")
        self.assertEqual(code, 0)
        lock = os.path.join(ctx, os.path.dirname(manifest), "modelbake.lock")
        self.assertTrue(os.path.isfile(lock), lock)
        return lock

    def build_models_stage(self, ctx, tag, hub, secret=None, check=True):
        return self.store.bud(os.path.join(source_dir(), "docker", "embedder.Dockerfile"), ctx, tag,
                              self.log("models"), build_args={"HF_ENDPOINT": hub.url},
                              secrets={"hf_token": secret} if secret else None, target="models",
                              check=check)

    def token_file(self):
        path = self.tmp.join("hf_token")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(TOKEN + "\n")
        return path

    def assert_healthy_image(self, image):
        config = self.store.inspect(image)["Docker"]["config"]
        self.assertEqual(config["Healthcheck"]["Test"][:3], ["CMD", "modelbake-verify", "--health"])
        log = self.log("health")
        self.assertEqual(self.store.run(image, ["modelbake-verify", "--health", "/models"], log), 0)
        # The health check is a real check: one changed byte makes the container unhealthy.
        tamper = 'f=$(find /models -path "*/blobs/*" -type f | head -n 1); [ -n "$f" ] || exit 3; ' \
                 'echo >> "$f" && exec modelbake-verify --health /models'
        self.assertEqual(self.store.run(image, ["sh", "-c", tamper], log, check=False), 1)

    # ---- the tests --------------------------------------------------------------------------

    def test_tool_image_runs_both_binaries(self):
        log = self.log("version")
        self.assertEqual(self.store.run(TOOL, ["modelbake", "--version"], log), 0)
        self.assertEqual(self.store.run(TOOL, ["modelbake-verify", "--help"], log), 0)
        self.assertEqual(self.store.inspect(TOOL)["Docker"]["config"]["Entrypoint"], ["modelbake"])

    def test_model_stage_fetches_through_the_endpoint_build_arg(self):
        hub = self.start_hub(tiny_embedder_repo(self.tmp.path))
        ctx = self.embedder_context()
        self.lock_with_tool_image(ctx, "manifests/embedder/modelbake.yaml", hub)
        hub.reset()
        self.build_models_stage(ctx, "localhost/embedder-models:1", hub)
        fetched = hub.requests(path="/resolve/", method="GET")
        self.assertTrue(fetched, "the build did not fetch from the test hub")
        # The exported bundle matches the lock, byte for byte.
        code = self.store.run("localhost/embedder-models:1", ["modelbake-verify", "/out/models"],
                              self.log("verify"))
        self.assertEqual(code, 0)

    def test_gated_repo_token_as_secret_is_in_no_layer_or_log(self):
        hub = self.start_hub(tiny_embedder_repo(self.tmp.path, gated=True), tokens=[TOKEN])
        ctx = self.embedder_context()
        token_file = self.token_file()
        self.lock_with_tool_image(ctx, "manifests/embedder/modelbake.yaml", hub, token_file)
        code, _ = self.build_models_stage(ctx, "localhost/gated-models:0", hub, check=False)
        self.assertNotEqual(code, 0, "a gated repo was fetched without the token")
        with open(self.logs[-1], errors="replace") as f:
            self.assertIn("exit status 4", f.read())  # modelbake's exit code for auth
        self.build_models_stage(ctx, "localhost/gated-models:1", hub, secret=token_file)
        oci = self.tmp.join("oci")
        blobs = self.store.push_oci("localhost/gated-models:1", oci, self.log("push"))
        self.assertGreater(len(blobs), 2)
        secret = TOKEN.encode()
        for media_type, path in blobs:
            self.assertNotIn(secret, read_blob(media_type, path), "token in %s %s" % (media_type, path))
        # The scan can see a token: the layer that holds the exported lock is among those read.
        self.assertTrue(any(b"modelbake.lock" in read_blob(m, p) for m, p in blobs[1:]))
        for log in self.logs:
            with open(log, "rb") as f:
                self.assertNotIn(secret, f.read(), log)
        self.assertEqual(self.store.run("localhost/gated-models:1",
                                        ["sh", "-c", "! test -e /run/secrets/hf_token"], self.log("ls")), 0)

    def test_missing_lock_says_how_to_make_it(self):
        hub = self.start_hub(tiny_embedder_repo(self.tmp.path))
        ctx = self.embedder_context()
        code, _ = self.build_models_stage(ctx, "localhost/unlocked:1", hub, check=False)
        self.assertNotEqual(code, 0)
        with open(self.logs[-1], errors="replace") as f:
            text = f.read()
        self.assertIn("manifests/embedder/modelbake.lock is missing", text)
        self.assertIn('docker run --rm -v "$PWD:/w" -w /w modelbake:local lock -f '
                      "manifests/embedder/modelbake.yaml", text)
        self.assertFalse(hub.requests(path="/resolve/"))

    def build_example(self, dockerfile_text, hub, tag):
        ctx = self.tmp.join("example")
        os.makedirs(ctx)
        copy_into(os.path.join(source_dir(), "manifests", "embedder", "modelbake.yaml"),
                  os.path.join(ctx, "modelbake.yaml"))
        self.lock_with_tool_image(ctx, "modelbake.yaml", hub)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(dockerfile_text)
        self.store.bud(os.path.join(ctx, "Dockerfile"), ctx, tag, self.log("build"),
                       build_args={"HF_ENDPOINT": hub.url})
        with open(self.logs[-1], errors="replace") as f:
            self.assertIn("modelbake-verify --stamp", f.read().replace('", "', " "))

    def test_readme_example_builds_and_is_healthy(self):
        hub = self.start_hub(tiny_embedder_repo(self.tmp.path))
        text = dockerfile_block(os.path.join(source_dir(), "README.md"), "## In a Dockerfile")
        self.assertIn("FROM python:3.11-slim-bookworm\n", text)
        self.build_example(text.replace("FROM python:3.11-slim-bookworm\n", "FROM %s\n" % PYTHON_STANDIN),
                           hub, "localhost/readme-example:1")
        self.assert_healthy_image("localhost/readme-example:1")

    def test_bare_debian_final_stage_from_the_docs_builds_and_is_healthy(self):
        hub = self.start_hub(tiny_embedder_repo(self.tmp.path))
        text = dockerfile_block(os.path.join(source_dir(), "docs", "bundles.md"),
                                "### A bare debian:bookworm-slim final stage")
        self.assertIn("FROM debian:bookworm-slim\n", text)
        self.build_example(text, hub, "localhost/slim-example:1")
        self.assert_healthy_image("localhost/slim-example:1")


if __name__ == "__main__":
    unittest.main()
