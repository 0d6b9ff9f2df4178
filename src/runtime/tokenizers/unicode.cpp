#include "runtime/tokenizers/unicode.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace mb::infer::uni {

std::u32string decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
    char32_t c = len == 1 ? b : len == 2 ? (b & 0x1f) : len == 3 ? (b & 0x0f) : (b & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto cb = static_cast<unsigned char>(s[i + k]);
      if ((cb & 0xc0) != 0x80) ok = false;
      c = (c << 6) | (cb & 0x3f);
    }
    // Reject overlong forms, surrogates and values beyond U+10FFFF.
    if (ok && ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
               (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff))
      ok = false;
    if (!ok) {
      out.push_back(0xfffd);
      ++i;
      continue;
    }
    out.push_back(c);
    i += static_cast<size_t>(len);
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
  }
}

std::string encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

namespace {

struct Range {
  char32_t lo, hi;
};

template <size_t N>
bool in(const Range (&ranges)[N], char32_t c) {
  auto it = std::upper_bound(std::begin(ranges), std::end(ranges), c,
                             [](char32_t v, const Range& r) { return v < r.lo; });
  return it != std::begin(ranges) && c <= std::prev(it)->hi;
}

// Unicode general category P* (punctuation) outside ASCII, the commonly used blocks.
constexpr Range k_punct[] = {
    {0xa1, 0xa1},     {0xa7, 0xa7},     {0xab, 0xab},     {0xb6, 0xb7},     {0xbb, 0xbb},
    {0xbf, 0xbf},     {0x37e, 0x37e},   {0x387, 0x387},   {0x55a, 0x55f},   {0x589, 0x58a},
    {0x5be, 0x5be},   {0x5c0, 0x5c0},   {0x5c3, 0x5c3},   {0x5c6, 0x5c6},   {0x5f3, 0x5f4},
    {0x609, 0x60a},   {0x60c, 0x60d},   {0x61b, 0x61b},   {0x61e, 0x61f},   {0x66a, 0x66d},
    {0x6d4, 0x6d4},   {0x964, 0x965},   {0x970, 0x970},   {0xe4f, 0xe4f},   {0xe5a, 0xe5b},
    {0x2010, 0x2027}, {0x2030, 0x2043}, {0x2045, 0x2051}, {0x2053, 0x205e}, {0x207d, 0x207e},
    {0x208d, 0x208e}, {0x2308, 0x230b}, {0x2329, 0x232a}, {0x2768, 0x2775}, {0x27c5, 0x27c6},
    {0x27e6, 0x27ef}, {0x2983, 0x2998}, {0x29d8, 0x29db}, {0x29fc, 0x29fd}, {0x2cf9, 0x2cfc},
    {0x2cfe, 0x2cff}, {0x2e00, 0x2e2e}, {0x2e30, 0x2e4f}, {0x3001, 0x3003}, {0x3008, 0x3011},
    {0x3014, 0x301f}, {0x3030, 0x3030}, {0x303d, 0x303d}, {0x30a0, 0x30a0}, {0x30fb, 0x30fb},
    {0xfe10, 0xfe19}, {0xfe30, 0xfe52}, {0xfe54, 0xfe61}, {0xfe63, 0xfe63}, {0xfe68, 0xfe68},
    {0xfe6a, 0xfe6b}, {0xff01, 0xff03}, {0xff05, 0xff0a}, {0xff0c, 0xff0f}, {0xff1a, 0xff1b},
    {0xff1f, 0xff20}, {0xff3b, 0xff3d}, {0xff3f, 0xff3f}, {0xff5b, 0xff5b}, {0xff5d, 0xff5d},
    {0xff5f, 0xff65},
};

// Symbols (S*) and other non-letters that GPT-2's [^\s\p{L}\p{N}] class covers, besides P*.
constexpr Range k_symbol[] = {
    {0xa2, 0xa6},       {0xa8, 0xa9},     {0xac, 0xae},     {0xaf, 0xb1},     {0xb4, 0xb4},
    {0xb8, 0xb8},       {0xd7, 0xd7},     {0xf7, 0xf7},     {0x2044, 0x2044}, {0x2052, 0x2052},
    {0x20a0, 0x20cf},   {0x2100, 0x214f}, {0x2190, 0x23ff}, {0x2500, 0x2767}, {0x2794, 0x27c4},
    {0x27c7, 0x27e5},   {0x27f0, 0x2982}, {0x2999, 0x29d7}, {0x29dc, 0x29fb}, {0x29fe, 0x2bff},
    {0x1f000, 0x1faff},
};

constexpr Range k_control[] = {
    {0x00, 0x08},     {0x0b, 0x0c},     {0x0e, 0x1f},     {0x7f, 0x9f},     {0xad, 0xad},
    {0x600, 0x605},   {0x61c, 0x61c},   {0x6dd, 0x6dd},   {0x70f, 0x70f},   {0x180e, 0x180e},
    {0x200b, 0x200f}, {0x202a, 0x202e}, {0x2060, 0x2064}, {0x2066, 0x206f}, {0xe000, 0xf8ff},
    {0xfeff, 0xfeff}, {0xfff9, 0xfffb},
};

constexpr Range k_cjk[] = {
    {0x3400, 0x4dbf},   {0x4e00, 0x9fff},   {0xf900, 0xfaff},   {0x20000, 0x2a6df},
    {0x2a700, 0x2b73f}, {0x2b740, 0x2b81f}, {0x2b820, 0x2ceaf}, {0x2f800, 0x2fa1f},
};

constexpr Range k_number[] = {
    {0x30, 0x39},     {0xb2, 0xb3},     {0xb9, 0xb9},     {0xbc, 0xbe},     {0x660, 0x669},
    {0x6f0, 0x6f9},   {0x966, 0x96f},   {0x2070, 0x2070}, {0x2074, 0x2079}, {0x2080, 0x2089},
    {0x2150, 0x2189}, {0x2460, 0x249b}, {0x3007, 0x3007}, {0x3021, 0x3029}, {0xff10, 0xff19},
};

// Base letters of U+00C0..U+017F ('?' = no canonical decomposition to a base letter).
constexpr char k_latin_base[] =
    "AAAAAA?CEEEEIIII?NOOOOO??UUUUY??"
    "aaaaaa?ceeeeiiii?nooooo??uuuuy?y"
    "AaAaAaCcCcCcCcDd??EeEeEeEeEeGgGgGgGgHh??IiIiIiIiI???JjKk?LlLlLl????NnNnNn???OoOoOo??"
    "RrRrRrSsSsSsSsTtTt??UuUuUuUuUuUuWwYyYZzZzZz?";
static_assert(sizeof(k_latin_base) - 1 == 0x180 - 0xc0);

}  // namespace

