// The long-poll cursor: the SSE cursor plus one state token, read strictly.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "common/sse_cursor.hpp"
#include "transport/poll/poll_cursor.hpp"

using namespace rthub;

TEST_CASE("a poll cursor splits into the SSE positions and the token", "[poll]") {
  std::string token = poll_cursor::new_token();
  REQUIRE(token.size() == 32);
  std::string cursor = poll_cursor::join("a:k3j9:4,user:7:p2x1:8", token);
  auto parts = poll_cursor::parse(cursor, 4096);
  REQUIRE(parts);
  CHECK(parts->positions == "a:k3j9:4,user:7:p2x1:8");
  CHECK(parts->token == token);
  // The SSE reader takes the same cursor and skips the token.
  auto positions = sse_cursor::parse(cursor);
  CHECK(positions.size() == 2);
  CHECK(positions["user:7"].seq == 8);
}

TEST_CASE("a poll cursor may be an SSE event id, a bare token, or empty", "[poll]") {
  auto sse = poll_cursor::parse("a:k3j9:4", 4096);
  REQUIRE(sse);
  CHECK(sse->positions == "a:k3j9:4");
  CHECK(sse->token.empty());
  std::string token = poll_cursor::new_token();
  auto bare = poll_cursor::parse(poll_cursor::join("", token), 4096);
  REQUIRE(bare);
  CHECK(bare->positions.empty());
  CHECK(bare->token == token);
  auto empty = poll_cursor::parse("", 4096);
  REQUIRE(empty);
  CHECK(empty->positions.empty());
  CHECK(empty->token.empty());
}

TEST_CASE("a poll cursor with any unreadable entry is refused", "[poll]") {
  std::string token = poll_cursor::new_token();
  const std::vector<std::string> bad_cursors = {
      "garbage",   "a:k3j9", "a:k3j9:x",        "bad name:k3j9:1",          "a:k3j9:1,",
      ",a:k3j9:1", "~zz",    "~" + token + "0", "~" + token + ",~" + token, "a:bad epoch!:1"};
  for (const std::string& bad : bad_cursors) {
    INFO(bad);
    CHECK_FALSE(poll_cursor::parse(bad, 4096));
  }
  CHECK_FALSE(poll_cursor::parse("a:k3j9:1", 7));  // longer than the bound
}

TEST_CASE("poll tokens do not repeat", "[poll]") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) CHECK(seen.insert(poll_cursor::new_token()).second);
}
