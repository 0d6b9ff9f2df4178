// The one place the program's identity is spelled: the version comes from CMake's
// project(VERSION) (MB_VERSION, set on version.cpp only), and every HTTP client of a run
// (hub, upstream, registry) sends user_agent().
#pragma once

#include <string>

namespace mb {
const char* version();
// "modelbake/<version>", the User-Agent of every request modelbake sends.
std::string user_agent();
}  // namespace mb
