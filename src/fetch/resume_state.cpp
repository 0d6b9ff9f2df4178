#include "fetch/resume_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "core/file.hpp"

namespace mb::fetch {

namespace {
constexpr int k_format = 1;
}

std::string serialize_resume_state(const ResumeState& state) {
  nlohmann::ordered_json doc;
  doc["format"] = k_format;
  doc["etag"] = state.etag;
  doc["size"] = state.size;
  nlohmann::ordered_json done = nlohmann::ordered_json::array();
  for (const Extent& e : state.done.extents()) done.push_back({e.begin, e.end});
  doc["done"] = std::move(done);
  return doc.dump() + "\n";
}

Result<ResumeState> parse_resume_state(std::string_view text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  auto bad = [](const std::string& why) {
    return fail(ErrorCategory::io, "damaged download state: " + why);
  };
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  if (!doc.contains("format") || doc["format"] != k_format) return bad("unknown format");
  if (!doc.contains("etag") || !doc["etag"].is_string()) return bad("no etag");
  if (!doc.contains("size") || !doc["size"].is_number_unsigned()) return bad("no size");
  if (!doc.contains("done") || !doc["done"].is_array()) return bad("no extents");
  ResumeState state;
  state.etag = doc["etag"].get<std::string>();
  state.size = doc["size"].get<uint64_t>();
  for (const auto& item : doc["done"]) {
    if (!item.is_array() || item.size() != 2 || !item[0].is_number_unsigned() ||
        !item[1].is_number_unsigned()) {
      return bad("malformed extent");
    }
    uint64_t b = item[0].get<uint64_t>(), e = item[1].get<uint64_t>();
    if (b >= e || e > state.size) return bad("extent outside the file");
    state.done.add(b, e);
  }
  return state;
}

Status save_resume_state(const CacheDoor& door, const std::string& path, const ResumeState& state) {
  return door.write_file_atomic(path, serialize_resume_state(state), 0644, Sync::no);
}

std::optional<ResumeState> load_resume_state(const CacheDoor& door, const std::string& path,
                                             std::string_view etag, uint64_t size) {
  auto text = door.read_file(path, 1 << 20);
  if (!text.ok()) return std::nullopt;
  auto state = parse_resume_state(*text);
  if (!state.ok() || state->etag != etag || state->size != size) return std::nullopt;
  return std::move(state).value();
}

}  // namespace mb::fetch
