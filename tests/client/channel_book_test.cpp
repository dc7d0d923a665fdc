// Positions and dedupe: what makes resume exact.
#include <catch2/catch.hpp>

#include "client/channel_book.hpp"

using rthub::Position;
using rthub::client::ChannelBook;
using Verdict = ChannelBook::Verdict;

TEST_CASE("channel book keeps wanted channels in order", "[unit][book]") {
  ChannelBook book;
  CHECK(book.want("b"));
  CHECK(book.want("a"));
  CHECK_FALSE(book.want("b"));
  CHECK(book.channels() == std::vector<std::string>{"b", "a"});
  CHECK(book.drop("b"));
  CHECK_FALSE(book.drop("b"));
  CHECK(book.channels() == std::vector<std::string>{"a"});
  CHECK(book.cursor().empty());
}

TEST_CASE("channel book delivers each message once, in order", "[unit][book]") {
  ChannelBook book;
  book.want("a");
  CHECK(book.on_message("a", Position{"e", 1}) == Verdict::kNotSubscribed);  // not confirmed yet
  auto c = book.on_subscribed("a", Position{"e", 5}, std::nullopt);
  CHECK(c.known);
  CHECK_FALSE(c.reset);
  CHECK(book.on_message("a", Position{"e", 5}) == Verdict::kDuplicate);
  CHECK(book.on_message("a", Position{"e", 6}) == Verdict::kDeliver);
  CHECK(book.on_message("a", Position{"e", 6}) == Verdict::kDuplicate);
  CHECK(book.on_message("a", Position{"e", 7}) == Verdict::kDeliver);
  CHECK(book.on_message("a", Position{"e", 9}) == Verdict::kDeliverAfterGap);
  CHECK(book.position("a")->seq == 9);
  CHECK(book.on_message("a", Position{"f", 1}) ==
        Verdict::kDeliverAfterGap);  // numbering restarted
  CHECK(book.position("a")->epoch == "f");
  CHECK(book.on_message("b", Position{"e", 1}) == Verdict::kNotSubscribed);
  CHECK(book.cursor() == "a:f:1");
}

TEST_CASE("channel book resumes: replay kept, refusal resets", "[unit][book]") {
  ChannelBook book;
  book.want("a");
  book.want("user:42");
  book.on_subscribed("a", Position{"e", 10}, std::nullopt);
  book.on_subscribed("user:42", Position{"u", 3}, std::nullopt);
  CHECK(book.cursor() == "a:e:10,user:42:u:3");
  book.connection_lost();
  CHECK(book.on_message("a", Position{"e", 11}) == Verdict::kNotSubscribed);

  // Honoured: the hub's latest is 15, the replay of 11..15 follows and is delivered.
  auto c = book.on_subscribed("a", Position{"e", 15}, true);
  CHECK_FALSE(c.reset);
  CHECK(book.position("a")->seq == 10);
  for (uint64_t s = 11; s <= 15; ++s)
    CHECK(book.on_message("a", Position{"e", s}) == Verdict::kDeliver);
  CHECK(book.on_message("a", Position{"e", 15}) == Verdict::kDuplicate);  // live overlap

  // Refused: the host is told, and the channel continues at the hub's latest.
  c = book.on_subscribed("user:42", Position{"v", 2}, false);
  CHECK(c.reset);
  CHECK(*book.position("user:42") == Position{"v", 2});
  CHECK(book.on_message("user:42", Position{"v", 3}) == Verdict::kDeliver);
}

TEST_CASE("channel book: no reset for a channel that never had a position", "[unit][book]") {
  ChannelBook book;
  book.want("new");
  // Over SSE, a channel the cursor does not cover comes back with recovered:false.
  auto c = book.on_subscribed("new", Position{"e", 4}, false);
  CHECK(c.known);
  CHECK_FALSE(c.reset);
  // A position given by the host counts as one.
  book.want("kept", Position{"old", 9});
  CHECK(book.cursor() == "new:e:4,kept:old:9");
  c = book.on_subscribed("kept", Position{"new", 0}, false);
  CHECK(c.reset);
  // A subscribed for a channel no longer wanted is ignored.
  CHECK_FALSE(book.on_subscribed("gone", Position{"e", 1}, std::nullopt).known);
}

TEST_CASE("a snapshot moves a confirmed channel that asked for one to its position",
          "[unit][book]") {
  ChannelBook book;
  REQUIRE(book.want("map", std::nullopt, true, true));
  REQUIRE(book.want("plain"));
  CHECK(book.wants_snapshot("map"));
  CHECK(book.wants_presence("map"));
  CHECK_FALSE(book.wants_snapshot("plain"));
  CHECK(book.any_wants_snapshot());
  CHECK_FALSE(book.on_snapshot("map", Position{"e1", 7}));  // not confirmed on this connection
  book.on_subscribed("map", Position{"e1", 5}, std::nullopt);
  book.on_subscribed("plain", Position{"e1", 5}, std::nullopt);
  CHECK_FALSE(book.on_snapshot("plain", Position{"e1", 5}));  // did not ask (SSE sends all)
  REQUIRE(book.on_snapshot("map", Position{"e1", 7}));
  CHECK(book.position("map") == Position{"e1", 7});
  CHECK(book.on_message("map", Position{"e1", 7}) == ChannelBook::Verdict::kDuplicate);
  CHECK(book.on_message("map", Position{"e1", 8}) == ChannelBook::Verdict::kDeliver);

  book.make_plain("map");
  CHECK_FALSE(book.wants_snapshot("map"));
  CHECK_FALSE(book.wants_presence("map"));
  CHECK_FALSE(book.any_wants_snapshot());
}
