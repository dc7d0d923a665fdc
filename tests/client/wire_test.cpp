// Reading the hub's objects (data kept byte for byte) and writing requests.
#include <catch2/catch.hpp>

#include "client/wire.hpp"

using namespace rthub::client;

TEST_CASE("wire reads messages and keeps data byte for byte", "[unit][wire]") {
  const char* datas[] = {
      "{\"i\":1}",
      "[1,2,[3]]",
      "\"text \\u00e9 \\\"q\\\"\"",
      "12.50e3",
      "null",
      "true",
      "{ \"a\" : { \"b\" : [ 1 , { } ] } }",
      "{\"nested\":{\"deep\":{\"deeper\":[[[]]]}}}",
  };
  for (const char* data : datas) {
    std::string text =
        std::string("{\"op\":\"message\",\"channel\":\"user:42\",\"epoch\":\"k3j9\",\"seq\":42,") +
        "\"type\":\"geometry.updated\",\"data\": " + data + " ,\"ts\":1763880000123}";
    ServerObject o;
    std::string error;
    REQUIRE(decode_server_object(text, o, error));
    CHECK(o.op == ServerOp::kMessage);
    CHECK(o.channel == "user:42");
    CHECK(o.epoch == "k3j9");
    CHECK(o.seq == 42);
    CHECK(o.has_seq);
    CHECK(o.type == "geometry.updated");
    CHECK(o.data == data);
    CHECK(o.ts_ms == 1763880000123);
  }
}

TEST_CASE("wire reads control objects", "[unit][wire]") {
  ServerObject o;
  std::string error;
  REQUIRE(decode_server_object(
      R"({"op":"subscribed","channel":"g","epoch":"e","seq":41,"recovered":true,"ref":2})", o,
      error));
  CHECK(o.op == ServerOp::kSubscribed);
  CHECK(o.recovered == true);
  CHECK(o.ref == 2u);
  REQUIRE(decode_server_object(
      R"({"op":"subscribed","channel":"g","epoch":"e","seq":0,"recovered":false})", o, error));
  CHECK(o.recovered == false);
  CHECK_FALSE(o.ref.has_value());
  REQUIRE(
      decode_server_object(R"({"op":"subscribed","channel":"g","epoch":"e","seq":0})", o, error));
  CHECK_FALSE(o.recovered.has_value());
  REQUIRE(decode_server_object(R"({"op":"error","code":"forbidden","message":"no","ref":"7"})", o,
                               error));
  CHECK(o.op == ServerOp::kError);
  CHECK(o.code == "forbidden");
  CHECK(o.message == "no");
  CHECK(o.ref == 7u);
  REQUIRE(decode_server_object(R"({"op":"ping","ts":1})", o, error));
  CHECK(o.op == ServerOp::kPing);
  REQUIRE(decode_server_object(R"({"op":"published","channel":"i","epoch":"p","seq":8,"ref":4})", o,
                               error));
  CHECK(o.op == ServerOp::kPublished);
  CHECK(o.seq == 8);
  REQUIRE(decode_server_object(R"({"op":"future","extra":{"x":[1]}})", o, error));
  CHECK(o.op == ServerOp::kUnknown);
}

TEST_CASE("wire refuses what is not a JSON object", "[unit][wire]") {
  ServerObject o;
  std::string error;
  CHECK_FALSE(decode_server_object("[1,2]", o, error));
  CHECK_FALSE(decode_server_object("\"x\"", o, error));
  CHECK_FALSE(decode_server_object("{\"op\":", o, error));
  CHECK_FALSE(decode_server_object("{} trailing", o, error));
  CHECK_FALSE(decode_server_object("{\"op\":\"\xff\"}", o, error));  // invalid UTF-8
  CHECK_FALSE(error.empty());
}

TEST_CASE("wire writes requests the hub reads", "[unit][wire]") {
  CHECK(encode_subscribe("g", std::nullopt, 1) == R"({"op":"subscribe","channel":"g","id":1})");
  CHECK(encode_subscribe("g", rthub::Position{"k3\"j9", 41}, 2) ==
        R"({"op":"subscribe","channel":"g","since":{"epoch":"k3\"j9","seq":41},"id":2})");
  CHECK(encode_unsubscribe("g", 3) == R"({"op":"unsubscribe","channel":"g","id":3})");
  CHECK(encode_publish("i", "t\n", "{\"a\":[1]}", 4) ==
        "{\"op\":\"publish\",\"channel\":\"i\",\"type\":\"t\\n\",\"data\":{\"a\":[1]},\"id\":4}");
  CHECK(encode_ping(5) == R"({"op":"ping","id":5})");
  CHECK(encode_publish_body("i", "t", "7") == R"({"channel":"i","type":"t","data":7})");
  CHECK(is_json_value("{\"a\":1}"));
  CHECK(is_json_value(" 3 "));
  CHECK_FALSE(is_json_value("{"));
  CHECK_FALSE(is_json_value("1 2"));
  CHECK_FALSE(is_json_value(""));
}

TEST_CASE("wire reads POST /publish answers", "[unit][wire]") {
  auto ok = decode_publish_answer(200, R"({"channel":"g","epoch":"k","seq":43})");
  CHECK(ok.ok);
  CHECK(ok.position.seq == 43);
  CHECK(ok.position.epoch == "k");
  auto refused =
      decode_publish_answer(403, R"({"error":{"code":"forbidden","message":"only loopback"}})");
  CHECK_FALSE(refused.ok);
  CHECK(refused.code == "forbidden");
  CHECK(refused.message == "only loopback");
  auto bare = decode_publish_answer(503, "down");
  CHECK(bare.code == "unavailable");
}
