#include "runtime/health.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/paths.hpp"
#include "core/units.hpp"
#include "runtime/confined.hpp"
#include "runtime/formats/json_fields.hpp"

namespace mb::runtime {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr int k_stamp_version = 1;
constexpr uint64_t k_max_stamp = 64ull << 20;
constexpr uint64_t k_max_header = 16ull << 20;  // larger safetensors headers: length field only
constexpr uint64_t k_gguf_header = 24;          // magic, version, tensor count, kv count

struct FileId {
  uint64_t size = 0;
  uint64_t ino = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
};

int64_t ns(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }

FileId id_of(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_ino), ns(st.st_mtim),
          ns(st.st_ctim)};
}

json id_json(const FileId& id) {
  return {{"size", id.size}, {"ino", id.ino}, {"mtime_ns", id.mtime_ns}, {"ctime_ns", id.ctime_ns}};
}

std::optional<FileId> id_from(const json& j) {
  if (!j.is_object()) return std::nullopt;
  for (const char* k : {"size", "ino", "mtime_ns", "ctime_ns"}) {
    if (!j.contains(k) || !j[k].is_number_integer()) return std::nullopt;
  }
  return FileId{j["size"].get<uint64_t>(), j["ino"].get<uint64_t>(), j["mtime_ns"].get<int64_t>(),
                j["ctime_ns"].get<int64_t>()};
}

std::string utc(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<std::string> pread_exact(int fd, uint64_t n, const std::string& what) {
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, out.data() + done, n - done, static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error("reading " + what, errno);
    if (r == 0) return fail(ErrorCategory::integrity, what + " is shorter than its header");
    done += static_cast<size_t>(r);
  }
  return out;
}

// How many leading bytes are the file's structure header; 0 when it has none we know.
Result<uint64_t> header_length(int fd, const std::string& rel, uint64_t size) {
  auto ends = [&](std::string_view s) { return rel.size() >= s.size() && rel.ends_with(s); };
  if (ends(".gguf")) return size >= k_gguf_header ? k_gguf_header : 0;
  if (!ends(".safetensors") || size < 8) return uint64_t{0};
  MB_ASSIGN(std::string len, pread_exact(fd, 8, rel));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | static_cast<unsigned char>(len[static_cast<size_t>(i)]);
  return n <= k_max_header && n <= size - 8 ? 8 + n : 8;
}

Result<json> stamp_file(const std::string& path, const std::string& rel) {
  MB_ASSIGN(UniqueFd fd, open_regular(path, rel));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat " + rel, errno);
  json j = id_json(id_of(st));
  j["path"] = rel;
  MB_ASSIGN(uint64_t n, header_length(fd.get(), rel, static_cast<uint64_t>(st.st_size)));
  if (n > 0) {
    MB_ASSIGN(std::string head, pread_exact(fd.get(), n, rel));
    j["header"] = {{"bytes", n}, {"sha256", sha256_hex(head)}};
  }
  return j;
}

}  // namespace

std::string default_stamp_path(const std::string& root) {
  return join_path(root, ".modelbake-verify.stamp");
}

Status write_stamp(const VerifyRoot& root, const std::string& stamp_path, bool infer) {
  json doc;
  doc["version"] = k_stamp_version;
  doc["tool"] = "modelbake-verify";
  doc["created"] = utc(std::time(nullptr));
  doc["full_check"] = infer ? "integrity, structure, consistency, memory, inference"
                            : "integrity, structure, consistency, memory";
  // A bundled lock is recorded relative to ROOT, so a copied bundle still finds it.
  MB_ASSIGN(Confinement conf, Confinement::of(root.path));
  char real[PATH_MAX];
  if (::realpath(root.lock_path.c_str(), real) == nullptr)
    return errno_error("resolving " + root.lock_path, errno);
  std::string lock_name = real;
  if (conf.contains(lock_name) && lock_name != conf.real_root()) {
    lock_name = lock_name.substr(conf.real_root().size() + (conf.real_root() == "/" ? 0 : 1));
  }
  MB_ASSIGN(json lock, stamp_file(real, lock_name));
  doc["lock"] = lock;
  doc["models"] = json::array();
  for (const auto& m : root.lock.models) {
    const std::string dir = root.model_dir(m);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return errno_error("stat " + dir, errno);
    json jm = {{"name", m.name},
               {"dir", dir.substr(root.path.size() + (root.path == "/" ? 0 : 1))},
               {"dir_id", id_json(id_of(st))}};
    jm["files"] = json::array();
    for (const auto& f : m.files) {
      MB_ASSIGN(json jf, stamp_file(join_path(dir, f.path), f.path));
      jm["files"].push_back(std::move(jf));
    }
    doc["models"].push_back(std::move(jm));
  }
  return write_file_atomic(stamp_path, doc.dump(1) + "\n");
}

