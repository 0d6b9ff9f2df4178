// Registry credential lookup: environment, auth files, docker credential helpers.
#include <nlohmann/json.hpp>

#include "core/file.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "oci/auth.hpp"

namespace mb::oci {

namespace {

constexpr std::chrono::milliseconds k_helper_timeout{20'000};
constexpr size_t k_helper_output = 64u << 10;

// A helper name becomes part of a program name: no path separators or odd characters.
bool valid_helper_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  }
  return name != "." && name != "..";
}

// What docker hands a helper on stdin: Docker Hub's legacy URL, else host[:port].
std::string server_url(std::string_view registry) {
  if (registry == "docker.io" || registry == "index.docker.io" ||
      registry == "registry-1.docker.io") {
    return "https://index.docker.io/v1/";
  }
  return std::string(registry);
}

// First line of a helper's message, printable, short (it never holds the secret: only failures are
// shown).
std::string first_line(const std::string& text) {
  return sanitize_for_display(text.substr(0, text.find('\n')));
}

// The auth files in the documented order, each with its path.
std::vector<std::string> auth_files(const Env& env) {
  std::vector<std::string> files;
  if (auto f = env.get("REGISTRY_AUTH_FILE")) {
    files.push_back(*f);
  } else if (auto run = env.get("XDG_RUNTIME_DIR")) {
    files.push_back(*run + "/containers/auth.json");
  }
  if (auto dir = env.get("DOCKER_CONFIG")) {
    files.push_back(*dir + "/config.json");
  } else if (auto home = env.get("HOME")) {
    files.push_back(*home + "/.docker/config.json");
  }
  return files;
}

Result<std::optional<Credentials>> from_file(const Env& env, ProcessRunner& runner,
                                             const std::string& path, std::string_view registry) {
  auto text = read_file(path, 4u << 20);
  if (!text.ok()) return std::optional<Credentials>();  // no such file: the next source
  MB_ASSIGN(AuthFileAnswer answer, parse_auth_file(*text, registry, path));
  if (!answer.helper.empty()) {
    MB_ASSIGN(auto creds, credentials_from_helper(env, runner, answer.helper, registry));
    if (creds) {
      log::debug("using credentials for " + std::string(registry) + " from docker-credential-" +
                 answer.helper + " (" + path + ")");
      return creds;
    }
  }
  if (answer.stored) log::debug("using credentials for " + std::string(registry) + " from " + path);
  return answer.stored;
}

}  // namespace

Result<std::optional<Credentials>> credentials_from_helper(const Env& env, ProcessRunner& runner,
                                                           const std::string& helper,
                                                           std::string_view registry) {
  std::string program = "docker-credential-" + helper;
  if (!valid_helper_name(helper)) {
    return fail(ErrorCategory::usage,
                "credential helper name '" + first_line(helper) + "' is not a plain name",
                "fix credsStore/credHelpers in the docker config or containers auth file");
  }
  std::string path = find_in_path(program, env.get("PATH").value_or(""));
  if (path.empty()) {
    log::warn(program + " is not on PATH; trying the stored credentials for " +
              std::string(registry));
    return std::optional<Credentials>();
  }
  auto out = runner.run({path, "get"}, server_url(registry), k_helper_timeout, k_helper_output);
  if (!out.ok()) {
    return fail(ErrorCategory::auth, program + " failed: " + out.error().message,
                "check the helper with: echo " + server_url(registry) + " | " + program + " get");
  }
  if (out->exit_code != 0) {
    // docker-credential-helpers print "credentials not found in native keychain" and exit 1.
    if (out->out.find("credentials not found") != std::string::npos)
      return std::optional<Credentials>();
    return fail(ErrorCategory::auth,
                program + " get exited with " + std::to_string(out->exit_code) + ": " +
                    first_line(out->err.empty() ? out->out : out->err),
                "log in again (docker login " + std::string(registry) + ") or fix the helper");
  }
  auto doc = nlohmann::json::parse(out->out, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() ||
      !doc.value("Username", nlohmann::json()).is_string() ||
      !doc.value("Secret", nlohmann::json()).is_string()) {
    return fail(ErrorCategory::auth,
                program + " get did not print {\"Username\": ..., \"Secret\": ...}",
                "check the helper with: echo " + server_url(registry) + " | " + program + " get");
  }
  Credentials c;
  std::string user = doc["Username"].get<std::string>(), secret = doc["Secret"].get<std::string>();
  if (secret.empty()) return std::optional<Credentials>();
  if (user == "<token>") {
    c.identity_token = secret;
  } else {
    c.username = user;
    c.password = secret;
  }
  register_secret(c);
  return std::optional<Credentials>(std::move(c));
}

Result<std::optional<Credentials>> lookup_credentials(const Env& env, std::string_view registry,
                                                      ProcessRunner& runner) {
  auto user = env.get("MODELBAKE_REGISTRY_USER");
  auto password = env.get("MODELBAKE_REGISTRY_PASSWORD");
  if (user && password) {
    Credentials c{*user, *password, ""};
    register_secret(c);
    return std::optional<Credentials>(c);
  }
  if (user || password) {
    return fail(ErrorCategory::usage,
                "only one of MODELBAKE_REGISTRY_USER and MODELBAKE_REGISTRY_PASSWORD is set",
                "set both, or neither to use the docker/podman login");
  }
  for (const auto& path : auth_files(env)) {
    MB_ASSIGN(auto creds, from_file(env, runner, path, registry));
    if (creds) {
      register_secret(*creds);
      return creds;
    }
  }
  return std::optional<Credentials>();
}

}  // namespace mb::oci
