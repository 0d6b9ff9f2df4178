#include "bundle/admission.hpp"

#include <algorithm>

#include "bundle/reader.hpp"

namespace mb::bundle {

namespace {

Failure damaged_bundle(const std::string& what) {
  return fail(ErrorCategory::integrity, what,
              "the bundle is damaged or was not made by 'modelbake export'");
}

Result<Plan> plan_for(const Lockfile& lock, const CacheLayout& cache, Layout layout,
                      const std::string& root) {
  MB_ASSIGN(auto entries, bundle_entries(lock, cache, layout, root, false));
  Plan plan;
  for (auto& e : entries) plan.emplace(e.path, std::move(e));
  return plan;
}

const Entry* find(const Plan& plan, const std::string& path) {
  auto it = plan.find(path);
  return it == plan.end() ? nullptr : &it->second;
}

}  // namespace

Result<Admission> Admission::create(const Lockfile& lock, const CacheLayout& cache,
                                    const std::string& root, uint64_t lock_size) {
  Admission a;
  MB_ASSIGN(a.m_hub, plan_for(lock, cache, Layout::hub, root));
  MB_ASSIGN(a.m_flat, plan_for(lock, cache, Layout::flat, root));
  a.m_lock_path = join_prefix(root, k_lock_name);
  a.m_lock_size = lock_size;
  for (const Plan* plan : {&a.m_hub, &a.m_flat}) {
    uint64_t total = 0;
    for (const auto& [path, e] : *plan) {
      if (path == a.m_lock_path) continue;
      if (e.kind != EntryKind::file && e.kind != EntryKind::symlink) continue;
      MB_ASSIGN(uint64_t size, a.planned_size(*plan, e));
      total += size;
    }
    a.m_budget = std::max(a.m_budget, total + lock_size);
  }
  return a;
}

Result<uint64_t> Admission::planned_size(const Plan& plan, const Entry& want) const {
  if (want.kind == EntryKind::file) return want.size;
  MB_ASSIGN(std::string target, resolve_link(want.path, want.link));
  const Entry* t = find(plan, target);
  if (!t || t->kind != EntryKind::file)
    return damaged_bundle("the lock plans a link '" + want.path + "' to nothing");
  return t->size;
}

Status Admission::admit(const std::string& path, EntryKind kind, uint64_t size) {
  const Entry* hub = m_layout == Layout::flat ? nullptr : find(m_hub, path);
  const Entry* flat = m_layout == Layout::hub ? nullptr : find(m_flat, path);
  std::string p = "'" + path.substr(0, 200) + "'";
  if (!hub && !flat) return damaged_bundle(p + " is not in the bundled lock");
  if (!m_layout && !(hub && flat)) m_layout = hub ? Layout::hub : Layout::flat;
  const Entry& want = hub ? *hub : *flat;  // where both plans have it (lock, prefix) they agree
  if (kind != EntryKind::file) return {};  // kinds and links are checked once all is read
  if (want.kind == EntryKind::dir) return damaged_bundle(p + " should be a directory");
  uint64_t expected = m_lock_size;
  if (path != m_lock_path) {
    MB_ASSIGN(expected, planned_size(hub ? m_hub : m_flat, want));
  }
  if (size != expected) {
    return damaged_bundle(p + " has " + std::to_string(size) + " bytes, the bundled lock says " +
                          std::to_string(expected));
  }
  return {};
}

uint64_t max_image_layer_bytes(const Lockfile& lock) {
  constexpr uint64_t k_entry_room = 16
                                    << 10;  // headers and PAX records of a file, its link, folders
  uint64_t total = (4 + lock.models.size()) * k_entry_room;
  for (const auto& m : lock.models) {
    for (const auto& f : m.files) total += 2 * ((f.size + 511) / 512 * 512) + k_entry_room;
  }
  return total;
}

Result<std::optional<Lockfile>> lock_in_tar(const std::string& tar_path, const CacheDoor* door) {
  LockFinder finder(door);
  MB_TRY(finder.scan_archive(tar_path));
  if (!finder.found()) return std::optional<Lockfile>();
  auto lock = parse_lock(finder.found()->text, "bundled " + std::string(k_lock_name));
  if (!lock.ok()) return damaged_bundle(lock.error().message);
  return std::optional<Lockfile>(std::move(*lock));
}

}  // namespace mb::bundle
