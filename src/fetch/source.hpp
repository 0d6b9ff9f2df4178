// Where the bytes of one file come from. Downloads start at the hub's /resolve/ URL (one
// request for a regular file) and remember the location an absolute redirect points to
// (LFS: a signed CDN URL), so further range requests go straight there. A 403 from that
// location means the signature expired: the source forgets it and the next attempt asks
// /resolve/ again (re-resolve). Thread-safe: all range workers of a file share one source.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "core/env.hpp"
#include "core/error.hpp"
#include "hub/client.hpp"
#include "net/retry.hpp"
#include "net/transport.hpp"

namespace mb::fetch {

class FileSource {
 public:
  struct Target {
    std::string url;
    uint64_t generation = 0;
    bool redirected = false;  // url came from a redirect (not the /resolve/ URL itself)
  };

  FileSource(const hub::HubClient& hub, hub::RepoType type, std::string repo, std::string commit,
             std::string path, std::string label);

  Target current() const;
  // Follows the Location of a 3xx answered by `from` (relative or absolute).
  Status follow(const Target& from, const net::Response& response);
  // The location stopped working (signed URL expired): go back to /resolve/.
  void expire(const Target& from);
  // HEAD /resolve/ once (used before ranged downloads): checks that the hub still describes
  // the expected content and remembers the location.
  Status prime(std::string_view etag, uint64_t size);
  // The Xet hash the last prime() read from X-Xet-Hash (empty: not a Xet file, or no prime).
  std::string xet_hash() const;
  // True once after a prime() nobody used yet: the Xet probe's HEAD serves the bridge's
  // ranges that follow it, so a file that is not Xet costs no second HEAD.
  bool take_fresh_prime();

  const std::string& label() const { return m_label; }
  const hub::HubClient& hub() const { return m_hub; }
  hub::RepoType type() const { return m_type; }
  const std::string& repo() const { return m_repo; }

 private:
  const hub::HubClient& m_hub;
  hub::RepoType m_type;
  std::string m_repo, m_commit, m_path, m_label, m_resolve_url;
  mutable std::mutex m_mutex;
  Target m_target;
  std::string m_xet_hash;
  bool m_fresh_prime = false;
};

// One GET of `range` (nullopt: the whole file) with redirects followed and the response
// mapped: returns the 2xx Response after `sink` consumed the body, or an Error whose category
// says whether to retry. Sets attempt.retry_after from a 429/503's Retry-After.
Result<net::Response> exchange(FileSource& source, net::Transport& transport, Clock& clock,
                               const std::optional<net::ByteRange>& range, net::BodySink& sink,
                               net::Attempt& attempt);

// "bytes first-last/total" -> (first, last, total or nullopt for "*").
struct ContentRange {
  uint64_t first = 0, last = 0;
  std::optional<uint64_t> total;
};
std::optional<ContentRange> parse_content_range(std::string_view value);

}  // namespace mb::fetch
