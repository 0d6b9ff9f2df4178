// libFuzzer target: modelbake.yaml parsing (the strict YAML event pass, the node walk, the
// expect block's YAML -> JSON). Every accepted manifest must yield a lock skeleton that
// serialises, parses back and matches it, and hold no more than a linear multiple of its text
// (no alias or other expansion). tests/unit/manifest/test_manifest_property.cpp is the
// deterministic sibling that runs with the ordinary build.
#include <cstdlib>
#include <string_view>

#include "core/hash.hpp"
#include "lock/lockfile.hpp"
#include "manifest/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = mb::parse_manifest(text, "fuzz.yaml");
  if (!m.ok()) {
    if (m.error().category != mb::ErrorCategory::usage) std::abort();
    return 0;
  }
  size_t held = 0;
  mb::Lockfile lock;
  for (const auto& model : m->models) {
    held +=
        model.repo.size() + model.revision.size() + model.name.size() + model.expect_json.size();
    for (const auto& p : model.include) held += p.size();
    for (const auto& p : model.exclude) held += p.size();
    mb::LockedModel l = mb::lock_skeleton(model);
    l.commit = mb::is_lower_hex(model.revision, 40) ? model.revision : std::string(40, 'c');
    lock.models.push_back(std::move(l));
  }
  if (held > 8 * size + 64 * m->models.size()) std::abort();
  auto back = mb::parse_lock(mb::serialize_lock(lock), "fuzz.lock");
  if (!back.ok() || !mb::lock_matches_manifest(*m, *back).ok()) std::abort();
  return 0;
}
