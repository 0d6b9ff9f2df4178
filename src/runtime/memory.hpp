// Memory budget of modelbake-verify: how much memory the process may really use. Inside a
// container that is the cgroup's limit minus what the cgroup already uses (v2 memory.max /
// memory.current, else v1 memory.limit_in_bytes / memory.usage_in_bytes), bounded by the
// machine's MemAvailable. Every path is read below an injectable root so tests can fake
// /proc and /sys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/units.hpp"

namespace mb::runtime {

struct MemoryAvailability {
  std::optional<uint64_t> available;      // bytes the process can still allocate
  std::optional<uint64_t> cgroup_limit;   // the tightest cgroup limit found
  std::optional<uint64_t> cgroup_usage;   // that cgroup's current usage
  std::optional<uint64_t> mem_available;  // /proc/meminfo MemAvailable
  std::string source;                     // where `available` came from, for messages
};

// `sys_root` is "/" in production; paths read are <sys_root>/proc/self/cgroup,
// <sys_root>/sys/fs/cgroup/..., <sys_root>/proc/meminfo.
MemoryAvailability probe_memory(const std::string& sys_root);

// "4G", "512M", "1.5GiB", "1073741824", "800k" (binary multiples). Usage error otherwise.
Result<uint64_t> parse_memory_size(std::string_view text);

// 1536 -> "1.5 KiB"; exact bytes below 1 KiB.

}  // namespace mb::runtime
