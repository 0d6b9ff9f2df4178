// Registry authentication pieces that need no network: WWW-Authenticate challenge parsing,
// credential lookup (environment, then ~/.docker/config.json "auths"), base64. The flow that
// uses them (anonymous first, then Basic or Bearer on 401) lives in client.cpp.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.hpp"
#include "core/error.hpp"

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

// MODELBAKE_REGISTRY_USER/MODELBAKE_REGISTRY_PASSWORD (both needed), else the docker config
// at $DOCKER_CONFIG/config.json or $HOME/.docker/config.json. Every secret found is
// registered with log::add_secret (password, and the base64 user:password form).
Result<std::optional<Credentials>> lookup_credentials(const Env& env, std::string_view registry);

// Registers a credential's secret forms with the log redactor.
void register_secret(const Credentials& creds);

}  // namespace mb::oci
