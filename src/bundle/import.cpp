#include "bundle/import.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "bundle/admission.hpp"
#include "bundle/plan.hpp"
#include "bundle/reader.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "lock/entry_match.hpp"

namespace mb::bundle {

namespace {

Failure refuse(
    const std::string& what,
    const std::string& hint = "the bundle is damaged or was not made by 'modelbake export'") {
  return fail(ErrorCategory::integrity, what, hint);
}

// ---- OCI image layouts -------------------------------------------------------------------

using LayoutFile = std::function<Result<std::string>(const std::string& rel)>;

// The files of an OCI layout are read through `door` when they lie below its root (what
// pull staged, what import copied out of an OCI tar), by path otherwise (open_bundle_file).
Result<nlohmann::json> read_json(const CacheDoor* door, const std::string& path,
                                 const std::string& what) {
  MB_ASSIGN(UniqueFd fd, open_bundle_file(door, path));
  MB_ASSIGN(std::string text, read_fd(fd.get(), 4 << 20, path, ErrorCategory::integrity));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return refuse(what + " is not a JSON object");
  return j;
}

Result<std::string> checked_blob(const CacheDoor* door, const LayoutFile& file,
                                 const nlohmann::json& desc, const std::string& what) {
  if (!desc.is_object() || !desc.contains("digest") || !desc["digest"].is_string() ||
      !desc.contains("size") || !desc["size"].is_number_unsigned()) {
    return refuse("bad descriptor for the " + what);
  }
  std::string digest = desc["digest"].get<std::string>();
  if (digest.rfind("sha256:", 0) != 0 || !is_lower_hex(digest.substr(7), 64)) {
    return refuse("unsupported digest for the " + what);
  }
  MB_ASSIGN(std::string path, file("blobs/sha256/" + digest.substr(7)));
  MB_ASSIGN(UniqueFd fd, open_bundle_file(door, path));
  MB_ASSIGN(FileDigests d, hash_fd(fd.get(), path));
  if (d.sha256 != digest.substr(7) || d.size != desc["size"].get<uint64_t>()) {
    return refuse("the " + what + " blob does not match its digest " + digest);
  }
  return path;
}

// The image an OCI layout's one entry names; for an image index (an image built on a
// multi-platform base) the host platform's image, else the first: all of them share the
// model layers.
Result<nlohmann::json> layout_manifest(const CacheDoor* door, const LayoutFile& file) {
  MB_ASSIGN(std::string index_path, file("index.json"));
  MB_ASSIGN(auto index, read_json(door, index_path, "index.json"));
  if (!index.contains("manifests") || !index["manifests"].is_array() ||
      index["manifests"].size() != 1) {
    return fail(ErrorCategory::usage, "the OCI layout must hold exactly one image",
                "import the layout written by 'modelbake export --format oci'");
  }
  MB_ASSIGN(std::string man_path,
            checked_blob(door, file, index["manifests"][0], "image manifest"));
  MB_ASSIGN(auto man, read_json(door, man_path, "image manifest"));
  if (!man.contains("manifests")) return man;
  if (!man["manifests"].is_array() || man["manifests"].empty())
    return refuse("the image index lists no images");
  const nlohmann::json* chosen = &man["manifests"][0];
  for (const auto& e : man["manifests"]) {
    if (e.is_object() && e.contains("platform") && e["platform"].is_object() &&
        e["platform"].value("architecture", "") == host_architecture()) {
      chosen = &e;
      break;
    }
  }
  MB_ASSIGN(std::string img_path, checked_blob(door, file, *chosen, "platform image manifest"));
  return read_json(door, img_path, "platform image manifest");
}

bool is_model_layer(const nlohmann::json& layer) {
  return layer.is_object() && layer.contains("annotations") && layer["annotations"].is_object() &&
         layer["annotations"].contains("io.modelbake.model");
}

// The distinct layer blobs of the one image of an OCI layout, each checked against its digest
// once: a manifest may list one layer many times, it is still read once. An image built on a
// base (export --base) marks its own layers (io.modelbake.model); only those are read.
Result<std::vector<std::string>> oci_layers(const CacheDoor* door, const LayoutFile& file) {
  MB_ASSIGN(auto man, layout_manifest(door, file));
  if (!man.contains("layers") || !man["layers"].is_array() || !man.contains("config")) {
    return refuse("the image manifest has no layers");
  }
  MB_ASSIGN(std::string cfg_path, checked_blob(door, file, man["config"], "image config"));
  MB_ASSIGN(auto cfg, read_json(door, cfg_path, "image config"));
  auto diff_ids = cfg.contains("rootfs") && cfg["rootfs"].is_object()
                      ? cfg["rootfs"].value("diff_ids", nlohmann::json())
                      : nlohmann::json();
  if (!diff_ids.is_array() || diff_ids.size() != man["layers"].size()) {
    return refuse("the image config's rootfs.diff_ids do not match its layers");
  }
  bool marked = false;
  for (const auto& layer : man["layers"]) marked = marked || is_model_layer(layer);
  std::vector<std::string> paths;
  std::set<std::string> seen;
  for (size_t i = 0; i < man["layers"].size(); ++i) {
    const auto& layer = man["layers"][i];
    if (marked && !is_model_layer(layer)) continue;  // the base image's
    if (!layer.is_object() || layer.value("mediaType", "") != k_media_oci_layer_tar) {
      return fail(ErrorCategory::usage,
                  "unsupported layer type in the image (only uncompressed tar layers)",
                  "import the layout written by 'modelbake export --format oci'");
    }
    if (diff_ids[i] != layer["digest"])
      return refuse("layer " + std::to_string(i) + " does not match its diff_id");
    if (!seen.insert(layer["digest"].dump()).second)
      continue;  // a repeat adds nothing to the file system
    log::debug("reading layer " + layer["digest"].get<std::string>());
    MB_ASSIGN(std::string path, checked_blob(door, file, layer, "layer " + std::to_string(i)));
    paths.push_back(std::move(path));
  }
  return paths;
}

// Files of an OCI layout given as a tar: only the layout's own names are allowed (checked
// before an entry is copied).
Status admit_oci_tar_entry(const std::string& path, EntryKind kind) {
  bool dir = kind == EntryKind::dir && (path == "blobs" || path == "blobs/sha256");
  bool meta = kind == EntryKind::file &&
              (path == "oci-layout" || path == "index.json" || path == "manifest.json");
  bool blob = kind == EntryKind::file && path.rfind("blobs/sha256/", 0) == 0 &&
              is_lower_hex(path.substr(13), 64);
  if (!dir && !meta && !blob)
    return refuse("unexpected entry '" + path.substr(0, 200) + "' in an OCI layout");
  return {};
}

using ContentReader = std::function<Status(EntrySet&)>;

// lstat of a bundle's entry: through the door below its root (pull's staged layout), by path
// otherwise; never following a link at the entry itself.
std::optional<struct stat> bundle_lstat(const CacheDoor& door, const std::string& path) {
  if (path.starts_with(door.root() + "/")) {
    auto st = door.lstat(path);
    return st.ok() ? *st : std::nullopt;
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

bool exists_in_bundle(const CacheDoor& door, const std::string& path) {
  return bundle_lstat(door, path).has_value();
}

bool is_regular_bundle_file(const CacheDoor& door, const std::string& path) {
  auto st = bundle_lstat(door, path);
  return st && S_ISREG(st->st_mode);
}

// Pass 1 over the layers (the lock is in one of them), and the reader for pass 2.
Result<ContentReader> scan_layers(const std::vector<std::string>& layers, LockFinder& finder) {
  for (const auto& l : layers) MB_TRY(finder.scan_archive(l));
  return ContentReader([layers](EntrySet& set) -> Status {
    for (const auto& l : layers) MB_TRY(set.add_archive(l));
    return {};
  });
}

// An OCI layout packed in a tar (skopeo's oci-archive): its files are copied out first, names
// checked before copying. It must be uncompressed, so that copy is never larger than the
// archive itself; the layers' content is then bounded by the lock like any bundle's.
Result<ContentReader> read_oci_tar(const std::string& bundle, EntrySet& outer, LockFinder& finder) {
  if (finder.compressed()) {
    return fail(ErrorCategory::usage,
                "an OCI layout in a compressed tar is not imported (it could expand without bound)",
                "decompress it first, or import the layout directory");
  }
  outer.restrict_to([](const std::string& path, EntryKind kind,
                       uint64_t) { return admit_oci_tar_entry(path, kind); },
                    UINT64_MAX);
  MB_TRY(outer.add_archive(bundle));
  MB_ASSIGN(auto layers,
            oci_layers(&outer.door(), [&](const std::string& rel) -> Result<std::string> {
              const BundleFile* f = outer.find(rel);
              if (!f || f->kind != EntryKind::file) return refuse("the OCI layout lacks " + rel);
              return f->temp;
            }));
  return scan_layers(layers, finder);
}

// Pass 1 for each kind of bundle: finds the lock and returns the reader of pass 2. `outer`
// receives the files of an OCI layout packed in a tar.
Result<ContentReader> first_pass(const std::string& bundle, bool is_dir, LockFinder& finder,
                                 EntrySet& outer, std::string& format) {
  if (is_dir && exists_in_bundle(outer.door(), bundle + "/oci-layout")) {
    format = "oci";
    MB_ASSIGN(auto layers,
              oci_layers(&outer.door(), [&](const std::string& rel) -> Result<std::string> {
                std::string p = bundle + "/" + rel;
                if (!is_regular_bundle_file(outer.door(), p))
                  return refuse("the OCI layout lacks " + rel);
                return p;
              }));
    return scan_layers(layers, finder);
  }
  if (is_dir) {
    format = "dir";
    MB_TRY(finder.scan_directory(bundle));
    return ContentReader([bundle](EntrySet& set) { return set.add_directory(bundle); });
  }
  MB_TRY(finder.scan_archive(bundle));
  if (!finder.found() && finder.saw_oci_layout()) {
    format = "oci-tar";
    return read_oci_tar(bundle, outer, finder);
  }
  format = "tar";
  return ContentReader([bundle](EntrySet& set) { return set.add_archive(bundle); });
}

// ---- checking entries against the bundled lock -------------------------------------------

struct Located {
  std::string root;
  Lockfile lock;
  std::string sha256;  // of the bundled lock's bytes, to recognise them in pass 2
  uint64_t size = 0;
};

Result<Located> locate_lock(const LockFinder& finder) {
  if (!finder.found()) {
    return fail(ErrorCategory::usage, "not a modelbake bundle: no modelbake.lock inside",
                "export bundles with 'modelbake export'");
  }
  const FoundLock& found = *finder.found();
  Located out;
  out.root = found.path.size() == k_lock_name.size()
                 ? ""
                 : found.path.substr(0, found.path.size() - k_lock_name.size() - 1);
  auto lock = parse_lock(found.text, "bundled " + std::string(k_lock_name));
  if (!lock.ok()) return refuse(lock.error().message);
  out.lock = std::move(*lock);
  out.sha256 = sha256_hex(found.text);
  out.size = found.text.size();
  return out;
}

Status check_entry(const CacheDoor& door, const std::string& path, const BundleFile& f,
                   const Entry& want, const std::string& lock_path,
                   const std::string& lock_sha256) {
  std::string p = "'" + path.substr(0, 200) + "'";
  switch (want.kind) {
    case EntryKind::dir:
      if (f.kind != EntryKind::dir) return refuse(p + " should be a directory");
      return {};
    case EntryKind::symlink:
      if (f.kind == EntryKind::symlink && f.link != want.link) {
        return refuse("symlink " + p + " points to '" + f.link.substr(0, 200) + "', expected '" +
                      want.link + "'");
      }
      if (f.kind == EntryKind::dir) return refuse(p + " should be a file");
      return {};  // a dereferenced copy is fine: its content is checked through the lock
    default: break;
  }
  if (f.kind != EntryKind::file) return refuse(p + " should be a regular file");
  if (path == lock_path) {
    if (f.sha256 != lock_sha256) return refuse(p + " changed while the bundle was read");
    return {};
  }
  if (f.size != want.size) {
    return refuse(p + " has " + std::to_string(f.size) + " bytes, the bundled lock says " +
                  std::to_string(want.size));
  }
  if (!want.sha256.empty() && f.sha256 != want.sha256) {
    return refuse(p + " has sha256 " + f.sha256 + ", the bundled lock says " + want.sha256);
  }
  if (want.sha256.empty()) {
    MB_ASSIGN(std::string bytes, door.read_file(f.temp, 1 << 20));
    if (bytes != want.data) return refuse(p + " does not hold what the bundled lock says");
  }
  return {};
}

// The entry holding the bytes of a locked file (snapshot copy, blob behind a link, or the
// flat file).
Result<const BundleFile*> content_of(const EntrySet& set, const LockedModel& m, const LockedFile& f,
                                     Layout layout, const std::string& root) {
  std::string what = m.name + ":" + f.path;
  if (layout == Layout::flat) {
    const BundleFile* e = set.find(join_prefix(root, m.name + "/" + f.path));
    if (!e) return refuse("the bundle lacks " + what);
    return e;
  }
  std::string repo = join_prefix(root, repo_folder_name(m.type, m.repo));
  const BundleFile* snap = set.find(repo + "/snapshots/" + m.commit + "/" + f.path);
  if (!snap) return refuse("the bundle lacks " + what);
  if (snap->kind == EntryKind::file) return snap;
  const BundleFile* blob = set.find(repo + "/blobs/" + f.etag);
  if (!blob || blob->kind != EntryKind::file) return refuse("the bundle lacks the blob of " + what);
  return blob;
}

Status verify_file(const CacheDoor& door, const BundleFile& e, const LockedModel& m,
                   const LockedFile& f) {
  EntryExpectation want = EntryExpectation::of(f);
  FileDigests got{e.size, e.sha256, e.git_sha1};
  // The reader hashed the sha256 of every entry; the git blob sha1 only where it knew one
  // would be needed.
  if (digests_needed(want) == WithGitSha1::yes && got.git_sha1.empty() && got.size == f.size) {
    MB_ASSIGN(UniqueFd fd, door.open_file(e.temp, O_RDONLY));
    MB_ASSIGN(FileDigests d, hash_fd(fd.get(), e.temp, WithGitSha1::yes));
    got.git_sha1 = d.git_sha1;
  }
  EntryMatch match = match_entry(want, got);
  if (!match.ok())
    return refuse(m.name + ":" + f.path + " " + match.describe() + " (the bundled lock)");
  return {};
}

// Every entry was admitted (it is in the plan, files with their planned size); now the kinds,
// links and content, and that nothing locked is missing.
Status check_against_lock(const EntrySet& set, const Located& loc, const Admission& admission) {
  const Plan& plan = admission.plan();
  std::string lock_path = join_prefix(loc.root, k_lock_name);
  for (const auto& [path, f] : set.entries())
    MB_TRY(check_entry(set.door(), path, f, plan.at(path), lock_path, loc.sha256));
  for (const auto& m : loc.lock.models) {
    for (const auto& f : m.files) {
      MB_ASSIGN(const BundleFile* e, content_of(set, m, f, admission.layout(), loc.root));
      MB_TRY(verify_file(set.door(), *e, m, f));
    }
  }
  return {};
}

Result<uint64_t> adopt(const EntrySet& set, const Located& loc, Layout layout, const Store& store,
                       int64_t now) {
  uint64_t added = 0;
  for (const auto& m : loc.lock.models) {
    for (const auto& f : m.files) {
      if (store.has_object(f.sha256)) continue;
      MB_ASSIGN(const BundleFile* e, content_of(set, m, f, layout, loc.root));
      MB_ASSIGN(auto st, set.door().lstat(e->temp));
      if (!st) return errno_error("temp copy of " + f.path, ENOENT);
      MB_TRY(store.adopt_object(e->temp, f.sha256));
      ++added;
    }
  }
  for (const auto& m : loc.lock.models) {
    for (const auto& f : m.files) MB_TRY(store.publish_file(m, f));
    if (m.files.empty()) {
      MB_TRY(
          store.layout().door().make_dirs(store.layout().snapshot_dir(m.type, m.repo, m.commit)));
    }
    MB_TRY(store.write_ref(m));
    MB_TRY(store.record_snapshot_use(m, now, true));
  }
  return added;
}

}  // namespace

Result<ImportResult> import_bundle(const std::string& bundle, const Store& store,
                                   const ImportOptions& opts) {
  struct stat st {};
  if (::stat(bundle.c_str(), &st) != 0) {
    return fail(ErrorCategory::usage, "bundle " + bundle + " does not exist",
                "pass the path written by 'modelbake export -o'");
  }
  MB_TRY(store.init());
  MB_ASSIGN(FileLock cache_lock, store.lock_cache(LockMode::shared));
  std::string tmp = temp_path_for(store.layout().tmp_dir() + "/import");
  // Made (and removed) through the door; the reader makes, reads and removes its files in
  // there through the door too (O_EXCL, never through a link).
  MB_ASSIGN(DoorTempTree guard, DoorTempTree::create(store.layout().door(), tmp));
  MB_TRY(store.layout().door().make_dirs(tmp + "/outer"));
  MB_TRY(store.layout().door().make_dirs(tmp + "/content"));

  // Pass 1 finds the lock (headers only), pass 2 copies what the lock admits: see reader.hpp.
  ImportResult result;
  LockFinder finder(&store.layout().door());
  EntrySet outer(store.layout().door(), tmp + "/outer");
  MB_ASSIGN(ContentReader read_content,
            first_pass(bundle, S_ISDIR(st.st_mode), finder, outer, result.format));
  MB_ASSIGN(Located loc, locate_lock(finder));
  MB_ASSIGN(Admission admission, Admission::create(loc.lock, store.layout(), loc.root, loc.size));
  EntrySet content(store.layout().door(), tmp + "/content");
  content.restrict_to([&](const std::string& path, EntryKind kind,
                          uint64_t size) { return admission.admit(path, kind, size); },
                      admission.budget());
  MB_TRY(read_content(content));
  result.layout = admission.layout();
  MB_TRY(check_against_lock(content, loc, admission));
  MB_ASSIGN(result.objects_added, adopt(content, loc, result.layout, store, opts.unix_now));
  for (const auto& m : loc.lock.models) {
    result.files += m.files.size();
    result.bytes += m.total_bytes();
  }
  result.lock = std::move(loc.lock);
  return result;
}

}  // namespace mb::bundle
