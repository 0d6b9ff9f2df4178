// Human-readable byte counts for messages and reports ("512 B", "1.5 KiB", "3.0 GiB").
#pragma once

#include <cstdint>
#include <string>

namespace mb {

std::string format_size(uint64_t bytes);

}  // namespace mb
