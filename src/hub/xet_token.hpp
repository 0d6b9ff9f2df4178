// The Xet read token of one repo at one revision, shared by every download of it: asked for
// once, asked for again shortly before it expires (30 s ahead, as xet-core) and whenever the
// CAS refuses it (401/403). Thread-safe: range workers of several files share one provider,
// and a refusal seen by many workers at once costs one new token, not one each.
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "core/env.hpp"
#include "core/error.hpp"
#include "hub/client.hpp"

namespace mb::hub {

class XetTokenProvider {
 public:
  static constexpr int64_t k_refresh_ahead_seconds = 30;

  XetTokenProvider(const HubClient& hub, RepoType type, std::string repo, std::string revision);

  // A token valid for at least k_refresh_ahead_seconds more (by the injected clock).
  Result<XetToken> get();
  // `refused` was rejected by the CAS: the next get() asks the hub for a new one (unless
  // another caller already replaced it).
  void invalidate(const std::string& refused);
  int tokens_fetched() const;

 private:
  const HubClient& m_hub;
  RepoType m_type;
  std::string m_repo, m_revision;
  mutable std::mutex m_mutex;
  std::optional<XetToken> m_token;
  int m_fetched = 0;
};

}  // namespace mb::hub
