#include "app/version.hpp"

#ifndef MB_VERSION
#error "MB_VERSION is set by CMakeLists.txt from project(VERSION)"
#endif

namespace mb {
const char* version() { return MB_VERSION; }
std::string user_agent() { return std::string("modelbake/") + MB_VERSION; }
}  // namespace mb
