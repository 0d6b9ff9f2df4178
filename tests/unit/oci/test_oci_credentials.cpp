// Registry credentials as docker and podman users have them: auth files, their precedence,
// credential helpers (run through a fake ProcessRunner), identity tokens, secret redaction.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "core/env.hpp"
#include "core/log.hpp"
#include "oci/auth.hpp"
#include "support/temp_dir.hpp"

namespace mb::oci {
namespace {

class FakeRunner final : public ProcessRunner {
 public:
  Result<ProcessOutput> run(const std::vector<std::string>& argv, std::string_view input,
                            std::chrono::milliseconds timeout, size_t max_output) override {
    calls.push_back(argv);
    inputs.emplace_back(input);
    last_timeout = timeout;
    last_max_output = max_output;
    if (fails) return fail(ErrorCategory::io, argv[0] + " did not finish within 20 s");
    return output;
  }
  std::vector<std::vector<std::string>> calls;
  std::vector<std::string> inputs;
  std::chrono::milliseconds last_timeout{0};
  size_t last_max_output = 0;
  ProcessOutput output;
  bool fails = false;
};

class Credentials_ : public ::testing::Test {
 protected:
  void SetUp() override {
    bin = dir.path() + "/bin";
    ::mkdir(bin.c_str(), 0755);
    env.set("PATH", "/nonexistent:" + bin);
    env.set("HOME", dir.path() + "/home");
  }
  void write(const std::string& path, const std::string& text, int mode = 0644) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
  }
  void helper(const std::string& name) {
    write(bin + "/docker-credential-" + name, "#!/bin/sh\n", 0755);
  }
  void answer(const std::string& user, const std::string& secret) {
    runner.output.out =
        R"({"ServerURL":"x","Username":")" + user + R"(","Secret":")" + secret + R"("})";
  }
  static std::string basic(const std::string& host, const std::string& user,
                           const std::string& pass) {
    return R"({"auths":{")" + host + R"(":{"auth":")" + base64_encode(user + ":" + pass) +
           R"("}}})";
  }

  test::TempDir dir;
  std::string bin;
  MapEnv env;
  FakeRunner runner;
};

TEST_F(Credentials_, AuthFileNamesHelperForTheRegistryBeforeTheStore) {
  std::string cfg =
      R"({"credsStore":"desktop","credHelpers":{"reg.example:5000":"ecr-login"},"auths":{}})";
  auto a = parse_auth_file(cfg, "reg.example:5000", "config.json");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->helper, "ecr-login");
  EXPECT_FALSE(a->stored.has_value());
  auto b = parse_auth_file(cfg, "other.example", "config.json");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->helper, "desktop");
  auto c =
      parse_auth_file(R"({"auths":{"h":{"identitytoken":"refresh-abc"}}})", "h", "config.json");
  ASSERT_TRUE(c.ok() && c->stored.has_value());
  EXPECT_EQ(c->stored->identity_token, "refresh-abc");
  EXPECT_TRUE(c->helper.empty());
}

TEST_F(Credentials_, HelperGetsServerUrlOnStdinWithBoundedTimeAndOutput) {
  helper("test");
  write(dir.path() + "/home/.docker/config.json", R"({"credHelpers":{"reg.example:5000":"test"}})");
  answer("robot", "helper-secret-1");
  auto c = lookup_credentials(env, "reg.example:5000", runner);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->username, "robot");
  EXPECT_EQ((*c)->password, "helper-secret-1");
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0], (std::vector<std::string>{bin + "/docker-credential-test", "get"}));
  EXPECT_EQ(runner.inputs[0], "reg.example:5000");
  EXPECT_GT(runner.last_timeout.count(), 0);
  EXPECT_LE(runner.last_max_output, 1u << 20);
  EXPECT_EQ(log::redact("x helper-secret-1 y"), "x *** y");
}

TEST_F(Credentials_, DockerHubHelperGetsTheLegacyIndexUrl) {
  helper("store");
  write(dir.path() + "/home/.docker/config.json", R"({"credsStore":"store"})");
  answer("u", "hub-secret-1");
  ASSERT_TRUE(lookup_credentials(env, "docker.io", runner).ok());
  ASSERT_EQ(runner.inputs.size(), 1u);
  EXPECT_EQ(runner.inputs[0], "https://index.docker.io/v1/");
}

