#include "core/paths.hpp"

#include <filesystem>
#include <vector>

#include "core/text.hpp"

namespace mb {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    parts.push_back(
        s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

Failure bad(std::string_view what, std::string_view path, const std::string& why) {
  std::string shown = sanitize_for_display(path);  // never echo control characters
  return fail(ErrorCategory::permanent, "unsafe " + std::string(what) + " '" + shown + "': " + why);
}

}  // namespace

Status validate_relative_path(std::string_view path, std::string_view what) {
  if (path.empty()) return bad(what, path, "empty path");
  if (path.size() > 4096) return bad(what, path, "path too long");
  if (path.front() == '/') return bad(what, path, "absolute path");
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return bad(what, path, "control character in path");
    if (c == '\\') return bad(what, path, "backslash in path");
  }
  for (std::string_view part : split(path, '/')) {
    if (part.empty()) return bad(what, path, "empty path component");
    if (part == "." || part == "..") return bad(what, path, "'.' or '..' component");
    if (part.size() > 255) return bad(what, path, "path component too long");
  }
  return {};
}

namespace {

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// The name a component resolves to on a case-insensitive, NTFS-like file system (git's
// is_ntfs_dotgit / is_hfs_dotgit rules, without the HFS+ ignorable code points).
std::string folded_name(std::string_view part) {
  part = part.substr(0, part.find(':'));  // NTFS alternate data stream ".git::$INDEX_ALLOCATION"
  while (!part.empty() && (part.back() == '.' || part.back() == ' ')) part.remove_suffix(1);
  std::string out(part);
  for (char& c : out) c = lower_ascii(c);
  return out;
}

bool has_drive_prefix(std::string_view part) {
  char c = lower_ascii(part.empty() ? '\0' : part[0]);
  return part.size() >= 2 && c >= 'a' && c <= 'z' && part[1] == ':';
}

}  // namespace

Status validate_repo_file_path(std::string_view path, std::string_view what) {
  MB_TRY(validate_relative_path(path, what));
  for (std::string_view part : split(path, '/')) {
    std::string name = folded_name(part);
    if (name == ".git" || name == "git~1") {
      return bad(what, path, "'.git' component (a repository cannot ship git metadata)");
    }
    if (name == ".cache") {
      return bad(what, path, "'.cache' component (reserved by huggingface_hub)");
    }
    if (has_drive_prefix(part)) return bad(what, path, "Windows drive prefix in path");
  }
  return {};
}

std::string join_path(std::string_view root, std::string_view rel) {
  std::string out(root);
  if (!out.empty() && out.back() != '/') out += '/';
  out += rel;
  return out;
}

static bool repo_part_ok(std::string_view p) {
  if (p.empty() || p.size() > 96) return false;
  if (p.front() == '-' || p.front() == '.' || p.back() == '-' || p.back() == '.') return false;
  if (p.find("--") != std::string_view::npos || p.find("..") != std::string_view::npos)
    return false;
  for (char c : p) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Status validate_repo_id(std::string_view repo_id) {
  auto parts = split(repo_id, '/');
  bool ok = parts.size() <= 2;
  for (auto p : parts) ok = ok && repo_part_ok(p);
  if (!ok) {
    return fail(ErrorCategory::usage,
                "invalid repo id '" + std::string(repo_id.substr(0, 200)) + "'",
                "expected 'name' or 'org/name' with letters, digits, '_', '-', '.'");
  }
  return {};
}

Status validate_revision(std::string_view revision) {
  if (revision.empty() || revision.size() > 255) {
    return fail(ErrorCategory::usage, "invalid revision (empty or too long)");
  }
  Status s = validate_relative_path(revision, "revision");
  if (!s.ok()) return fail(ErrorCategory::usage, s.error().message);
  for (char c : revision) {
    if (c == ' ' || c == '~' || c == '^' || c == ':' || c == '?' || c == '*' || c == '[') {
      return fail(ErrorCategory::usage,
                  "invalid character in revision '" + std::string(revision) + "'");
    }
  }
  return {};
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  auto a = std::filesystem::absolute(path, ec);
  if (ec) return path;
  std::string out = a.lexically_normal().string();
  // "dir/" and "dir" are one directory: one spelling, so every command prints the same.
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace mb
