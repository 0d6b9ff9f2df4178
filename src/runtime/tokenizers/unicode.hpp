// The small slice of Unicode the tokenizers need, built in (the verifier links no ICU).
// Limits, documented in docs/inference.md: lowercasing covers ASCII, Latin-1, Latin
// Extended-A, Greek, Cyrillic and fullwidth Latin; accent stripping (NFD + drop
// combining marks) decomposes Latin-1 and Latin Extended-A letters and drops U+0300-036F;
// letter/number/punctuation classes are exact for ASCII and Latin-1 and table-based for the
// common punctuation blocks (General, CJK, fullwidth); other code points count as letters.
#pragma once

#include <string>
#include <string_view>

namespace mb::infer::uni {

// Decodes UTF-8; invalid sequences become U+FFFD (one per bad byte).
std::u32string decode(std::string_view utf8);
std::string encode(std::u32string_view text);
void append_utf8(std::string& out, char32_t c);

// Rust's String::from_utf8_lossy, which tokenizers' ByteLevel decoder uses: one U+FFFD per
// maximal invalid subpart (Unicode's "maximal subpart" rule).
std::string utf8_lossy(const std::string& bytes);
bool utf8_valid(const std::string& bytes);
// tokenizers' ByteFallback decoder on one run of consecutive <0xNN> tokens: the bytes when
// they are valid UTF-8, else one U+FFFD per token.
std::string byte_fallback(const std::string& bytes);

bool is_whitespace(char32_t c);   // BERT: space, \t \n \r, Zs
bool is_control(char32_t c);      // BERT: Cc/Cf except \t \n \r
bool is_punctuation(char32_t c);  // BERT: ASCII symbols 33-47 58-64 91-96 123-126, or P*
bool is_cjk(char32_t c);          // BERT's "Chinese character" blocks
bool is_letter(char32_t c);       // approximates \p{L}
bool is_number(char32_t c);       // approximates \p{N}
bool is_combining_mark(char32_t c);

// Lowercase of one code point; İ (U+0130) lowercases to two ("i" + U+0307) as in Rust.
void append_lower(std::u32string& out, char32_t c);
// Base letter of a precomposed Latin letter, or c itself.
char32_t strip_accent(char32_t c);

}  // namespace mb::infer::uni
