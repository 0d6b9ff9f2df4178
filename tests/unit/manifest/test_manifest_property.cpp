// Property test of manifest parsing (the gcc-built sibling of tests/fuzz/fuzz_manifest.cpp):
// YAML-ish mutations of a few seeds from a fixed random seed. For every input the parser
// returns a Result without throwing, an error is a usage error naming the file, and what a
// success holds grows at most linearly with the text (no alias or other expansion).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/hash.hpp"
#include "manifest/manifest.hpp"

namespace mb {
namespace {

const std::vector<std::string>& seeds() {
  static const std::vector<std::string> s = {
      "version: 1\nendpoint: https://huggingface.co\nmodels:\n  - repo: org/minilm\n"
      "    revision: main\n    include: [\"*.json\", \"*.safetensors\"]\n    exclude: onnx/*\n"
      "    as: minilm\n    expect:\n      dim: 384\n      similar:\n"
      "        - {a: \"a cat\", b: \"a kitten\", min_cosine: 0.5}\n"
      "  - repo: org/data\n    type: dataset\n",
      // a small alias bomb (4^4 expansion) and a duplicate key: mutations keep their shape
      "version: 1\nmodels:\n  - repo: org/x\n    expect:\n      a: &a [x, x, x, x]\n"
      "      b: &b [*a, *a, *a, *a]\n      c: &c [*b, *b, *b, *b]\n      d: [*c, *c, *c, *c]\n",
      "version: 1\nmodels:\n  - repo: a/b\n    repo: c/d\n",
      "{version: 1, models: [{repo: a/b, expect: {k: [1, 2.5, true, null, \"s\"]}}]}\n",
  };
  return s;
}

const std::vector<std::string> k_tokens = {
    "&a ",       "*a",        "&b ",         "*b",
    "[",         "]",         "{",           "}",
    ": ",        ", ",        "- ",          "\n",
    "\n  ",      "\n    ",    "? ",          "!",
    "!!str ",    "!!binary ", "'",           "\"",
    "#",         "|",         ">-",          "\\u",
    "\\ud800",   "\xff",      "\xc3",        std::string(1, '\0'),
    "---\n",     "...\n",     "%YAML 1.2\n", "%TAG ! x\n",
    "<<: ",      "~",         "null",        "version: 1\n",
    "repo: a/b", "expect: ",  "as: .git",    "include: ",
    "1e400",     "-0x10",     "\t"};

std::string mutate(std::string s, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  int steps = 1 + static_cast<int>(pick(8));
  for (int i = 0; i < steps; ++i) {
    size_t at = pick(s.size() + 1);
    switch (pick(5)) {
      case 0: s.insert(at, k_tokens[pick(k_tokens.size())]); break;
      case 1: s.erase(at, pick(16)); break;
      case 2: {  // copy a slice elsewhere: repeats keys, deepens nesting
        size_t from = pick(s.size() + 1);
        std::string slice = s.substr(from, pick(64));
        s.insert(pick(s.size() + 1), slice);
        break;
      }
      case 3:
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(pick(256));
        break;
      default: s.insert(at, std::string(pick(4), ' ')); break;
    }
  }
  return s;
}

size_t held_bytes(const Manifest& m) {
  size_t n = m.endpoint.size();
  for (const auto& model : m.models) {
    n += model.repo.size() + model.revision.size() + model.name.size() + model.expect_json.size();
    for (const auto& p : model.include) n += p.size();
    for (const auto& p : model.exclude) n += p.size();
  }
  return n;
}

// Checks the properties for one input; returns whether it parsed.
bool check_one(const std::string& text) {
  Result<Manifest> m = fail(ErrorCategory::permanent, "not run");
  EXPECT_NO_THROW(m = parse_manifest(text, "p.yaml")) << testing::PrintToString(text);
  if (!m.ok()) {
    EXPECT_EQ(m.error().category, ErrorCategory::usage) << m.error().message;
    EXPECT_EQ(m.error().message.rfind("p.yaml", 0), 0u) << m.error().message;
    return false;
  }
  // JSON quoting at most doubles a character ("\n" -> "\\n"); 8x the text plus room for the
  // defaults ("main", a name from the repo id) bounds any honest output.
  EXPECT_LE(held_bytes(*m), 8 * text.size() + 64 * m->models.size())
      << testing::PrintToString(text);
  // What the manifest accepts, the lock must write and read back unchanged.
  Lockfile lock;
  for (const auto& model : m->models) {
    LockedModel l = lock_skeleton(model);
    l.commit = is_lower_hex(model.revision, 40) ? model.revision : std::string(40, 'c');
    lock.models.push_back(std::move(l));
  }
  auto back = parse_lock(serialize_lock(lock), "p.lock");
  EXPECT_TRUE(back.ok()) << testing::PrintToString(text);
  if (back.ok()) {
    Status same = lock_matches_manifest(*m, *back);
    EXPECT_TRUE(same.ok()) << testing::PrintToString(text) << same.error().message;
  }
  return true;
}

TEST(ManifestProperty, SeedsBehave) {
  for (const auto& s : seeds()) check_one(s);
  EXPECT_TRUE(parse_manifest(seeds()[0], "p.yaml").ok());
  EXPECT_FALSE(parse_manifest(seeds()[1], "p.yaml").ok());
  EXPECT_FALSE(parse_manifest(seeds()[2], "p.yaml").ok());
}

TEST(ManifestProperty, MutationsNeverCrashOrExpand) {
  std::mt19937_64 rng(20261130);
  int parsed = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string text = mutate(seeds()[i % seeds().size()], rng);
    parsed += check_one(text) ? 1 : 0;
    if (HasFailure()) return;
  }
  // The mutations must leave some inputs valid, or the test would only exercise the errors.
  EXPECT_GT(parsed, 100);
}

}  // namespace
}  // namespace mb
