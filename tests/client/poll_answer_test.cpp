// Reading the answers of /poll: the cursor, each message's exact bytes, and clear refusals of
// what is not such an answer.
#include <catch2/catch.hpp>

#include <string>

#include "client/poll_answer.hpp"

using rthub::client::decode_poll_answer;
using rthub::client::PollAnswer;

TEST_CASE("a poll answer gives its cursor and each message byte for byte", "[unit][poll]") {
  std::string body =
      R"( {"cursor":"a:e1:5","messages":[ {"op":"subscribed","channel":"a","recovered":true},)"
      "\n"
      R"({"op":"message","channel":"a","seq":5,"data":{"s":"]}\"{","n":1.50e2,"u":"\u00e9"}}],)"
      R"("later":{"x":[1,2]}} )";
  PollAnswer answer;
  std::string error;
  REQUIRE(decode_poll_answer(body, answer, error));
  CHECK(answer.cursor == "a:e1:5");
  REQUIRE(answer.messages.size() == 2);
  CHECK(answer.messages[0] == R"({"op":"subscribed","channel":"a","recovered":true})");
  CHECK(answer.messages[1] ==
        R"({"op":"message","channel":"a","seq":5,"data":{"s":"]}\"{","n":1.50e2,"u":"\u00e9"}})");
}

TEST_CASE("an empty poll answer (the hub's poll timeout) is an answer", "[unit][poll]") {
  PollAnswer answer;
  std::string error;
  REQUIRE(decode_poll_answer(R"({"messages":[],"cursor":"a:e1:5"})", answer, error));
  CHECK(answer.messages.empty());
  CHECK(answer.cursor == "a:e1:5");
}

TEST_CASE("what is not a poll answer is refused with a reason", "[unit][poll]") {
  const char* bad[] = {
      "",
      "[]",
      R"({"cursor":"x"})",                     // no messages
      R"({"cursor":1,"messages":[]})",         // cursor not a string
      R"({"messages":{}})",                    // not an array
      R"({"messages":[1]})",                   // a message that is not an object
      R"({"messages":[{"op":"message"})",      // cut short
      R"({"messages":[{"op":"message}]})",     // an unterminated string
      R"({"messages":[]} trailing)",           // bytes after the object
      R"({"cursor":"\u00e9","messages":[]})",  // a cursor is ASCII
  };
  for (const char* body : bad) {
    INFO(body);
    PollAnswer answer;
    std::string error;
    CHECK(!decode_poll_answer(body, answer, error));
    CHECK(!error.empty());
  }
}
