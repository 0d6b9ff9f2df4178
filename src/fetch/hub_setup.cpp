#include "fetch/hub_setup.hpp"

#include "core/log.hpp"
#include "hub/config.hpp"

namespace mb::fetch {

Error offline_error(const std::string& setting, const std::string& what, const std::string& hint) {
  std::string var = setting.substr(0, setting.find('='));
  return make_error(ErrorCategory::permanent, setting + " is set (offline mode), but " + what,
                    hint + ", or unset " + var);
}

net::RetryPolicy retry_policy(int retries) {
  net::RetryPolicy p;
  p.max_attempts = retries + 1;
  return p;
}

Result<hub::ClientOptions> hub_client_options(const Env& env, const HubSettings& settings) {
  if (auto offline = hub::offline_setting(env)) {
    return offline_error(*offline, settings.offline_what, settings.offline_hint);
  }
  hub::ClientOptions options;
  MB_ASSIGN(options.endpoint,
            hub::resolve_endpoint(settings.endpoint_flag, env, settings.manifest_endpoint));
  MB_ASSIGN(options.token, hub::resolve_token(env));
  options.retry = retry_policy(settings.retries);
  options.metadata_timeout = settings.metadata_timeout;
  return options;
}

void apply_retries(const HubSettings& settings, FetchOptions& options) {
  options.download.retry = retry_policy(settings.retries);
}

Result<Hub> open_hub(const Env& env, Clock& clock, const HubSettings& settings) {
  MB_ASSIGN(hub::ClientOptions options, hub_client_options(env, settings));
  net::CurlOptions curl;
  curl.user_agent = settings.user_agent;
  Hub h;
  MB_ASSIGN(h.transport, net::CurlTransport::create(curl));
  log::debug("hub endpoint " + options.endpoint +
             (options.token ? " (with token)" : " (anonymous)"));
  h.client = std::make_unique<hub::HubClient>(*h.transport, clock, options);
  return h;
}

void apply_xet_setting(const Env& env, FetchOptions& options) {
  if (env_is_true(env.get("HF_HUB_DISABLE_XET"))) options.download.xet = false;
}

}  // namespace mb::fetch
