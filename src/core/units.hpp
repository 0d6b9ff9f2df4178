// Byte counts for people: formatted for messages and reports ("512 B", "1.5 KiB", "3.0 GiB"),
// and parsed from command-line options ("4G", "512m", "1.5GiB", "800K", "123").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mb {

// How many digits a size shows: one decimal ("1.5 KiB", "300.0 MiB") for reports and messages,
// or three significant digits ("1.50 KiB", "12.0 MiB", "300 MiB") for progress, whose width
// must not jump as numbers grow.
enum class SizeDigits { one_decimal, three_significant };

std::string format_size(uint64_t bytes, SizeDigits digits = SizeDigits::one_decimal);

// Digits with at most one '.', then an optional binary unit K, M, G or T (any case, with an
// optional "i" and/or "B": "GiB", "gb", "B"). The result is rounded down; nullopt for anything
// else, and for values of 2^64 or more. Callers add their own bounds and messages.
std::optional<uint64_t> parse_size(std::string_view text);

}  // namespace mb
