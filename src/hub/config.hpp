// Where the hub is and which token to use, decided exactly like huggingface_hub, from an
// injected Env so the precedence is unit-testable.
#pragma once

#include <optional>
#include <string>

#include "core/env.hpp"
#include "core/error.hpp"

namespace mb::hub {

inline constexpr const char* k_default_endpoint = "https://huggingface.co";

// --endpoint flag, then HF_ENDPOINT, then the manifest's endpoint, then
// https://huggingface.co. Trailing '/' characters are stripped. The chosen value must be an
// http(s) URL without query, fragment or userinfo (usage error naming its source otherwise).
Result<std::string> resolve_endpoint(const std::optional<std::string>& flag, const Env& env,
                                     const std::optional<std::string>& manifest_endpoint);

// HF_TOKEN, then the file at HF_TOKEN_PATH, then $HF_HOME/token (HF_HOME defaults to
// $HOME/.cache/huggingface; XDG_CACHE_HOME is honoured as huggingface_hub does). The value is
// trimmed of whitespace/CR/LF; empty means none. A missing token file is not an error; an
// unreadable one is (io). A found token is registered with log::add_secret.
// HF_HUB_DISABLE_IMPLICIT_TOKEN (true as env_is_true): no token at all, as huggingface_hub
// sends none unless one is passed explicitly (modelbake has no explicit token option).
Result<std::optional<std::string>> resolve_token(const Env& env);

// Offline mode as huggingface_hub decides it: _is_true(HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)
// (TRANSFORMERS_OFFLINE counts only when HF_HUB_OFFLINE is unset or empty). Returns the
// setting that enabled it ("HF_HUB_OFFLINE=1") for messages, nullopt when online.
std::optional<std::string> offline_setting(const Env& env);

}  // namespace mb::hub
