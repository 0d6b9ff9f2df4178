// Sidecar of a resumable download: which byte extents of tmp/<etag>.partial are known to be
// written. It is replaced (temp + rename) after data has been pwritten, so after a SIGKILL
// it never claims bytes that are not in the file. It is deliberately not fsynced: a kill
// keeps the page cache, and after a power loss the final digest check catches any stale
// claim (the partial is then discarded and downloaded again). See docs/fetch.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "fetch/extents.hpp"
#include "store/cache_door.hpp"

namespace mb::fetch {

struct ResumeState {
  std::string etag;  // the content the partial belongs to (also its file name)
  uint64_t size = 0;
  ExtentSet done;
};

std::string serialize_resume_state(const ResumeState& state);
// Errors for malformed text, or extents outside [0, size).
Result<ResumeState> parse_resume_state(std::string_view text);

// Atomic replace without fsync (see above), through the cache door. Creates nothing else.
Status save_resume_state(const CacheDoor& door, const std::string& path, const ResumeState& state);
// The state at `path` if it exists, parses, and belongs to (etag, size); otherwise nullopt
// (a missing, foreign or damaged sidecar just means "start from scratch").
std::optional<ResumeState> load_resume_state(const CacheDoor& door, const std::string& path,
                                             std::string_view etag, uint64_t size);

}  // namespace mb::fetch
