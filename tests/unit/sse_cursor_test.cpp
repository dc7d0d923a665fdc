// sse_cursor: the SSE `id:` that carries the position of every channel of a stream.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/sse_cursor.hpp"

using rthub::Position;
using rthub::Session;
namespace sse_cursor = rthub::sse_cursor;

TEST_CASE("sse_cursor::format joins channel:epoch:seq entries with commas", "[sse_cursor]") {
  std::vector<Session::Cursor> cursors{{"geometry", "k3j9", 42}, {"user:42", "p2x1", 8}};
  CHECK(sse_cursor::format(cursors) == "geometry:k3j9:42,user:42:p2x1:8");
  CHECK(sse_cursor::format({}) == "");
}

TEST_CASE("sse_cursor::format skips free slots", "[sse_cursor]") {
  std::vector<Session::Cursor> cursors{
      {"", "", 0}, {"a", "e1", 0}, {"", "x", 9}, {"b", "e2", 18446744073709551615ull}};
  CHECK(sse_cursor::format(cursors) == "a:e1:0,b:e2:18446744073709551615");
  CHECK(sse_cursor::format({{"", "", 0}}) == "");
}

TEST_CASE("sse_cursor::parse reads what format wrote", "[sse_cursor]") {
  std::vector<Session::Cursor> cursors{{"geometry", "k3j9", 42},
                                       {"user:42", "p2x1", 8},
                                       {"a:b:c", "E-_9", 0},
                                       {"x.y@z/w-v_u", "0", 9999999999999999999ull}};
  auto positions = sse_cursor::parse(sse_cursor::format(cursors));
  REQUIRE(positions.size() == cursors.size());
  for (const auto& c : cursors) {
    INFO(c.channel);
    REQUIRE(positions.count(c.channel) == 1);
    CHECK(positions[c.channel] == Position{c.epoch, c.seq});
  }
}

TEST_CASE("sse_cursor::parse splits each entry at its last two colons", "[sse_cursor]") {
  auto positions = sse_cursor::parse("user:42:p2x1:8");
  REQUIRE(positions.size() == 1);
  CHECK(positions.count("user:42") == 1);
  CHECK(positions["user:42"] == Position{"p2x1", 8});

  auto nested = sse_cursor::parse("org:1:user:42:ep:7");
  REQUIRE(nested.size() == 1);
  CHECK(nested["org:1:user:42"] == Position{"ep", 7});
}

TEST_CASE("sse_cursor::parse ignores entries it cannot read and keeps the rest", "[sse_cursor]") {
  const std::string good = "ok:e1:5";
  for (const std::string& garbage : std::vector<std::string>{"",
                                                             "nocolon",
                                                             "a:b",
                                                             ":e:1",
                                                             "a::1",
                                                             "a:e:",
                                                             "a:e:x",
                                                             "a:e:-1",
                                                             "a:e:+1",
                                                             "a:e:1.5",
                                                             "a:e: 1",
                                                             "bad chan:e:1",
                                                             "a:e!:1",
                                                             "a:e.x:1",
                                                             "a:e:12345678901234567890",
                                                             "a:" + std::string(65, 'e') + ":1",
                                                             std::string(256, 'c') + ":e:1",
                                                             "::",
                                                             ":",
                                                             "\xff:e:1",
                                                             std::string("a\0b:e:1", 7)}) {
    INFO("garbage entry: " << garbage);
    auto alone = sse_cursor::parse(garbage);
    CHECK(alone.empty());
    auto mixed = sse_cursor::parse(garbage + "," + good + "," + garbage);
    REQUIRE(mixed.size() == 1);
    CHECK(mixed["ok"] == Position{"e1", 5});
  }
  CHECK(sse_cursor::parse(",,,").empty());
  CHECK(sse_cursor::parse(",ok:e1:5,").size() == 1);
}

TEST_CASE("sse_cursor::parse accepts the longest epoch and channel", "[sse_cursor]") {
  std::string epoch(64, 'e');
  std::string channel(255, 'c');
  auto positions = sse_cursor::parse(channel + ":" + epoch + ":1");
  REQUIRE(positions.size() == 1);
  CHECK(positions[channel] == Position{epoch, 1});
}

TEST_CASE("sse_cursor::parse keeps the last entry of a repeated channel", "[sse_cursor]") {
  auto positions = sse_cursor::parse("a:e1:1,a:e2:2");
  REQUIRE(positions.size() == 1);
  CHECK(positions["a"] == Position{"e2", 2});
}