namespace {

struct Compare {
  HealthReport& rep;

  bool failed(const std::string& message, const std::string& hint) {
    rep.error = ModelError{"health", message, hint};
    return false;
  }

  // One file against its stamp entry. `strict`: inode and ctime too, and mtime to the ns.
  bool file(const std::string& path, const std::string& label, const json& entry, bool strict) {
    auto want = id_from(entry);
    if (!want)
      return failed("the stamp entry of " + label + " is malformed", "stamp again with --stamp");
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      int err = errno;
      if (err == ENOENT)
        return failed(label + " is missing", "restore the files: rebuild the image or the bundle");
      return failed("stat " + label + ": " + std::strerror(err), "check the filesystem");
    }
    if (!S_ISREG(st.st_mode)) return failed(label + " is not a regular file", "restore the files");
    const FileId now = id_of(st);
    const char* changed = nullptr;
    if (now.size != want->size) {
      changed = "size";
    } else if (strict ? now.mtime_ns != want->mtime_ns
                      : now.mtime_ns / 1'000'000'000 != want->mtime_ns / 1'000'000'000) {
      changed = "mtime";
    } else if (strict && now.ino != want->ino) {
      changed = "inode";
    } else if (strict && now.ctime_ns != want->ctime_ns) {
      changed = "ctime";
    }
    if (changed) {
      return failed(label + " changed since the stamp (" + changed + " differs)",
                    "run the full check (modelbake-verify ROOT) to see what changed; if the change "
                    "is intended, stamp again with --stamp");
    }
    return entry.contains("header") ? header(path, label, entry["header"]) : true;
  }

  bool header(const std::string& path, const std::string& label, const json& h) {
    if (!h.is_object() || !h.contains("bytes") || !h["bytes"].is_number_unsigned() ||
        !h.contains("sha256") || !h["sha256"].is_string() ||
        h["bytes"].get<uint64_t>() > k_max_header + 8) {
      return failed("the stamp entry of " + label + " is malformed", "stamp again with --stamp");
    }
    const uint64_t n = h["bytes"].get<uint64_t>();
    auto fd = open_regular(path, label);
    if (!fd.ok()) return failed(fd.error().message, fd.error().hint);
    auto head = pread_exact(fd->get(), n, label);
    if (!head.ok()) return failed(head.error().message, "restore the files");
    rep.header_bytes += n;
    if (sha256_hex(*head) != h["sha256"].get<std::string>()) {
      return failed(label + ": its structure header changed since the stamp", "restore the files");
    }
    return true;
  }
};

// A string field of the stamp, "" when absent or of another type (the stamp is read as
// untrusted: a wrongly typed field must not throw).
std::string text_of(const json& j, const char* key) {
  const json* v = infer::find_field(j, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : "";
}

bool same_dir(const struct stat& st, const json& stamped) {
  auto id = id_from(stamped);
  const FileId now = id_of(st);
  return id && id->ino == now.ino && id->ctime_ns == now.ctime_ns;
}

}  // namespace

