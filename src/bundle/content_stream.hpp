// Streams a locked file's bytes from the cache to a consumer (a tar entry, a file copy) while
// checking them against the lock. The sha256 runs on a second thread (AsyncHasher) a few
// chunks behind the consumer, so checking costs little wall time on a machine with a spare core.
#pragma once

#include <functional>
#include <string>

#include "bundle/plan.hpp"
#include "core/error.hpp"

namespace mb::bundle {

using ChunkConsumer = std::function<Status(const char* data, size_t len)>;

// Reads e.source (exactly e.size bytes, else integrity error) and passes it on in chunks.
// With `check`, the content's sha256 must equal e.sha256 (else ErrorCategory::integrity; the
// consumer has already seen the bytes, so the caller must discard its output).
Status stream_content(const Entry& e, bool check, const ChunkConsumer& consume);

}  // namespace mb::bundle
