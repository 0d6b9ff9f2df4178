#include "fetch/source.hpp"

#include <charconv>
#include <utility>

#include "net/url.hpp"

namespace mb::fetch {

namespace {
constexpr int k_max_redirects = 5;

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

FileSource::FileSource(const hub::HubClient& hub, hub::RepoType type, std::string repo,
                       std::string commit, std::string path, std::string label)
    : m_hub(hub),
      m_type(type),
      m_repo(std::move(repo)),
      m_commit(std::move(commit)),
      m_path(std::move(path)),
      m_label(std::move(label)) {
  m_resolve_url = m_hub.resolve_url(m_type, m_repo, m_commit, m_path);
  m_target = Target{m_resolve_url, 0, false};
}

FileSource::Target FileSource::current() const {
  std::lock_guard lock(m_mutex);
  return m_target;
}

Status FileSource::follow(const Target& from, const net::Response& response) {
  auto location = response.headers.get("Location");
  if (!location || location->empty()) {
    return fail(ErrorCategory::permanent,
                "HTTP " + std::to_string(response.status) + " without Location for " + m_label);
  }
  auto next = net::resolve_reference(from.url, *location);
  if (!next.ok()) {
    return fail(ErrorCategory::permanent,
                "bad redirect for " + m_label + ": " + next.error().message);
  }
  std::lock_guard lock(m_mutex);
  if (m_target.generation == from.generation) {
    m_target = Target{*next, from.generation + 1, true};
  }
  return {};
}

void FileSource::expire(const Target& from) {
  std::lock_guard lock(m_mutex);
  if (m_target.generation == from.generation) {
    m_target = Target{m_resolve_url, from.generation + 1, false};
  }
}

Status FileSource::prime(std::string_view etag, uint64_t size) {
  MB_ASSIGN(hub::FileMetadata meta, m_hub.file_metadata(m_type, m_repo, m_commit, m_path));
  if (meta.etag != etag || meta.size != size) {
    return fail(ErrorCategory::integrity,
                "the hub describes different content for " + m_label + " (etag " + meta.etag +
                    ", " + std::to_string(meta.size) + " bytes) than expected (etag " +
                    std::string(etag) + ", " + std::to_string(size) + " bytes)",
                "the lock no longer matches the hub; check the mirror or run `modelbake lock`");
  }
  std::lock_guard lock(m_mutex);
  m_target = Target{meta.location, m_target.generation + 1, meta.redirected};
  m_xet_hash = meta.xet_hash;
  m_fresh_prime = true;
  return {};
}

bool FileSource::take_fresh_prime() {
  std::lock_guard lock(m_mutex);
  return std::exchange(m_fresh_prime, false);
}

std::string FileSource::xet_hash() const {
  std::lock_guard lock(m_mutex);
  return m_xet_hash;
}

Result<net::Response> exchange(FileSource& source, net::Transport& transport, Clock& clock,
                               const std::optional<net::ByteRange>& range, net::BodySink& sink,
                               net::Attempt& attempt) {
  for (int redirects = 0;; ++redirects) {
    FileSource::Target target = source.current();
    net::Request request = source.hub().download_request(target.url, range);
    MB_ASSIGN(net::Response response, transport.perform(request, &sink));
    if (response.is_success()) return response;
    if (response.is_redirect()) {
      if (redirects >= k_max_redirects) {
        return fail(ErrorCategory::permanent, "too many redirects for " + source.label());
      }
      MB_TRY(source.follow(target, response));
      continue;
    }
    if (response.status == 403 && target.redirected) {
      // A signed CDN URL expired (or was revoked): ask the hub for a fresh one.
      source.expire(target);
      return fail(ErrorCategory::transient, "download location for " + source.label() +
                                                " refused access (403); re-resolving");
    }
    if (response.status == 429 || response.status == 503) {
      attempt.retry_after = net::retry_after_of(response, clock);
    }
    return source.hub().error_from_response(response, source.type(), source.repo(), source.label());
  }
}

std::optional<ContentRange> parse_content_range(std::string_view v) {
  constexpr std::string_view prefix = "bytes ";
  if (v.substr(0, prefix.size()) != prefix) return std::nullopt;
  v.remove_prefix(prefix.size());
  size_t dash = v.find('-'), slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) {
    return std::nullopt;
  }
  ContentRange cr;
  if (!parse_u64(v.substr(0, dash), cr.first) ||
      !parse_u64(v.substr(dash + 1, slash - dash - 1), cr.last) || cr.last < cr.first) {
    return std::nullopt;
  }
  std::string_view total = v.substr(slash + 1);
  if (total != "*") {
    uint64_t t = 0;
    if (!parse_u64(total, t) || cr.last >= t) return std::nullopt;
    cr.total = t;
  }
  return cr;
}

}  // namespace mb::fetch
