// The one hub set-up of a run: `lock`, `fetch` and `verify --repair` build their hub client,
// transport and engine options here, from the same flags, so no path drops a setting
// (endpoint precedence, token, --retries, --metadata-timeout, offline mode).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/env.hpp"
#include "core/error.hpp"
#include "fetch/engine.hpp"
#include "hub/client.hpp"
#include "net/curl_transport.hpp"
#include "net/retry.hpp"
#include "net/transport.hpp"

namespace mb::fetch {

struct HubSettings {
  std::optional<std::string> endpoint_flag;      // --endpoint
  std::optional<std::string> manifest_endpoint;  // modelbake.yaml `endpoint:`
  int retries = 5;                               // --retries: tries after the first
  std::chrono::seconds metadata_timeout{60};     // --metadata-timeout
  std::string user_agent = "modelbake";          // "modelbake/<version>" (fetch may not see app/)
  // What the run needs from the hub and what to do instead, for the offline-mode error.
  std::string offline_what = "this run needs the hub";
  std::string offline_hint = "run it where the hub is reachable";
};

// "<setting> is set (offline mode), but <what>", hint "<hint>, or unset <VAR>" (exit 3: the
// network is needed and not available). `setting` is hub::offline_setting's "HF_HUB_OFFLINE=1".
Error offline_error(const std::string& setting, const std::string& what, const std::string& hint);

net::RetryPolicy retry_policy(int retries);

// The hub client's options; an error in offline mode or for a bad endpoint/token file.
Result<hub::ClientOptions> hub_client_options(const Env& env, const HubSettings& settings);

// Retries of downloads follow --retries too.
void apply_retries(const HubSettings& settings, FetchOptions& options);

struct Hub {
  std::unique_ptr<net::Transport> transport;  // libcurl's, or a test's scripted one
  std::unique_ptr<hub::HubClient> client;
};

// HF_HUB_DISABLE_XET (huggingface_hub's variable, true as env_is_true) turns Xet off, like
// --no-xet: every file then comes through the /resolve/ redirect (the bridge).
void apply_xet_setting(const Env& env, FetchOptions& options);

// Creates the transport and the client; no request is sent yet.
Result<Hub> open_hub(const Env& env, Clock& clock, const HubSettings& settings);

}  // namespace mb::fetch
