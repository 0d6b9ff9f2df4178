// Registry authentication pieces that need no network: WWW-Authenticate challenge parsing,
// credential lookup (environment, auth files, docker credential helpers; see
// docs/registry-protocol.md "Credentials"), base64. The flow that uses them (anonymous first,
// then Basic or Bearer on 401) lives in client.cpp.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.hpp"
#include "core/error.hpp"
#include "core/process.hpp"

namespace mb::oci {

struct Challenge {
  std::string scheme;                         // lower-case: "basic", "bearer", ...
  std::map<std::string, std::string> params;  // parameter names lower-cased, values unquoted

  std::string param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  }
};

// Parses a WWW-Authenticate header value (RFC 7235): one or more challenges, each a scheme
// followed by comma-separated auth-params with token or quoted-string values. Unparseable
// trailing input is ignored (what was parsed so far is returned).
std::vector<Challenge> parse_www_authenticate(std::string_view header);

struct Credentials {
  std::string username;
  std::string password;
  // An OAuth2 refresh token (a helper's "<token>" user, a config's "identitytoken"): traded
  // at the token realm for access tokens; username/password are then unused.
  std::string identity_token;
};

std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

// The credentials a docker config (the JSON text of config.json) holds for `registry`
// ("host[:port]"). Keys of "auths" match with or without scheme and path
// ("https://host:port/v1/"); Docker Hub's "https://index.docker.io/v1/" also answers for
// docker.io. A bad "auth" value is a usage error naming the file; no entry is nullopt.
Result<std::optional<Credentials>> credentials_from_docker_config(std::string_view json_text,
                                                                  std::string_view registry,
                                                                  std::string_view source);

// What one auth file (docker config.json or containers auth.json) says about `registry`: the
// credential helper to ask ("credHelpers" entry for the registry, else "credsStore") and the
// credentials stored in "auths" (used when there is no helper or it has none).
struct AuthFileAnswer {
  std::string helper;  // "" = none; else the <name> of docker-credential-<name>
  std::optional<Credentials> stored;
};
Result<AuthFileAnswer> parse_auth_file(std::string_view json_text, std::string_view registry,
                                       std::string_view source);

// Runs `docker-credential-<helper> get` (found on the Env's PATH, no shell, 20 s, 64 KiB of
// output) with the registry's server URL on stdin. nullopt when the helper has no
// credentials for it; a username "<token>" makes the secret an identity token.
Result<std::optional<Credentials>> credentials_from_helper(const Env& env, ProcessRunner& runner,
                                                           const std::string& helper,
                                                           std::string_view registry);

// In order, the first that has credentials for `registry` wins:
//  1. MODELBAKE_REGISTRY_USER + MODELBAKE_REGISTRY_PASSWORD (both needed);
//  2. $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json (podman, skopeo, buildah);
//  3. $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json.
// Within a file: its helper (credHelpers, then credsStore), then its "auths" entry. A missing
// file or helper program is skipped (the latter with a warning). Every secret found is
// registered with log::add_secret.
Result<std::optional<Credentials>> lookup_credentials(const Env& env, std::string_view registry,
                                                      ProcessRunner& runner);

// Registers a credential's secret forms with the log redactor.
void register_secret(const Credentials& creds);

}  // namespace mb::oci
