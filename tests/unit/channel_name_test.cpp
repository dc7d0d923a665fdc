// is_valid_channel_name: 1-255 bytes of [A-Za-z0-9_.:@/-].
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "rthub/message.hpp"

using rthub::is_valid_channel_name;

TEST_CASE("is_valid_channel_name accepts the protocol's alphabet", "[channel_name]") {
  CHECK(is_valid_channel_name("geometry"));
  CHECK(is_valid_channel_name("user:42"));
  CHECK(is_valid_channel_name("a"));
  CHECK(is_valid_channel_name("AZaz09_.:@/-"));
  CHECK(is_valid_channel_name(std::string(255, 'x')));
}

TEST_CASE("is_valid_channel_name refuses empty, long and foreign names", "[channel_name]") {
  CHECK_FALSE(is_valid_channel_name(""));
  CHECK_FALSE(is_valid_channel_name(std::string(256, 'x')));
  for (const std::string& bad :
       std::vector<std::string>{"a b", "a,b", "a\"b", "a\\b", "a\nb", "a#b", "a?b", "a*",
                                "\xc3\xa9", std::string("a\0b", 3)}) {
    INFO(bad);
    CHECK_FALSE(is_valid_channel_name(bad));
  }
}
