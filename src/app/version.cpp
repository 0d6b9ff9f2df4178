#include "app/version.hpp"

namespace mb {
const char* version() { return "0.1.0"; }
}  // namespace mb
