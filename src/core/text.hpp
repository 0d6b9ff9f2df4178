// Text that came from outside (a server's error message, a helper's stderr, a file name or file
// content) made safe to put into one line of a message, a log or a report.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mb {

// Keeps printable UTF-8 as it is and replaces everything a terminal could act on, so hostile text
// can neither move the cursor, recolour, retitle nor reorder the rest of the line:
// - C0 controls, DEL and C1 controls (U+0080..U+009F) become '?', except '\n', '\r' and '\t',
//   which are shown as the two characters "\n", "\r", "\t"; ESC is a C0 control, so an escape
//   sequence loses its introducer;
// - Unicode bidirectional overrides and isolates (U+202A..U+202E, U+2066..U+2069) become '?';
// - every byte of invalid UTF-8 (stray continuation, overlong, surrogate, > U+10FFFF, cut off)
//   becomes '?'.
// At most max_bytes of the input are shown, cut on a character boundary; "..." marks a cut.
std::string sanitize_for_display(std::string_view text, size_t max_bytes = 200);

// ASCII letters lowered, every other byte kept: for protocol tokens (URL schemes and hosts,
// header and parameter names, digest algorithms), which are ASCII and case-insensitive by their
// specs. Not locale-dependent, unlike std::tolower.
std::string ascii_lower(std::string_view text);

}  // namespace mb
