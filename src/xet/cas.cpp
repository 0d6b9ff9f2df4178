#include "xet/cas.hpp"

#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "net/url.hpp"

namespace mb::xet {

CasClient::CasClient(net::Transport& transport, Clock& clock, hub::XetTokenProvider& tokens,
                     CasOptions options)
    : m_transport(transport), m_clock(clock), m_tokens(tokens), m_options(options) {}

Result<net::Response> CasClient::query(const std::string& file_id, uint64_t first, uint64_t last,
                                       int version, const hub::XetToken& token) {
  net::Request r;
  r.url = token.cas_url + "/v" + std::to_string(version) + "/reconstructions/" + file_id;
  r.range = net::ByteRange{first, last};
  r.connect_timeout = m_options.connect_timeout;
  r.total_timeout = m_options.metadata_timeout;
  MB_ASSIGN(net::Url cas, net::parse_url(r.url));
  r.bearer = net::BearerToken{token.access_token, cas.credential_scope()};
  return net::perform_with_retry(m_transport, r, m_options.retry, m_clock);
}

Result<Reconstruction> CasClient::reconstruction(const std::string& file_id, uint64_t first,
                                                 uint64_t last) {
  if (!is_xet_hash(file_id)) {
    return fail(ErrorCategory::permanent, "not a Xet file id: '" + file_id.substr(0, 80) + "'");
  }
  const std::string what = "Xet reconstruction of " + file_id.substr(0, 12);
  bool refreshed = false;
  for (;;) {
    MB_ASSIGN(hub::XetToken token, m_tokens.get());
    int version = m_version;
    MB_ASSIGN(net::Response resp, query(file_id, first, last, version, token));
    if (resp.is_success()) return parse_reconstruction(resp.body, version);
    if ((resp.status == 401 || resp.status == 403) && !refreshed) {
      // Expired or revoked: one new token per query (a second refusal is the answer).
      log::debug(what + ": the CAS refused the Xet token (HTTP " + std::to_string(resp.status) +
                 "); asking the hub for a new one");
      m_tokens.invalidate(token.access_token);
      refreshed = true;
      continue;
    }
    if ((resp.status == 404 || resp.status == 501) && version == 2) {
      // v2 unknown to this server (or the file is missing: v1 will say so).
      log::debug(what + ": v2 answered HTTP " + std::to_string(resp.status) + "; trying v1");
      int expected = 2;
      m_version.compare_exchange_strong(expected, 1);
      continue;
    }
    return net::status_error(resp, what);
  }
}

Result<std::map<std::string, Reconstruction>> CasClient::batch_reconstructions(
    const std::vector<std::string>& file_ids) {
  nlohmann::json keys = nlohmann::json::array();
  for (const std::string& id : file_ids) {
    if (!is_xet_hash(id)) return fail(ErrorCategory::permanent, "not a Xet file id");
    keys.push_back({{"prefix", "default"}, {"hash", id}});
  }
  bool refreshed = false;
  while (m_batch) {
    MB_ASSIGN(hub::XetToken token, m_tokens.get());
    net::Request r;
    r.method = net::Method::post;
    r.url = token.cas_url + "/v1/reconstructions";
    r.headers.set("Content-Type", "application/json");
    r.body = keys.dump();
    r.connect_timeout = m_options.connect_timeout;
    r.total_timeout = m_options.metadata_timeout;
    MB_ASSIGN(net::Url cas, net::parse_url(r.url));
    r.bearer = net::BearerToken{token.access_token, cas.credential_scope()};
    MB_ASSIGN(net::Response resp,
              net::perform_with_retry(m_transport, r, m_options.retry, m_clock));
    if (resp.is_success()) return parse_batch_reconstruction(resp.body);
    if ((resp.status == 401 || resp.status == 403) && !refreshed) {
      m_tokens.invalidate(token.access_token);
      refreshed = true;
      continue;
    }
    if (resp.status == 404 || resp.status == 405 || resp.status == 501) {
      log::debug("the Xet CAS has no batch reconstruction (HTTP " + std::to_string(resp.status) +
                 "); asking per file");
      m_batch = false;
      break;
    }
    return net::status_error(resp, "Xet batch reconstruction");
  }
  return std::map<std::string, Reconstruction>();
}

Result<net::Response> CasClient::get_range(const Fetch& fetch, net::BodySink& sink) {
  net::Request r;
  r.url = fetch.url;
  r.range = net::ByteRange{fetch.byte_first, fetch.byte_last};
  r.connect_timeout = m_options.connect_timeout;
  r.low_speed_limit = m_options.low_speed_limit;
  r.low_speed_time = m_options.low_speed_time;
  uint64_t bytes = fetch.byte_last - fetch.byte_first + 1;
  uint64_t rate = std::max<uint64_t>(1, m_options.range_min_rate);
  r.total_timeout = m_options.range_base + std::chrono::milliseconds(bytes * 1000 / rate);
  return m_transport.perform(r, &sink);
}

}  // namespace mb::xet
