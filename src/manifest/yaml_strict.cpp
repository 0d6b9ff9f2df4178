#include "manifest/yaml_strict.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <cstdint>
#include <map>
#include <sstream>
#include <vector>

namespace mb {

namespace {

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), as the JSON
// writer of the lock requires: checked on values after unescaping, since "\ud800" is ASCII.
bool valid_utf8(std::string_view s) {
  static constexpr uint32_t k_min[] = {0, 0x80, 0x800, 0x10000};
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t extra = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : 4;
    if (extra == 4 || s.size() - i <= extra) return false;
    uint32_t cp = extra == 0 ? c : c & (0x7fu >> (extra + 1));
    for (size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < k_min[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

// Tracks, per open mapping, whether the next node is a key and which keys were seen. Records
// the first problem and ignores everything after it (events are cheap, and yaml-cpp gives a
// handler no way to stop the parser without throwing through it).
class StrictHandler : public YAML::EventHandler {
 public:
  std::optional<YamlProblem> problem;
  YAML::Mark document_mark = YAML::Mark::null_mark();

  void OnDocumentStart(const YAML::Mark& mark) override { document_mark = mark; }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark, nullptr); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    report(mark, "YAML aliases ('*name') are not supported in a manifest: write the value out");
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string& value) override {
    if (!valid_utf8(value)) report(mark, "text that is not valid UTF-8");
    node(mark, &value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    open(mark, false);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    open(mark, true);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    bool is_map = false;
    bool expecting_key = true;
    std::map<std::string, int> keys;  // key -> 1-based line where it first appeared
  };

  void report(const YAML::Mark& mark, std::string message) {
    if (!problem) problem = YamlProblem{mark, std::move(message)};
  }

  // A node in the current container; `scalar` is null for anything but a plain value.
  void node(const YAML::Mark& mark, const std::string* scalar) {
    if (m_stack.empty() || !m_stack.back().is_map) return;
    Frame& map = m_stack.back();
    map.expecting_key = !map.expecting_key;
    if (map.expecting_key) return;  // that was the value
    if (scalar == nullptr) return report(mark, "mapping keys must be plain strings");
    auto [it, inserted] = map.keys.emplace(*scalar, mark.line + 1);
    if (!inserted) {
      report(mark, "duplicate key '" + scalar->substr(0, 100) + "' (first at line " +
                       std::to_string(it->second) + ")");
    }
  }

  void open(const YAML::Mark& mark, bool is_map) {
    node(mark, nullptr);
    if (m_stack.size() >= static_cast<size_t>(k_max_yaml_depth)) {
      report(mark, "nested deeper than " + std::to_string(k_max_yaml_depth) + " levels");
    }
    m_stack.push_back(Frame{is_map, true, {}});
  }

  void close() {
    if (!m_stack.empty()) m_stack.pop_back();
  }

  std::vector<Frame> m_stack;
};

}  // namespace

std::optional<YamlProblem> find_yaml_problem(std::string_view text) {
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  StrictHandler handler;
  if (!parser.HandleNextDocument(handler)) return std::nullopt;
  if (handler.problem) return handler.problem;
  StrictHandler rest;
  if (parser.HandleNextDocument(rest)) {
    return YamlProblem{rest.document_mark,
                       "more than one YAML document (a manifest is one document)"};
  }
  return std::nullopt;
}

}  // namespace mb
