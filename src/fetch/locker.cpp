#include "fetch/locker.hpp"

#include <map>
#include <utility>

#include "core/log.hpp"
#include "core/paths.hpp"
#include "manifest/patterns.hpp"

namespace mb::fetch {

namespace {

using Hints = std::map<std::pair<std::string, uint64_t>, std::string>;  // (etag, size) -> sha256

Hints hints_from(const Lockfile* previous) {
  Hints hints;
  if (previous == nullptr) return hints;
  for (const LockedModel& m : previous->models) {
    for (const LockedFile& f : m.files) hints[{f.etag, f.size}] = f.sha256;
  }
  return hints;
}

std::string describe_filter(const ManifestModel& mm) {
  std::string out;
  for (const auto& p : mm.include) out += (out.empty() ? "include " : ", ") + p;
  if (!mm.exclude.empty()) {
    out += out.empty() ? "exclude " : "; exclude ";
    for (size_t i = 0; i < mm.exclude.size(); ++i) out += (i ? ", " : "") + mm.exclude[i];
  }
  return out.empty() ? "no patterns" : out;
}

Result<LockedModel> lock_model(const ManifestModel& mm, const hub::HubClient& hub,
                               const Store& store, Engine& engine, const Hints& hints,
                               FetchReport& report) {
  LockedModel model = lock_skeleton(mm);
  hub::RepoType type = model.type;
  std::string what = model.repo + "@" + model.revision;
  MB_ASSIGN(model.commit, hub.resolve_revision(type, model.repo, model.revision));
  MB_ASSIGN(auto entries, hub.list_files(type, model.repo, model.commit));
  // A renamed repo keeps its manifest id (cache folder, requests); the lock notes the new one.
  if (auto renamed = hub.renamed_to(type, model.repo)) model.renamed_to = *renamed;
  for (const hub::FileEntry& e : entries) {
    if (!path_selected(model.include, model.exclude, e.path)) continue;
    // The hub client validates too; the lock must never carry an unsafe path.
    MB_TRY(validate_relative_path(e.path, "file name from the hub"));
    LockedFile f;
    f.path = e.path;
    f.size = e.lfs_size.value_or(e.size);
    f.etag = e.etag();
    if (e.is_lfs()) f.sha256 = *e.lfs_sha256;
    if (e.is_lfs()) f.xet_hash = e.xet_hash;
    model.files.push_back(std::move(f));
  }
  if (model.files.empty()) {
    return fail(
        ErrorCategory::usage,
        "no file of " + what + " (commit " + model.commit + ") matches " + describe_filter(mm),
        "fix include/exclude in " + std::string("the manifest (line ") + std::to_string(mm.line) +
            ")");
  }
  std::vector<LockedFile*> unknown;
  for (LockedFile& f : model.files) {
    if (!f.sha256.empty()) continue;
    auto hint = hints.find({f.etag, f.size});
    if (hint != hints.end() && store.has_object(hint->second)) {
      f.sha256 = hint->second;
    } else {
      unknown.push_back(&f);
    }
  }
  if (!unknown.empty()) {
    log::debug(what + ": fetching " + std::to_string(unknown.size()) +
               " regular file(s) to learn their sha256");
    MB_TRY(engine.learn_sha256(model, unknown, report));
  }
  log::debug(what + " -> " + model.commit + " (" + std::to_string(model.files.size()) + " files)");
  return model;
}

}  // namespace

Result<Lockfile> create_lock(const Manifest& manifest, const Lockfile* previous,
                             const hub::HubClient& hub, const Store& store, Engine& engine,
                             FetchReport& report, std::vector<Error>* refused) {
  Hints hints = hints_from(previous);
  Lockfile lock;
  for (const ManifestModel& mm : manifest.models) {
    auto model = lock_model(mm, hub, store, engine, hints, report);
    if (!model.ok() && refused != nullptr && model.error().category == ErrorCategory::auth) {
      refused->push_back(model.error().with_context(mm.name));
      continue;
    }
    if (!model.ok()) return model.take_error();
    lock.models.push_back(std::move(model).value());
  }
  return lock;
}

}  // namespace mb::fetch
