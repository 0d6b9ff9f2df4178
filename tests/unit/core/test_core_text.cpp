// The one sanitiser for text from servers, helpers and files (issue 12, "one of each").
#include <gtest/gtest.h>

#include "core/text.hpp"

namespace mb {
namespace {

TEST(SanitizeForDisplay, KeepsPrintableAsciiAndUtf8) {
  EXPECT_EQ(sanitize_for_display("Repository not found"), "Repository not found");
  EXPECT_EQ(sanitize_for_display("mod\xc3\xa8le \xe6\xa8\xa1\xe5\x9e\x8b \xf0\x9f\xa4\x97"),
            "mod\xc3\xa8le \xe6\xa8\xa1\xe5\x9e\x8b \xf0\x9f\xa4\x97");
  EXPECT_EQ(sanitize_for_display(""), "");
}

TEST(SanitizeForDisplay, ReplacesC0ControlsAndDel) {
  EXPECT_EQ(sanitize_for_display(std::string("a\0b", 3)), "a?b");
  EXPECT_EQ(sanitize_for_display("bell\x07 del\x7f"), "bell? del?");
  EXPECT_EQ(sanitize_for_display("line1\nline2\r\tx"), "line1\\nline2\\r\\tx");
}

TEST(SanitizeForDisplay, NeutralisesEscapeSequences) {
  EXPECT_EQ(sanitize_for_display("\x1b[2J\x1b]0;pwned\x07ok"), "?[2J?]0;pwned?ok");
  // CSI as the single C1 code point U+009B, and the other C1 controls.
  EXPECT_EQ(sanitize_for_display("\xc2\x9b"
                                 "31m red \xc2\x85\xc2\x80"),
            "?31m red ??");
}

TEST(SanitizeForDisplay, ReplacesBidiOverrides) {
  EXPECT_EQ(sanitize_for_display("a\xe2\x80\xae"
                                 "b\xe2\x81\xa6"
                                 "c"),
            "a?b?c");
}

TEST(SanitizeForDisplay, ReplacesEveryByteOfInvalidUtf8) {
  EXPECT_EQ(sanitize_for_display("\x80x"), "?x");                 // stray continuation
  EXPECT_EQ(sanitize_for_display("\xc0\xafx"), "??x");            // overlong '/'
  EXPECT_EQ(sanitize_for_display("\xed\xa0\x80x"), "???x");       // surrogate
  EXPECT_EQ(sanitize_for_display("\xf4\x90\x80\x80x"), "????x");  // above U+10FFFF
  EXPECT_EQ(sanitize_for_display("\xff\xfe"), "??");
  EXPECT_EQ(sanitize_for_display("ok\xe6\xa8"), "ok??");  // cut off at the end
}

TEST(SanitizeForDisplay, CapsTheLengthOnACharacterBoundary) {
  EXPECT_EQ(sanitize_for_display(std::string(500, 'x')), std::string(200, 'x') + "...");
  EXPECT_EQ(sanitize_for_display("abcdef", 3), "abc...");
  EXPECT_EQ(sanitize_for_display("abc", 3), "abc");
  // "ab" then a 3-byte character that would end past the cap: not split.
  EXPECT_EQ(sanitize_for_display("ab\xe6\xa8\xa1", 4), "ab...");
  EXPECT_EQ(sanitize_for_display("\n\n\n", 2), "\\n\\n...");
}

}  // namespace
}  // namespace mb
