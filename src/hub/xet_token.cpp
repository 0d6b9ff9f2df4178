#include "hub/xet_token.hpp"

namespace mb::hub {

XetTokenProvider::XetTokenProvider(const HubClient& hub, RepoType type, std::string repo,
                                   std::string revision)
    : m_hub(hub), m_type(type), m_repo(std::move(repo)), m_revision(std::move(revision)) {}

Result<XetToken> XetTokenProvider::get() {
  // The lock is held across the request: concurrent callers wait for the one refresh.
  std::lock_guard lock(m_mutex);
  int64_t now = m_hub.clock().unix_seconds();
  if (m_token && m_token->exp - k_refresh_ahead_seconds > now) return *m_token;
  MB_ASSIGN(XetToken fresh, m_hub.xet_read_token(m_type, m_repo, m_revision));
  ++m_fetched;
  m_token = fresh;
  return fresh;
}

void XetTokenProvider::invalidate(const std::string& refused) {
  std::lock_guard lock(m_mutex);
  if (m_token && m_token->access_token == refused) m_token.reset();
}

int XetTokenProvider::tokens_fetched() const {
  std::lock_guard lock(m_mutex);
  return m_fetched;
}

}  // namespace mb::hub
