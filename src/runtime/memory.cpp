#include "runtime/memory.hpp"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <vector>

#include "core/file.hpp"
#include "core/units.hpp"

namespace mb::runtime {

namespace {

// cgroup v1 reports "no limit" as a page-rounded LONG_MAX; anything this large is unlimited.
constexpr uint64_t k_unlimited = 1ull << 60;

// procfs and cgroupfs files report a size of 0, so read until EOF (bounded).
std::optional<std::string> read_small(const std::string& path) {
  auto fd = open_read(path);
  if (!fd.ok()) return std::nullopt;
  std::string out;
  char buf[4096];
  while (out.size() < (1u << 20)) {
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::optional<uint64_t> read_number(const std::string& path) {
  auto text = read_small(path);
  if (!text) return std::nullopt;
  std::string s = *text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;  // "max"
  return v;
}

struct CgroupPaths {
  std::optional<std::string> v2;  // path inside the unified hierarchy
  std::optional<std::string> v1;  // path inside the memory controller hierarchy
};

CgroupPaths read_self_cgroup(const std::string& root) {
  CgroupPaths out;
  auto text = read_small(root + "/proc/self/cgroup");
  if (!text) return out;
  size_t start = 0;
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    std::string line = text->substr(start, end - start);
    start = end + 1;
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (path.find("..") != std::string::npos) continue;
    if (line.substr(0, a) == "0" && controllers.empty()) out.v2 = path;
    size_t pos = 0;
    while (pos <= controllers.size()) {
      size_t comma = controllers.find(',', pos);
      if (comma == std::string::npos) comma = controllers.size();
      if (controllers.substr(pos, comma - pos) == "memory") out.v1 = path;
      pos = comma + 1;
    }
  }
  return out;
}

// Directories from the process's own cgroup up to the hierarchy root (limits of ancestors
// apply too). When the own path is not visible (a container sees its cgroup at the mount
// root) only the mount root is consulted.
std::vector<std::string> cgroup_chain(const std::string& mount, std::string path) {
  std::vector<std::string> dirs;
  while (!path.empty() && path != "/") {
    dirs.push_back(mount + path);
    path = path.substr(0, path.rfind('/'));
  }
  dirs.push_back(mount);
  return dirs;
}

struct Limit {
  uint64_t limit = 0;
  uint64_t usage = 0;
  std::string file;
};

std::optional<Limit> tightest(const std::vector<std::string>& dirs, const char* limit_file,
                              const char* usage_file) {
  std::optional<Limit> best;
  for (const auto& d : dirs) {
    auto limit = read_number(d + "/" + limit_file);
    if (!limit || *limit >= k_unlimited) continue;
    uint64_t usage = read_number(d + "/" + usage_file).value_or(0);
    uint64_t head = *limit > usage ? *limit - usage : 0;
    if (!best || head < (best->limit > best->usage ? best->limit - best->usage : 0)) {
      best = Limit{*limit, usage, d + "/" + limit_file};
    }
  }
  return best;
}

std::optional<uint64_t> mem_available(const std::string& root) {
  auto text = read_small(root + "/proc/meminfo");
  if (!text) return std::nullopt;
  auto pos = text->find("MemAvailable:");
  if (pos == std::string::npos) return std::nullopt;
  pos += 13;
  while (pos < text->size() && (*text)[pos] == ' ') ++pos;
  uint64_t kib = 0;
  auto [p, ec] = std::from_chars(text->data() + pos, text->data() + text->size(), kib);
  if (ec != std::errc() || kib > (UINT64_MAX >> 10)) return std::nullopt;
  return kib << 10;
}

}  // namespace

MemoryAvailability probe_memory(const std::string& sys_root) {
  std::string root = sys_root == "/" ? "" : sys_root;
  MemoryAvailability out;
  CgroupPaths self = read_self_cgroup(root);
  std::optional<Limit> lim;
  std::string version;
  if (self.v2) {
    lim = tightest(cgroup_chain(root + "/sys/fs/cgroup", *self.v2), "memory.max", "memory.current");
    version = "cgroup v2";
  }
  if (!lim && self.v1) {
    lim = tightest(cgroup_chain(root + "/sys/fs/cgroup/memory", *self.v1), "memory.limit_in_bytes",
                   "memory.usage_in_bytes");
    version = "cgroup v1";
  }
  out.mem_available = mem_available(root);
  if (lim) {
    out.cgroup_limit = lim->limit;
    out.cgroup_usage = lim->usage;
    out.available = lim->limit > lim->usage ? lim->limit - lim->usage : 0;
    out.source = version + " limit " + format_size(lim->limit) + " minus usage " +
                 format_size(lim->usage) + " (" + lim->file.substr(root.size()) + ")";
  }
  if (out.mem_available && (!out.available || *out.mem_available < *out.available)) {
    out.available = out.mem_available;
    out.source = "/proc/meminfo MemAvailable";
  }
  return out;
}

Result<uint64_t> parse_memory_size(std::string_view text) {
  auto bytes = parse_size(text);
  if (!bytes || *bytes == 0) {
    return fail(ErrorCategory::usage, "invalid memory size '" + std::string(text) + "'",
                "use a number of bytes with an optional K, M, G or T suffix, e.g. 4G");
  }
  return *bytes;
}

}  // namespace mb::runtime
