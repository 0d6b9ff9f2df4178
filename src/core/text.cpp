#include "core/text.hpp"

#include <cstdint>

namespace mb {
namespace {

// Length of the well-formed UTF-8 sequence at the start of s and its code point; 0 if the
// sequence is ill-formed (Unicode table 3-7).
size_t utf8_sequence(std::string_view s, uint32_t* cp) {
  auto b0 = static_cast<unsigned char>(s[0]);
  size_t len = 0;
  uint32_t lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 == 0xe0) lo = 0xa0;  // overlong
    if (b0 == 0xed) hi = 0x9f;  // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 == 0xf0) lo = 0x90;  // overlong
    if (b0 == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  uint32_t value = b0 & (0xffu >> (len + 1));
  for (size_t i = 1; i < len; ++i) {
    auto b = static_cast<unsigned char>(s[i]);
    if (i == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80) return 0;
    value = (value << 6) | (b & 0x3fu);
  }
  *cp = value;
  return len;
}

bool is_hidden_control(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

std::string sanitize_for_display(std::string_view text, size_t max_bytes) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (i + 1 > max_bytes) break;
      if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else {
        out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
      }
      ++i;
      continue;
    }
    uint32_t cp = 0;
    size_t len = utf8_sequence(text.substr(i), &cp);
    if (i + (len ? len : 1) > max_bytes) break;
    if (len == 0) {
      out += '?';
      ++i;
    } else {
      if (is_hidden_control(cp)) {
        out += '?';
      } else {
        out.append(text.substr(i, len));
      }
      i += len;
    }
  }
  if (i < text.size()) out += "...";
  return out;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace mb
