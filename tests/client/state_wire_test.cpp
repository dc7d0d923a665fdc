// Reading snapshots and presence (items kept byte for byte), and writing keyed requests.
#include <catch2/catch.hpp>

#include "client/state_wire.hpp"
#include "client/wire.hpp"

using namespace rthub::client;

TEST_CASE("split_json_array keeps each element's text, brackets and commas in strings too",
          "[unit][state-wire]") {
  std::vector<std::string_view> elements;
  REQUIRE(split_json_array(" [ {\"a\":\"x,]}\"} , [1,[2]] ,\"q\\\"],\" , 3 ] ", elements));
  REQUIRE(elements.size() == 4);
  CHECK(elements[0] == "{\"a\":\"x,]}\"}");
  CHECK(elements[1] == "[1,[2]]");
  CHECK(elements[2] == "\"q\\\"],\"");
  CHECK(elements[3] == "3");
  REQUIRE(split_json_array("[]", elements));
  CHECK(elements.empty());
  CHECK_FALSE(split_json_array("{\"a\":1}", elements));
  CHECK_FALSE(split_json_array("", elements));
}

TEST_CASE("a snapshot object and its items are read", "[unit][state-wire]") {
  std::string text =
      "{\"op\":\"snapshot\",\"channel\":\"geometry\",\"epoch\":\"e1\",\"seq\":9,\"items\":["
      "{\"op\":\"message\",\"channel\":\"geometry\",\"epoch\":\"e1\",\"seq\":4,\"type\":\"z\","
      "\"data\":{ \"x\" : [1, \"]\"] },\"key\":\"zone-1\",\"ts\":17},"
      "{\"op\":\"message\",\"channel\":\"geometry\",\"epoch\":\"e1\",\"seq\":9,\"type\":\"z\","
      "\"data\":null,\"key\":\"zone-2\",\"ts\":18}],\"more\":true}";
  ServerObject o;
  std::string error;
  REQUIRE(decode_server_object(text, o, error));
  CHECK(o.op == ServerOp::kSnapshot);
  CHECK(o.seq == 9);
  CHECK(o.more);
  std::vector<rthub::KeyedMessage> items;
  REQUIRE(decode_snapshot_items(o.items, items, error));
  REQUIRE(items.size() == 2);
  CHECK(items[0].key == "zone-1");
  CHECK(items[0].seq == 4);
  CHECK(items[0].data == "{ \"x\" : [1, \"]\"] }");  // byte for byte
  CHECK(items[0].ts_ms == 17);
  CHECK(items[1].key == "zone-2");
  CHECK(items[1].data == "null");

  CHECK_FALSE(decode_snapshot_items("[1]", items, error));
  CHECK_FALSE(decode_snapshot_items("[{\"key\":\"k\"}]", items, error));  // no seq
  CHECK(error.find("seq") != std::string::npos);
}

TEST_CASE("presence answers, join and leave are read", "[unit][state-wire]") {
  ServerObject o;
  std::string error;
  REQUIRE(decode_server_object(
      "{\"op\":\"presence\",\"channel\":\"map\",\"clients\":[{\"id\":3,\"user\":\"bob\"},"
      "{\"id\":7,\"user\":null}],\"ref\":11}",
      o, error));
  CHECK(o.op == ServerOp::kPresence);
  CHECK(o.ref == 11u);
  std::vector<rthub::PresenceMember> members;
  REQUIRE(decode_members(o.members, members, error));
  REQUIRE(members.size() == 2);
  CHECK(members[0].id == 3);
  CHECK(members[0].user == std::optional<std::string>("bob"));
  CHECK(members[1].id == 7);
  CHECK_FALSE(members[1].user.has_value());

  REQUIRE(decode_server_object(
      "{\"op\":\"leave\",\"channel\":\"map\",\"client\":{\"id\":5,\"user\":\"al\"}}", o, error));
  CHECK(o.op == ServerOp::kLeave);
  REQUIRE(decode_members(o.members, members, error));
  REQUIRE(members.size() == 1);
  CHECK(members[0].id == 5);

  CHECK_FALSE(decode_members("[{\"user\":\"x\"}]", members, error));
  CHECK_FALSE(decode_members("3", members, error));
}

TEST_CASE("keyed requests are written", "[unit][state-wire]") {
  CHECK(encode_subscribe("map", std::nullopt, 3, true, true) ==
        "{\"op\":\"subscribe\",\"channel\":\"map\",\"snapshot\":true,\"presence\":true,\"id\":3}");
  CHECK(encode_presence("map", 4) == "{\"op\":\"presence\",\"channel\":\"map\",\"id\":4}");
  CHECK(
      encode_publish("g", "z", "{\"a\":1}", 5, PublishKey{"k\"1", false}) ==
      "{\"op\":\"publish\",\"channel\":\"g\",\"type\":\"z\",\"data\":{\"a\":1},\"key\":\"k\\\"1\","
      "\"id\":5}");
  CHECK(encode_publish_body("g", "z", "", PublishKey{"k", true}) ==
        "{\"channel\":\"g\",\"type\":\"z\",\"data\":null,\"key\":\"k\",\"delete\":true}");
}
