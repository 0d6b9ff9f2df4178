#pragma once
// Placeholder header; the runtime verifier (issue 6) replaces this.
namespace mb::runtime {
const char* name();
}  // namespace mb::runtime
