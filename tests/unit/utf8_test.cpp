// is_valid_utf8: strict RFC 3629 validation.
#include <catch2/catch.hpp>

#include <string>

#include "core/utf8.hpp"

using rthub::is_valid_utf8;

TEST_CASE("is_valid_utf8 accepts well-formed text", "[utf8]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii {\"a\":1}"));
  CHECK(is_valid_utf8(std::string("nul\0inside", 10)));
  CHECK(is_valid_utf8("\x7f"));
  CHECK(is_valid_utf8("\xc2\x80"));           // U+0080, smallest 2-byte
  CHECK(is_valid_utf8("\xc3\xa9t\xc3\xa9"));  // été
  CHECK(is_valid_utf8("\xdf\xbf"));           // U+07FF
  CHECK(is_valid_utf8("\xe0\xa0\x80"));       // U+0800, smallest 3-byte
  CHECK(is_valid_utf8("\xe2\x82\xac"));       // euro sign
  CHECK(is_valid_utf8("\xed\x9f\xbf"));       // U+D7FF, just below the surrogates
  CHECK(is_valid_utf8("\xee\x80\x80"));       // U+E000, just above them
  CHECK(is_valid_utf8("\xef\xbf\xbf"));       // U+FFFF
  CHECK(is_valid_utf8("\xf0\x90\x80\x80"));   // U+10000, smallest 4-byte
  CHECK(is_valid_utf8("\xf0\x9f\x98\x80"));   // emoji
  CHECK(is_valid_utf8("\xf4\x8f\xbf\xbf"));   // U+10FFFF, the last code point
  CHECK(is_valid_utf8("x\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80-z"));  // mixed widths
}

TEST_CASE("is_valid_utf8 refuses overlong forms", "[utf8]") {
  CHECK_FALSE(is_valid_utf8("\xc0\x80"));
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));
  CHECK_FALSE(is_valid_utf8("\xc1\xbf"));
  CHECK_FALSE(is_valid_utf8("\xe0\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xe0\x9f\xbf"));
  CHECK_FALSE(is_valid_utf8("\xf0\x80\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xf0\x8f\xbf\xbf"));
}

TEST_CASE("is_valid_utf8 refuses surrogates", "[utf8]") {
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));              // U+D800
  CHECK_FALSE(is_valid_utf8("\xed\xaf\xbf"));              // U+DBFF
  CHECK_FALSE(is_valid_utf8("\xed\xb0\x80"));              // U+DC00
  CHECK_FALSE(is_valid_utf8("\xed\xbf\xbf"));              // U+DFFF
  CHECK_FALSE(is_valid_utf8("\xed\xa0\xbd\xed\xb8\x80"));  // a CESU-8 pair
}

TEST_CASE("is_valid_utf8 refuses code points past U+10FFFF and bytes never used", "[utf8]") {
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xf4\xbf\xbf\xbf"));
  CHECK_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xf7\xbf\xbf\xbf"));
  CHECK_FALSE(is_valid_utf8("\xf8\x88\x80\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xfc\x84\x80\x80\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xfe"));
  CHECK_FALSE(is_valid_utf8("\xff"));
}

TEST_CASE("is_valid_utf8 refuses truncated sequences and stray continuation bytes", "[utf8]") {
  CHECK_FALSE(is_valid_utf8("\xc3"));
  CHECK_FALSE(is_valid_utf8("a\xc3"));
  CHECK_FALSE(is_valid_utf8("\xe2\x82"));
  CHECK_FALSE(is_valid_utf8("\xf0\x9f\x98"));
  CHECK_FALSE(is_valid_utf8("\xf0\x9f"));
  CHECK_FALSE(is_valid_utf8("\xf0"));
  CHECK_FALSE(is_valid_utf8("\xc3z"));
  CHECK_FALSE(is_valid_utf8("\xe2\x82z"));
  CHECK_FALSE(is_valid_utf8("\xe2z\xac"));
  CHECK_FALSE(is_valid_utf8("\xf0\x9f\x98z"));
  CHECK_FALSE(is_valid_utf8("\x80"));
  CHECK_FALSE(is_valid_utf8("\xbf"));
  CHECK_FALSE(is_valid_utf8("x\x80z"));
  CHECK_FALSE(is_valid_utf8("\xc3\xa9\xa9"));
  CHECK_FALSE(is_valid_utf8(std::string("\xc3\0", 2)));
}

TEST_CASE("is_valid_utf8 checks the whole string, not up to a NUL", "[utf8]") {
  CHECK_FALSE(is_valid_utf8(std::string("ok\0\xff", 4)));
  std::string long_text(100000, 'a');
  long_text += "\xe2\x82";
  CHECK_FALSE(is_valid_utf8(long_text));
  long_text += "\xac";
  CHECK(is_valid_utf8(long_text));
}
