#include "hub/config.hpp"

#include <filesystem>
#include <system_error>

#include "core/file.hpp"
#include "core/log.hpp"
#include "net/url.hpp"

namespace mb::hub {
namespace {

std::string trim_token(std::string_view raw) {
  std::string out;
  for (char c : raw) {
    if (c != '\r' && c != '\n') out += c;
  }
  size_t b = out.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  size_t e = out.find_last_not_of(" \t");
  return out.substr(b, e - b + 1);
}

Result<std::string> check_endpoint(std::string value, const std::string& source) {
  while (!value.empty() && value.back() == '/') value.pop_back();
  auto url = net::parse_url(value);
  if (!url.ok()) {
    return fail(ErrorCategory::usage,
                "endpoint from " + source + " is not valid: " + url.error().message,
                "use an http:// or https:// URL such as https://huggingface.co");
  }
  if (!url->userinfo.empty() || !url->query().empty() ||
      url->target.find('?') != std::string::npos || value.find('#') != std::string::npos) {
    return fail(ErrorCategory::usage,
                "endpoint from " + source + " must not contain credentials, a query or a fragment",
                "pass the token with HF_TOKEN instead");
  }
  return value;
}

}  // namespace

std::optional<std::string> offline_setting(const Env& env) {
  const char* name = "HF_HUB_OFFLINE";
  auto value = env.get(name);
  if (!value) {
    name = "TRANSFORMERS_OFFLINE";
    value = env.get(name);
  }
  if (!env_is_true(value)) return std::nullopt;
  return std::string(name) + "=" + *value;
}

Result<std::string> resolve_endpoint(const std::optional<std::string>& flag, const Env& env,
                                     const std::optional<std::string>& manifest_endpoint) {
  if (flag && !flag->empty()) return check_endpoint(*flag, "--endpoint");
  if (auto v = env.get("HF_ENDPOINT")) return check_endpoint(*v, "HF_ENDPOINT");
  if (manifest_endpoint && !manifest_endpoint->empty()) {
    return check_endpoint(*manifest_endpoint, "the manifest");
  }
  return std::string(k_default_endpoint);
}

Result<std::optional<std::string>> resolve_token(const Env& env) {
  auto found = [](std::string token) -> std::optional<std::string> {
    if (token.empty()) return std::nullopt;
    log::add_secret(token);
    return token;
  };
  if (env_is_true(env.get("HF_HUB_DISABLE_IMPLICIT_TOKEN"))) {
    log::debug("HF_HUB_DISABLE_IMPLICIT_TOKEN is set: no token is sent");
    return std::optional<std::string>();
  }
  if (auto v = env.get("HF_TOKEN")) return found(trim_token(*v));
  // Legacy name still honoured by huggingface_hub.
  if (auto v = env.get("HUGGING_FACE_HUB_TOKEN")) return found(trim_token(*v));
  std::string path;
  if (auto v = env.get("HF_TOKEN_PATH")) {
    path = expand_path(*v, env);
  } else if (auto home = hf_home_dir(env)) {
    path = *home + "/token";
  } else {
    return std::optional<std::string>();
  }
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<std::string>();
  auto content = read_file(path, 64 * 1024);
  if (!content.ok()) {
    Error e = content.take_error();
    if (e.category != ErrorCategory::io) e.category = ErrorCategory::io;
    return e.with_context("reading the hub token file");
  }
  return found(trim_token(*content));
}

}  // namespace mb::hub
