#pragma once

namespace mb {
const char* version();
}  // namespace mb
