#include <gtest/gtest.h>

#include <fstream>

#include "core/log.hpp"
#include "hub/config.hpp"
#include "support/temp_dir.hpp"

namespace mb::hub {
namespace {

void write(const std::string& path, const std::string& content) { std::ofstream(path) << content; }

TEST(HubConfig, EndpointPrecedence) {
  MapEnv env;
  EXPECT_EQ(resolve_endpoint(std::nullopt, env, std::nullopt).value(), "https://huggingface.co");
  EXPECT_EQ(resolve_endpoint(std::nullopt, env, std::string("http://manifest:1/")).value(),
            "http://manifest:1");
  env.set("HF_ENDPOINT", "http://env-mirror:8080//");
  EXPECT_EQ(resolve_endpoint(std::nullopt, env, std::string("http://manifest:1")).value(),
            "http://env-mirror:8080");
  EXPECT_EQ(
      resolve_endpoint(std::string("https://flag.test/"), env, std::string("http://m")).value(),
      "https://flag.test");
  // A path prefix is kept (mirrors serving the hub under a sub-path).
  EXPECT_EQ(resolve_endpoint(std::string("http://m.test/hf/"), env, std::nullopt).value(),
            "http://m.test/hf");
}

TEST(HubConfig, EndpointValidation) {
  MapEnv env;
  for (const char* bad : {"ftp://x", "huggingface.co", "http://u:p@host", "http://host/?q=1",
                          "http://host/#f", "http://bad host"}) {
    auto r = resolve_endpoint(std::string(bad), env, std::nullopt);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().category, ErrorCategory::usage);
    EXPECT_NE(r.error().message.find("--endpoint"), std::string::npos);
    EXPECT_EQ(r.error().message.find("u:p"), std::string::npos);
  }
  env.set("HF_ENDPOINT", "nonsense");
  auto r = resolve_endpoint(std::nullopt, env, std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("HF_ENDPOINT"), std::string::npos);
}

TEST(HubConfig, TokenPrecedenceAndTrimming) {
  test::TempDir dir;
  MapEnv env;
  env.set("HOME", dir.path() + "/nohome");
  EXPECT_FALSE(resolve_token(env).value().has_value());

  env.set("HF_HOME", dir.path());
  write(dir.path() + "/token", "  hf_fromhomefile\r\n");
  EXPECT_EQ(resolve_token(env).value().value(), "hf_fromhomefile");

  write(dir.path() + "/other", "hf_fromtokenpath\n");
  env.set("HF_TOKEN_PATH", dir.path() + "/other");
  EXPECT_EQ(resolve_token(env).value().value(), "hf_fromtokenpath");

  env.set("HF_TOKEN", " hf_fromenv \n");
  EXPECT_EQ(resolve_token(env).value().value(), "hf_fromenv");
  // Registered as a secret: never printed.
  EXPECT_EQ(log::redact("token=hf_fromenv"), "token=***");
}

TEST(HubConfig, MissingOrEmptyTokenFileMeansNoToken) {
  test::TempDir dir;
  MapEnv env;
  env.set("HF_TOKEN_PATH", dir.path() + "/does-not-exist");
  EXPECT_FALSE(resolve_token(env).value().has_value());
  write(dir.path() + "/empty", " \n\n");
  env.set("HF_TOKEN_PATH", dir.path() + "/empty");
  EXPECT_FALSE(resolve_token(env).value().has_value());
}

TEST(HubConfig, HfHomeDefaults) {
  MapEnv env;
  EXPECT_FALSE(hf_home_dir(env).has_value());
  env.set("HOME", "/home/u");
  EXPECT_EQ(hf_home_dir(env).value(), "/home/u/.cache/huggingface");
  env.set("XDG_CACHE_HOME", "/xdg");
  EXPECT_EQ(hf_home_dir(env).value(), "/xdg/huggingface");
  env.set("HF_HOME", "/hf");
  EXPECT_EQ(hf_home_dir(env).value(), "/hf");
}

}  // namespace
}  // namespace mb::hub
