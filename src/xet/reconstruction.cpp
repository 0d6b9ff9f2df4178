#include "xet/reconstruction.hpp"

#include <nlohmann/json.hpp>

#include "xet/chunk.hpp"

namespace mb::xet {

using nlohmann::json;

namespace {

Failure bad(const std::string& what) {
  return fail(ErrorCategory::permanent, "malformed Xet reconstruction: " + what);
}

bool get_u64(const json& j, const char* key, uint64_t& out) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_unsigned()) return false;
  out = j[key].get<uint64_t>();
  return true;
}

// {start, end} with end exclusive (chunks) or inclusive (bytes).
bool get_range(const json& j, const char* key, uint64_t& start, uint64_t& end) {
  return j.is_object() && j.contains(key) && get_u64(j[key], "start", start) &&
         get_u64(j[key], "end", end);
}

Status add_fetch(std::vector<Fetch>& out, const std::string& xorb, const std::string& url,
                 uint64_t cs, uint64_t ce, uint64_t bs, uint64_t be) {
  if (ce <= cs || ce > (1u << 20) || be < bs || url.empty()) {
    return bad("bad range for xorb " + xorb);
  }
  // A record is at least its header; a range can't hold more records than bytes allow.
  if ((be - bs + 1) < (ce - cs) * k_header_size) return bad("byte range too short");
  out.push_back(Fetch{xorb, url, static_cast<uint32_t>(cs), static_cast<uint32_t>(ce), bs, be});
  return {};
}

Status parse_v2(const json& j, std::vector<Fetch>& out) {
  if (!j.contains("xorbs") || !j["xorbs"].is_object()) return bad("no xorbs");
  for (const auto& [xorb, fetches] : j["xorbs"].items()) {
    if (!is_xet_hash(xorb) || !fetches.is_array()) return bad("bad xorb entry");
    for (const json& f : fetches) {
      if (!f.is_object() || !f.contains("url") || !f["url"].is_string() || !f.contains("ranges") ||
          !f["ranges"].is_array()) {
        return bad("bad fetch of xorb " + xorb);
      }
      for (const json& r : f["ranges"]) {
        uint64_t cs = 0, ce = 0, bs = 0, be = 0;
        if (!get_range(r, "chunks", cs, ce) || !get_range(r, "bytes", bs, be)) {
          return bad("bad range of xorb " + xorb);
        }
        MB_TRY(add_fetch(out, xorb, f["url"].get<std::string>(), cs, ce, bs, be));
      }
    }
  }
  return {};
}

Status parse_v1(const json& j, std::vector<Fetch>& out) {
  if (!j.contains("fetch_info") || !j["fetch_info"].is_object()) return bad("no fetch_info");
  for (const auto& [xorb, infos] : j["fetch_info"].items()) {
    if (!is_xet_hash(xorb) || !infos.is_array()) return bad("bad fetch_info entry");
    for (const json& f : infos) {
      uint64_t cs = 0, ce = 0, bs = 0, be = 0;
      if (!f.is_object() || !f.contains("url") || !f["url"].is_string() ||
          !get_range(f, "range", cs, ce) || !get_range(f, "url_range", bs, be)) {
        return bad("bad fetch_info of xorb " + xorb);
      }
      MB_TRY(add_fetch(out, xorb, f["url"].get<std::string>(), cs, ce, bs, be));
    }
  }
  return {};
}

}  // namespace

bool is_xet_hash(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!hex) return false;
  }
  return true;
}

uint64_t Reconstruction::unpacked_total() const {
  uint64_t n = 0;
  for (const Term& t : terms) n += t.unpacked_length;
  return n;
}

namespace {

// `terms` (file order) into r.terms, each tied to a fetch of r.fetches that holds its chunks.
Status parse_terms(const json& terms, Reconstruction& r) {
  if (!terms.is_array()) return bad("no terms");
  for (const json& t : terms) {
    Term term;
    uint64_t cs = 0, ce = 0;
    if (!t.is_object() || !t.contains("hash") || !t["hash"].is_string() ||
        !get_range(t, "range", cs, ce) || !get_u64(t, "unpacked_length", term.unpacked_length)) {
      return bad("bad term");
    }
    term.xorb = t["hash"].get<std::string>();
    if (!is_xet_hash(term.xorb) || ce <= cs || ce > (1u << 20) ||
        term.unpacked_length > (ce - cs) * k_max_chunk) {
      return bad("bad term of xorb " + term.xorb);
    }
    term.chunk_begin = static_cast<uint32_t>(cs);
    term.chunk_end = static_cast<uint32_t>(ce);
    bool found = false;
    for (size_t i = 0; i < r.fetches.size() && !found; ++i) {
      const Fetch& f = r.fetches[i];
      if (f.xorb == term.xorb && f.chunk_begin <= cs && ce <= f.chunk_end) {
        term.fetch = i;
        found = true;
      }
    }
    if (!found) return bad("no fetch holds the chunks of a term of xorb " + term.xorb);
    r.terms.push_back(std::move(term));
  }
  if (!r.terms.empty() && r.offset_into_first_range >= r.terms.front().unpacked_length) {
    return bad("offset_into_first_range beyond the first term");
  }
  return {};
}

// Keeps only the fetches the terms use (a batch answer lists those of every file).
void drop_unused_fetches(Reconstruction& r) {
  std::vector<size_t> new_index(r.fetches.size(), SIZE_MAX);
  std::vector<Fetch> kept;
  for (Term& t : r.terms) {
    if (new_index[t.fetch] == SIZE_MAX) {
      new_index[t.fetch] = kept.size();
      kept.push_back(r.fetches[t.fetch]);
    }
    t.fetch = new_index[t.fetch];
  }
  r.fetches = std::move(kept);
}

}  // namespace

Result<Reconstruction> parse_reconstruction(std::string_view text, int version) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  Reconstruction r;
  if (!get_u64(j, "offset_into_first_range", r.offset_into_first_range)) {
    return bad("no offset_into_first_range");
  }
  if (!j.contains("terms")) return bad("no terms");
  MB_TRY(version == 1 ? parse_v1(j, r.fetches) : parse_v2(j, r.fetches));
  MB_TRY(parse_terms(j["terms"], r));
  return r;
}

Result<std::map<std::string, Reconstruction>> parse_batch_reconstruction(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("files") || !j["files"].is_object()) {
    return bad("not a batch answer");
  }
  std::vector<Fetch> all;
  MB_TRY(parse_v1(j, all));
  std::map<std::string, Reconstruction> out;
  for (const auto& [id, terms] : j["files"].items()) {
    if (!is_xet_hash(id)) return bad("bad file id in a batch answer");
    Reconstruction r;
    r.fetches = all;
    MB_TRY(parse_terms(terms, r));
    drop_unused_fetches(r);
    out.emplace(id, std::move(r));
  }
  return out;
}

}  // namespace mb::xet
