// The CAS half of a Xet download (hub-docs docs/xet/api.md, download-protocol.md):
// reconstruction queries with the Xet token (v2, falling back to v1 on 404/501 and
// remembering it), and GETs of signed xorb ranges with no credentials at all. The hub token
// never goes here: requests are built from scratch with the Xet token as their only bearer,
// bound to the CAS URL's scheme, host and port, so it reaches nothing else either.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/env.hpp"
#include "core/error.hpp"
#include "hub/xet_token.hpp"
#include "net/retry.hpp"
#include "net/transport.hpp"
#include "xet/reconstruction.hpp"

namespace mb::xet {

struct CasOptions {
  net::RetryPolicy retry;
  std::chrono::milliseconds connect_timeout{15'000};
  std::chrono::milliseconds metadata_timeout{60'000};
  // Xorb ranges: a connection slower than low_speed_limit bytes/s for low_speed_time is a
  // stall (the download then fails over to the bridge); plus a size-scaled deadline.
  uint32_t low_speed_limit = 1024;
  std::chrono::seconds low_speed_time{30};
  std::chrono::milliseconds range_base{120'000};
  uint64_t range_min_rate = 32 * 1024;
};

class CasClient {
 public:
  CasClient(net::Transport& transport, Clock& clock, hub::XetTokenProvider& tokens,
            CasOptions options);

  // The terms and fetches for file bytes [first, last] (inclusive). A refused token is
  // replaced once per query; transient failures are retried by the policy.
  Result<Reconstruction> reconstruction(const std::string& file_id, uint64_t first, uint64_t last);

  // Whole-file reconstructions of several files in one POST /v1/reconstructions (api.md
  // endpoint 5). Ids the CAS does not know are absent from the answer; a CAS without the
  // endpoint (404/405/501) gives an empty map and is not asked again by this client.
  Result<std::map<std::string, Reconstruction>> batch_reconstructions(
      const std::vector<std::string>& file_ids);

  // One GET of a fetch's byte range, no Authorization; the body goes to `sink`. Returns the
  // response (any status) or a transport error.
  Result<net::Response> get_range(const Fetch& fetch, net::BodySink& sink);

  int api_version() const { return m_version; }

 private:
  Result<net::Response> query(const std::string& file_id, uint64_t first, uint64_t last,
                              int version, const hub::XetToken& token);

  net::Transport& m_transport;
  Clock& m_clock;
  hub::XetTokenProvider& m_tokens;
  CasOptions m_options;
  std::atomic<int> m_version{2};
  std::atomic<bool> m_batch{true};
};

}  // namespace mb::xet