TEST_F(Credentials_, TokenUsernameMeansIdentityToken) {
  helper("test");
  write(dir.path() + "/home/.docker/config.json", R"({"credsStore":"test"})");
  answer("<token>", "refresh-token-xyz");
  auto c = lookup_credentials(env, "h", runner);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->identity_token, "refresh-token-xyz");
  EXPECT_EQ((*c)->username, "");
  EXPECT_EQ((*c)->password, "");
  EXPECT_EQ(log::redact("refresh-token-xyz"), "***");
}

TEST_F(Credentials_, HelperWithoutCredentialsFallsBackToAuths) {
  helper("test");
  write(dir.path() + "/home/.docker/config.json", R"({"credsStore":"test","auths":{"h":{"auth":")" +
                                                      base64_encode("a:stored-pw") + R"("}}})");
  runner.output.exit_code = 1;
  runner.output.out = "credentials not found in native keychain\n";
  auto c = lookup_credentials(env, "h", runner);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->password, "stored-pw");
}

TEST_F(Credentials_, MissingHelperProgramIsSkipped) {
  write(dir.path() + "/home/.docker/config.json", R"({"credsStore":"desktop"})");
  auto c = lookup_credentials(env, "h", runner);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  EXPECT_TRUE(runner.calls.empty());
}

TEST_F(Credentials_, FailingOrHostileHelpersAreAuthErrorsWithoutTheirSecrets) {
  helper("test");
  write(dir.path() + "/home/.docker/config.json", R"({"credsStore":"test"})");
  runner.output.exit_code = 3;
  runner.output.err = "keychain locked\nmore";
  auto failed = lookup_credentials(env, "h", runner);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().category, ErrorCategory::auth);
  EXPECT_NE(failed.error().message.find("keychain locked"), std::string::npos);
  runner.output = {};
  runner.output.out = "not json";
  EXPECT_FALSE(lookup_credentials(env, "h", runner).ok());
  runner.fails = true;
  auto slow = lookup_credentials(env, "h", runner);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().category, ErrorCategory::auth);
}

TEST_F(Credentials_, HelperNameCannotBeAPath) {
  write(dir.path() + "/home/.docker/config.json", R"({"credsStore":"../../tmp/evil"})");
  auto c = lookup_credentials(env, "h", runner);
  EXPECT_FALSE(c.ok());
  EXPECT_TRUE(runner.calls.empty());
}

TEST_F(Credentials_, PrecedenceEnvThenContainersAuthThenDockerConfig) {
  std::string podman = dir.path() + "/run/containers/auth.json";
  std::string custom = dir.path() + "/custom-auth.json";
  std::string docker = dir.path() + "/dockercfg/config.json";
  write(podman, basic("h", "p", "podman-pw"));
  write(custom, basic("h", "c", "custom-pw"));
  write(docker, basic("h", "d", "docker-pw"));
  write(dir.path() + "/home/.docker/config.json", basic("h", "home", "home-pw"));
  auto password = [&]() {
    auto c = lookup_credentials(env, "h", runner);
    return c.ok() && c->has_value() ? (*c)->password : std::string("-");
  };
  EXPECT_EQ(password(), "home-pw");
  env.set("DOCKER_CONFIG", dir.path() + "/dockercfg");
  EXPECT_EQ(password(), "docker-pw");
  env.set("XDG_RUNTIME_DIR", dir.path() + "/run");
  EXPECT_EQ(password(), "podman-pw");
  env.set("REGISTRY_AUTH_FILE", custom);
  EXPECT_EQ(password(), "custom-pw");
  env.set("MODELBAKE_REGISTRY_USER", "e");
  env.set("MODELBAKE_REGISTRY_PASSWORD", "env-pw");
  EXPECT_EQ(password(), "env-pw");
  // A file without an entry for the registry passes to the next one.
  MapEnv other;
  other.set("REGISTRY_AUTH_FILE", custom);
  other.set("DOCKER_CONFIG", dir.path() + "/dockercfg");
  write(custom, basic("elsewhere", "c", "custom-pw"));
  auto c = lookup_credentials(other, "h", runner);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->password, "docker-pw");
}

}  // namespace
}  // namespace mb::oci