HealthReport check_health(const std::string& root, const std::string& stamp_path) {
  HealthReport rep;
  rep.root = root;
  rep.stamp_path = stamp_path;
  Compare cmp{rep};
  auto text = read_regular(stamp_path, k_max_stamp);
  if (!text.ok()) {
    struct stat st {};
    if (::lstat(stamp_path.c_str(), &st) != 0) {
      cmp.failed(
          "no stamp at " + stamp_path,
          "write it at build time after the models are in place: RUN modelbake-verify --stamp " +
              root + " (or pass --stamp-file PATH to both)");
    } else {
      cmp.failed(text.error().message, "stamp again with --stamp");
    }
    return rep;
  }
  json doc = infer::parse_json(*text);
  const json* version = infer::find_field(doc, "version");
  if (version == nullptr || !version->is_number_integer() || *version != k_stamp_version ||
      !doc.contains("models") || !doc["models"].is_array() || !doc.contains("lock")) {
    cmp.failed(stamp_path + " is not a modelbake-verify stamp (version 1)",
               "stamp again with --stamp");
    return rep;
  }
  rep.stamped_at = text_of(doc, "created");
  auto conf = Confinement::of(root);
  if (!conf.ok()) {
    cmp.failed(conf.error().message, "pass the ROOT that was stamped");
    return rep;
  }
  for (const auto& m : doc["models"]) {
    if (!m.is_object() || !m.contains("dir") || !m["dir"].is_string() || !m.contains("files") ||
        !m["files"].is_array() ||
        !validate_relative_path(m["dir"].get<std::string>(), "stamp dir").ok()) {
      cmp.failed(stamp_path + " has a malformed model entry", "stamp again with --stamp");
      return rep;
    }
    const std::string name = text_of(m, "name");
    const std::string dir = join_path(root, m["dir"].get<std::string>());
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      cmp.failed(name + ": model folder " + dir + " is missing",
                 "restore the files: rebuild the image or the bundle");
      return rep;
    }
    // A copied bundle or an image pulled onto another host has new inodes and ctimes; what
    // a copy keeps (size, mtime to the second) is still compared.
    const json* dir_id = infer::find_field(m, "dir_id");
    const bool strict = dir_id != nullptr && same_dir(st, *dir_id);
    rep.relocated += strict ? 0 : 1;
    rep.models++;
    for (const auto& f : m["files"]) {
      const std::string rel = text_of(f, "path");
      if (!validate_relative_path(rel, "stamp path").ok()) {
        cmp.failed(stamp_path + " has a malformed file entry", "stamp again with --stamp");
        return rep;
      }
      const std::string path = join_path(dir, rel);
      // Like the full check: a file must still resolve inside ROOT (a relinked snapshot
      // entry would otherwise pass on size and mtime alone in a copied bundle). A missing
      // file is reported by cmp.file.
      if (::lstat(path.c_str(), &st) == 0) {
        if (auto real = conf->resolve(path); !real.ok()) {
          cmp.failed(name + ": " + real.error().message,
                     "restore the files: rebuild the image or the bundle");
          return rep;
        }
      }
      if (!cmp.file(path, name + ": " + rel, f, strict)) return rep;
      rep.files++;
    }
  }
  const json& lock = doc["lock"];
  std::string lock_path = text_of(lock, "path");
  if (!lock_path.empty() && lock_path[0] != '/') lock_path = join_path(root, lock_path);
  cmp.file(lock_path, "the lock " + lock_path, lock, rep.relocated == 0);
  return rep;
}

ordered_json to_json(const HealthReport& r) {
  ordered_json j;
  j["version"] = 1;
  j["mode"] = "health";
  j["root"] = r.root;
  j["stamp"] = r.stamp_path;
  j["stamped_at"] = r.stamped_at.empty() ? ordered_json(nullptr) : ordered_json(r.stamped_at);
  j["status"] = r.ok() ? "ready" : "failed";
  j["models"] = r.models;
  j["files"] = r.files;
  j["header_bytes_read"] = r.header_bytes;
  j["relocated_models"] = r.relocated;
  if (r.error) {
    j["error"] = {
        {"check", r.error->check}, {"message", r.error->message}, {"hint", r.error->hint}};
  } else {
    j["error"] = nullptr;
  }
  return j;
}

std::string render_human(const HealthReport& r) {
  if (!r.ok()) {
    std::string out = "modelbake-verify: " + r.root + " NOT healthy: " + r.error->message + "\n";
    if (!r.error->hint.empty()) out += "  fix: " + r.error->hint + "\n";
    return out;
  }
  std::string out = "modelbake-verify: " + r.root + " healthy: " + std::to_string(r.models) +
                    " models, " + std::to_string(r.files) + " files unchanged since the stamp of " +
                    r.stamped_at + " (" + format_size(r.header_bytes) + " of headers read";
  if (r.relocated)
    out += "; " + std::to_string(r.relocated) + " copied models compared by size and mtime";
  return out + ")\n";
}

}  // namespace mb::runtime