bool is_whitespace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x202f || c == 0x205f || c == 0x3000;
}

bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return in(k_control, c);
}

bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  return c >= 0x80 && in(k_punct, c);
}

bool is_cjk(char32_t c) { return in(k_cjk, c); }

bool is_number(char32_t c) { return in(k_number, c); }

bool is_combining_mark(char32_t c) {
  return (c >= 0x300 && c <= 0x36f) || (c >= 0x1ab0 && c <= 0x1aff) ||
         (c >= 0x1dc0 && c <= 0x1dff) || (c >= 0x20d0 && c <= 0x20ff) ||
         (c >= 0xfe20 && c <= 0xfe2f);
}

bool is_letter(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (c < 0x100)
    return c == 0xaa || c == 0xb5 || c == 0xba || (c >= 0xc0 && c != 0xd7 && c != 0xf7);
  return !is_whitespace(c) && !is_control(c) && !is_number(c) && !in(k_punct, c) &&
         !in(k_symbol, c) && !is_combining_mark(c) && c != 0xfffd;
}

void append_lower(std::u32string& out, char32_t c) {
  char32_t l = c;
  if (c >= 'A' && c <= 'Z') {
    l = c + 32;
  } else if (c < 0xc0) {
    l = c;
  } else if (c <= 0xde) {
    if (c != 0xd7) l = c + 32;
  } else if (c >= 0x100 && c <= 0x17f) {
    if (c == 0x130) {
      out.push_back('i');
      out.push_back(0x307);
      return;
    }
    if (c == 0x178) {
      l = 0xff;
    } else if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) {
      if (c % 2 == 1) l = c + 1;
    } else if (c != 0x138 && c != 0x149 && c != 0x17f && c % 2 == 0) {
      l = c + 1;
    }
  } else if ((c >= 0x391 && c <= 0x3a9 && c != 0x3a2) || (c >= 0x410 && c <= 0x42f)) {
    l = c + 32;
  } else if (c >= 0x400 && c <= 0x40f) {
    l = c + 80;
  } else if (c >= 0xff21 && c <= 0xff3a) {
    l = c + 32;
  }
  out.push_back(l);
}

char32_t strip_accent(char32_t c) {
  if (c < 0xc0 || c >= 0x180) return c;
  const char b = k_latin_base[c - 0xc0];
  return b == '?' ? c : static_cast<char32_t>(b);
}

namespace {

constexpr const char* k_replacement = "\xef\xbf\xbd";  // U+FFFD

// Length of the well-formed UTF-8 prefix of the sequence starting at s[i] (Unicode's
// "maximal subpart"), and whether it is a complete character.
size_t utf8_subpart(const std::string& s, size_t i, bool* complete) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xbf;
  if (b < 0x80)
    len = 1;
  else if (b >= 0xc2 && b <= 0xdf)
    len = 2;
  else if (b >= 0xe0 && b <= 0xef)
    len = 3, lo = b == 0xe0 ? 0xa0 : 0x80, hi = b == 0xed ? 0x9f : 0xbf;
  else if (b >= 0xf0 && b <= 0xf4)
    len = 4, lo = b == 0xf0 ? 0x90 : 0x80, hi = b == 0xf4 ? 0x8f : 0xbf;
  *complete = len > 0;
  if (len <= 1) return 1;
  size_t k = 1;
  for (; k < len && i + k < s.size(); ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xbf)) break;
  }
  *complete = k == len;
  return k;
}

}  // namespace

std::string utf8_lossy(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    bool complete = false;
    const size_t n = utf8_subpart(s, i, &complete);
    if (complete)
      out.append(s, i, n);
    else
      out += k_replacement;
    i += n;
  }
  return out;
}

bool utf8_valid(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    bool complete = false;
    i += utf8_subpart(s, i, &complete);
    if (!complete) return false;
  }
  return true;
}

std::string byte_fallback(const std::string& bytes) {
  if (utf8_valid(bytes)) return bytes;
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) out += k_replacement;
  return out;
}

}  // namespace mb::infer::uni
