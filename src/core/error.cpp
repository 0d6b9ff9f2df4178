#include "core/error.hpp"

namespace mb {

const char* to_string(ErrorCategory c) {
  switch (c) {
    case ErrorCategory::transient: return "transient";
    case ErrorCategory::permanent: return "permanent";
    case ErrorCategory::auth: return "auth";
    case ErrorCategory::integrity: return "integrity";
    case ErrorCategory::usage: return "usage";
    case ErrorCategory::io: return "io";
    case ErrorCategory::cancelled: return "cancelled";
  }
  return "unknown";
}

int exit_code_for(ErrorCategory c) {
  switch (c) {
    case ErrorCategory::integrity: return 1;
    case ErrorCategory::usage: return 2;
    case ErrorCategory::transient:
    case ErrorCategory::permanent: return 3;
    case ErrorCategory::auth: return 4;
    case ErrorCategory::io: return 5;
    case ErrorCategory::cancelled: return 130;
  }
  return 3;
}

}  // namespace mb
