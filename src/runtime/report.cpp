#include "runtime/report.hpp"

namespace mb::runtime {
const char* name() { return "modelbake-verify"; }
}  // namespace mb::runtime
