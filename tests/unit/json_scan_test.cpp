// json::scan_requests, json::is_valid_json and json::append_string: the request reader that keeps
// the publisher's `data` and the request's `id` as byte ranges of the input.
#include <catch2/catch.hpp>

#include <string>

#include "core/json_scan.hpp"
#include "core/utf8.hpp"

using rthub::json::Fields;
using rthub::json::Scan;
using rthub::json::scan_requests;

namespace {

// Scans `text` as one request object and requires it to be accepted.
Fields scan_one(const std::string& text) {
  Scan scan = scan_requests(text, false);
  INFO("text: " << text << "\nerror: " << scan.error);
  REQUIRE(scan.ok);
  REQUIRE_FALSE(scan.array);
  REQUIRE(scan.items.size() == 1);
  return scan.items.front();
}

// The raw `data` of a request that must be accepted.
std::string data_of(const std::string& text) {
  Fields f = scan_one(text);
  REQUIRE(f.data.present());
  return std::string(f.data.in(text));
}

std::string id_of(const std::string& text) {
  Fields f = scan_one(text);
  return std::string(f.id.in(text));
}

// The per-request error (the text is JSON, but a field is wrong).
std::string field_error(const std::string& text) {
  return scan_one(text).error;
}

const char* const kSinceError = "since needs epoch (string) and seq (integer)";

}  // namespace

TEST_CASE("scan_requests picks the fields of a subscribe request", "[json_scan]") {
  std::string text =
      R"({"op":"subscribe","channel":"user:42","since":{"epoch":"k3j9","seq":41},"id":2})";
  Fields f = scan_one(text);
  CHECK(f.error.empty());
  CHECK(f.has_op);
  CHECK(f.op == "subscribe");
  CHECK(f.has_channel);
  CHECK(f.channel == "user:42");
  CHECK_FALSE(f.has_type);
  CHECK_FALSE(f.has_token);
  CHECK(f.has_since);
  CHECK(f.since_epoch == "k3j9");
  CHECK(f.since_seq == 41);
  CHECK(f.id.in(text) == "2");
  CHECK_FALSE(f.data.present());
}

TEST_CASE("scan_requests picks the fields of a publish request", "[json_scan]") {
  std::string text =
      R"({"op":"publish","channel":"incidents","type":"incident.created","token":"t0k","data":"x","id":"a-1"})";
  Fields f = scan_one(text);
  CHECK(f.error.empty());
  CHECK(f.op == "publish");
  CHECK(f.channel == "incidents");
  CHECK(f.has_type);
  CHECK(f.type == "incident.created");
  CHECK(f.has_token);
  CHECK(f.token == "t0k");
  CHECK(f.data.in(text) == R"("x")");
  CHECK(f.id.in(text) == R"("a-1")");
  CHECK_FALSE(f.has_since);
}

TEST_CASE("scan_requests decodes escaped keys and string values", "[json_scan]") {
  std::string text = R"({"\u006fp":"p\u0069ng","channel":"a\/b","d\u0061ta":"\n"})";
  Fields f = scan_one(text);
  CHECK(f.op == "ping");
  CHECK(f.channel == "a/b");
  CHECK(f.data.in(text) == R"("\n")");
}

TEST_CASE("scan_requests ignores unknown keys and fields nested inside data", "[json_scan]") {
  std::string text =
      R"({"extra":{"op":1,"channel":[]},"more":[true,null],"op":"ping","n":1.5,"t":false})";
  Fields f = scan_one(text);
  CHECK(f.error.empty());
  CHECK(f.op == "ping");
  CHECK_FALSE(f.has_channel);

  std::string nested = R"({"op":"publish","data":{"op":"evil","channel":"x","id":9,"since":1}})";
  Fields g = scan_one(nested);
  CHECK(g.error.empty());
  CHECK(g.op == "publish");
  CHECK_FALSE(g.has_channel);
  CHECK_FALSE(g.id.present());
  CHECK_FALSE(g.has_since);
}

TEST_CASE("scan_requests keeps scalar data byte for byte", "[json_scan]") {
  CHECK(data_of(R"({"data":"s"})") == R"("s")");
  CHECK(data_of(R"({"data":"a\"b\\c\u00e9\ud83d\ude00"})") == R"("a\"b\\c\u00e9\ud83d\ude00")");
  CHECK(data_of(R"({"data":12345678901234567890123})") == "12345678901234567890123");
  CHECK(data_of(R"({"data":-12345678901234567890123.5})") == "-12345678901234567890123.5");
  CHECK(data_of(R"({"data":1e300})") == "1e300");
  CHECK(data_of(R"({"data":-0.5E-10})") == "-0.5E-10");
  CHECK(data_of(R"({"data":0})") == "0");
  CHECK(data_of(R"({"data":null})") == "null");
  CHECK(data_of(R"({"data":true})") == "true");
  CHECK(data_of(R"({"data":false})") == "false");
}

TEST_CASE("scan_requests keeps the blanks around scalar data out of the range", "[json_scan]") {
  CHECK(data_of("{\"data\" : \t\r\n 42 \n,\"op\":\"x\"}") == "42");
  CHECK(data_of("{ \"data\"\n:\n\"v\"\n}") == "\"v\"");
}

TEST_CASE("scan_requests keeps object data byte for byte", "[json_scan]") {
  CHECK(data_of(R"({"data":{"x":1}})") == R"({"x":1})");
  CHECK(data_of(R"({"op":"publish","channel":"c","data":{"x":1},"id":4})") == R"({"x":1})");
  CHECK(data_of(R"({"data":{}})") == "{}");
  CHECK(data_of(R"({"data":{"a":{"b":{"c":[1,{"d":null}]}}}})") ==
        R"({"a":{"b":{"c":[1,{"d":null}]}}})");
}

TEST_CASE("scan_requests keeps array data byte for byte", "[json_scan]") {
  CHECK(data_of(R"({"data":[1,2]})") == "[1,2]");
  CHECK(data_of(R"({"data":[]})") == "[]");
  CHECK(data_of(R"({"data":[1,[2,[3]]],"id":1})") == "[1,[2,[3]]]");
}

TEST_CASE("scan_requests keeps whitespace inside data but not around it", "[json_scan]") {
  std::string inner = "{ \"a\" :\n [ 1 ,\t2 ] ,\r\n \"b\" : { } }";
  std::string text = "{\"op\":\"publish\", \"data\" :\n\t " + inner + " \n , \"id\" : 7 }";
  Fields f = scan_one(text);
  CHECK(f.data.in(text) == inner);
  CHECK(f.id.in(text) == "7");
}

TEST_CASE("scan_requests keeps big numbers inside data untouched", "[json_scan]") {
  std::string inner =
      R"({"big":12345678901234567890123,"e":1e300,"neg":-1.0e-300,"f":0.1000000000000000055511151231257827})";
  CHECK(data_of(R"({"data":)" + inner + "}") == inner);
}

TEST_CASE("scan_requests keeps the raw id", "[json_scan]") {
  CHECK(id_of(R"({"op":"ping","id":5})") == "5");
  CHECK(id_of(R"({"op":"ping","id":  12345678901234567890123 })") == "12345678901234567890123");
  CHECK(id_of(R"({"op":"ping","id":-1.5e3})") == "-1.5e3");
  CHECK(id_of(R"({"op":"ping","id":"req \"7\""})") == R"("req \"7\"")");
  CHECK(id_of(R"({"op":"ping"})").empty());
}

TEST_CASE("scan_requests names each mistyped field", "[json_scan]") {
  CHECK(field_error(R"({"op":1})") == "op must be a string");
  CHECK(field_error(R"({"op":null})") == "op must be a string");
  CHECK(field_error(R"({"op":["ping"]})") == "op must be a string");
  CHECK(field_error(R"({"op":"subscribe","channel":{}})") == "channel must be a string");
  CHECK(field_error(R"({"op":"subscribe","channel":7})") == "channel must be a string");
  CHECK(field_error(R"({"type":true})") == "type must be a string");
  CHECK(field_error(R"({"token":42})") == "token must be a string");
  CHECK(field_error(R"({"id":true})") == "id must be a number or string");
  CHECK(field_error(R"({"id":null})") == "id must be a number or string");
  CHECK(field_error(R"({"id":{"n":1}})") == "id must be a number or string");
  CHECK(field_error(R"({"id":[1]})") == "id must be a number or string");
  CHECK(field_error(R"({"since":"k3j9:41"})") == "since must be an object");
  CHECK(field_error(R"({"since":41})") == "since must be an object");
  CHECK(field_error(R"({"since":[41]})") == "since must be an object");
  CHECK(field_error(R"({"since":null})") == "since must be an object");
}

TEST_CASE("scan_requests reports the first problem only", "[json_scan]") {
  CHECK(field_error(R"({"op":1,"channel":2,"id":true})") == "op must be a string");
  CHECK(field_error(R"({"channel":2,"op":1})") == "channel must be a string");
}

TEST_CASE("scan_requests reads since", "[json_scan]") {
  Fields f = scan_one(R"({"since":{"seq":0,"epoch":"e-_1"}})");
  CHECK(f.error.empty());
  CHECK(f.has_since);
  CHECK(f.since_epoch == "e-_1");
  CHECK(f.since_seq == 0);

  Fields big =
      scan_one(R"({"since":{"epoch":"e","seq":9999999999999999999,"other":[1,{"seq":"x"}]}})");
  CHECK(big.error.empty());
  CHECK(big.since_seq == 9999999999999999999ull);
}

TEST_CASE("scan_requests refuses a since without an integer seq and a string epoch",
          "[json_scan]") {
  CHECK(field_error(R"({"since":{"epoch":"e","seq":"1"}})") == kSinceError);
  CHECK(field_error(R"({"since":{"epoch":"e","seq":-1}})") == kSinceError);
  CHECK(field_error(R"({"since":{"epoch":"e","seq":1.5}})") == kSinceError);
  CHECK(field_error(R"({"since":{"epoch":"e","seq":1e3}})") == kSinceError);
  CHECK(field_error(R"({"since":{"epoch":"e","seq":null}})") == kSinceError);
  CHECK(field_error(R"({"since":{"epoch":"e","seq":true}})") == kSinceError);
  CHECK(field_error(R"({"since":{"epoch":"e","seq":[1]}})") == kSinceError);
  CHECK(field_error(R"({"since":{"epoch":"e","seq":123456789012345678901}})") == kSinceError);
  CHECK(field_error(R"({"since":{"epoch":1,"seq":1}})") == kSinceError);
  CHECK(field_error(R"({"since":{"epoch":null,"seq":1}})") == kSinceError);
  CHECK(field_error(R"({"since":{"epoch":{"e":"x"},"seq":1}})") == kSinceError);
  CHECK(field_error(R"({"since":{"seq":1}})") == kSinceError);
  CHECK(field_error(R"({"since":{"epoch":"e"}})") == kSinceError);
  CHECK(field_error(R"({"since":{}})") == kSinceError);
}

TEST_CASE("scan_requests takes an array only with allow_array", "[json_scan]") {
  std::string body = R"([{"channel":"a","data":1},{"channel":"b","type":"t","data":"two"}])";
  Scan refused = scan_requests(body, false);
  CHECK_FALSE(refused.ok);
  CHECK(refused.error == "expected a JSON object");
  CHECK(refused.items.empty());

  Scan scan = scan_requests(body, true);
  REQUIRE(scan.ok);
  CHECK(scan.array);
  REQUIRE(scan.items.size() == 2);
  CHECK(scan.items[0].channel == "a");
  CHECK(scan.items[0].data.in(body) == "1");
  CHECK_FALSE(scan.items[0].has_type);
  CHECK(scan.items[1].channel == "b");
  CHECK(scan.items[1].type == "t");
  CHECK(scan.items[1].data.in(body) == R"("two")");
}

TEST_CASE("scan_requests keeps container data of array items byte for byte", "[json_scan]") {
  std::string body = R"([{"channel":"a","data":{"k":[1]}} , {"channel":"b","data":[{}]}])";
  Scan scan = scan_requests(body, true);
  REQUIRE(scan.ok);
  REQUIRE(scan.items.size() == 2);
  CHECK(scan.items[0].data.in(body) == R"({"k":[1]})");
  CHECK(scan.items[1].data.in(body) == "[{}]");
}

TEST_CASE("scan_requests gives each array item its own field errors", "[json_scan]") {
  std::string body = R"([{"channel":1,"data":1},{"channel":"ok","data":2}])";
  Scan scan = scan_requests(body, true);
  REQUIRE(scan.ok);
  REQUIRE(scan.items.size() == 2);
  CHECK(scan.items[0].error == "channel must be a string");
  CHECK(scan.items[1].error.empty());
  CHECK(scan.items[1].channel == "ok");
}

TEST_CASE("scan_requests accepts an empty array and leaves the refusal to the caller",
          "[json_scan]") {
  Scan scan = scan_requests("[ ]", true);
  CHECK(scan.ok);
  CHECK(scan.array);
  CHECK(scan.items.empty());
}

TEST_CASE("scan_requests refuses what is not an object (or array of objects)", "[json_scan]") {
  for (const char* scalar : {"1", "\"op\"", "null", "true"}) {
    Scan one = scan_requests(scalar, false);
    CHECK_FALSE(one.ok);
    CHECK(one.error == "expected a JSON object");
    Scan any = scan_requests(scalar, true);
    CHECK_FALSE(any.ok);
    CHECK(any.error == "expected a JSON object or array");
  }
  struct Case {
    const char* body;
    const char* error;  // names the first item that is not an object
  };
  for (const Case& c :
       {Case{"[1]", "item 0: must be an object"}, Case{"[{},\"x\"]", "item 1: must be an object"},
        Case{"[[{}]]", "item 0: must be an object"},
        Case{"[{},{},null]", "item 2: must be an object"}}) {
    INFO(c.body);
    Scan scan = scan_requests(c.body, true);
    CHECK_FALSE(scan.ok);
    CHECK(scan.error == c.error);
    CHECK(scan.items.empty());
  }
}

TEST_CASE("scan_requests refuses text that is not JSON", "[json_scan]") {
  for (const char* text :
       {"", "   ", "{", "}", "nope", "{\"op\":}", "{'op':'ping'}", "{\"op\":\"ping\",}",
        "{\"a\":01}", "{\"a\":1.}", "{\"a\":\"\\x\"}", "{\"a\":\"\t\"}"}) {
    INFO("text: " << text);
    Scan scan = scan_requests(text, false);
    CHECK_FALSE(scan.ok);
    CHECK(scan.error.rfind("invalid JSON: ", 0) == 0);
    CHECK(scan.items.empty());
  }
}

TEST_CASE("scan_requests refuses trailing garbage", "[json_scan]") {
  for (const char* text :
       {"{\"op\":\"ping\"} x", "{\"op\":\"ping\"}{}", "{\"op\":\"ping\"},", "{} 1"}) {
    INFO("text: " << text);
    Scan scan = scan_requests(text, false);
    CHECK_FALSE(scan.ok);
    CHECK(scan.error.rfind("invalid JSON: ", 0) == 0);
  }
  Scan array = scan_requests("[{}] ]", true);
  CHECK_FALSE(array.ok);
}

TEST_CASE("scan_requests refuses a NUL byte after the object", "[json_scan]") {
  // The reader's memory stream reports a NUL byte as the end of the input.
  std::string text("{\"op\":\"ping\"}\0{\"op\":\"x\"}", 24);
  REQUIRE(text.size() == 24);
  Scan scan = scan_requests(text, false);
  CHECK_FALSE(scan.ok);
}

TEST_CASE("scan_requests refuses invalid UTF-8", "[json_scan]") {
  for (std::string bad : {"\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc3", "\xff", "\x80"}) {
    std::string in_value = "{\"op\":\"" + bad + "\"}";
    std::string in_key = "{\"" + bad + "\":1}";
    std::string in_data = "{\"data\":[\"" + bad + "\"]}";
    for (const std::string& text : {in_value, in_key, in_data}) {
      Scan scan = scan_requests(text, false);
      CHECK_FALSE(scan.ok);
      CHECK(scan.error.rfind("invalid JSON: ", 0) == 0);
    }
  }
  Fields ok = scan_one("{\"op\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}");
  CHECK(ok.op == "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST_CASE("scan_requests decodes strings into valid UTF-8 only", "[json_scan]") {
  // A lone low surrogate escape has no code point; decoded as is, it becomes the bytes ED B0 80,
  // which the codec would then write into text frames that browsers refuse.
  for (const char* text :
       {R"({"op":"x\udc00"})", R"({"type":"\udfff"})", R"({"channel":"\udc00a"})",
        R"({"token":"\ude00"})", R"({"since":{"epoch":"\udc00","seq":1}})"}) {
    INFO(text);
    Scan scan = scan_requests(text, false);
    if (!scan.ok) continue;  // refusing the text is one right answer
    const Fields& f = scan.items.front();
    CHECK(rthub::is_valid_utf8(f.op));
    CHECK(rthub::is_valid_utf8(f.type));
    CHECK(rthub::is_valid_utf8(f.channel));
    CHECK(rthub::is_valid_utf8(f.token));
    CHECK(rthub::is_valid_utf8(f.since_epoch));
  }
  Fields pair = scan_one(R"({"type":"\ud83d\ude00"})");
  CHECK(pair.type == "\xf0\x9f\x98\x80");
  CHECK_FALSE(scan_requests(R"({"type":"\ud83d"})", false).ok);  // a lone high surrogate is refused
}

TEST_CASE("scan_requests refuses BOM bytes before the object", "[json_scan]") {
  // A piece of a BOM is not UTF-8. A whole one is refused too, as is_valid_json must refuse it
  // (RFC 8259 section 8.1 lets a parser ignore it; no client sends one).
  for (const char* text :
       {"\xbb{}", "\xbf{}", "\xef{}", "\xbb\xbf{}", "\xef\xbb{}", "\xef\xbb\xbf{}"}) {
    INFO(text);
    CHECK_FALSE(scan_requests(text, false).ok);
  }
}

TEST_CASE("scan_requests survives 200000 nested arrays in data", "[json_scan]") {
  const size_t depth = 200000;
  std::string balanced = std::string(depth, '[') + std::string(depth, ']');
  std::string text = "{\"op\":\"publish\",\"channel\":\"c\",\"data\":" + balanced + "}";
  Scan scan = scan_requests(text, false);
  REQUIRE(scan.ok);
  REQUIRE(scan.items.size() == 1);
  CHECK(scan.items[0].error.empty());
  CHECK(scan.items[0].data.begin == text.find('['));
  CHECK(scan.items[0].data.in(text).size() == balanced.size());
  CHECK((scan.items[0].data.in(text) == balanced));  // no 400 kB expansion on failure

  std::string open = "{\"op\":\"publish\",\"channel\":\"c\",\"data\":" + std::string(depth, '[') +
                     std::string(depth - 1, ']') + "}";
  CHECK_FALSE(scan_requests(open, false).ok);
  std::string objects;
  for (size_t i = 0; i < depth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(depth, '}');
  CHECK(scan_requests("{\"data\":" + objects + "}", false).ok);
}

TEST_CASE("is_valid_json takes exactly one JSON value", "[json_scan]") {
  using rthub::json::is_valid_json;
  for (const char* ok : {"0", "-1.5e-3", "12345678901234567890123", "1e300", "\"s\"", "null",
                         "true", "[]", "{}", " {\"a\":[1,{\"b\":null}]} ", "\"\\ud83d\\ude00\""}) {
    INFO(ok);
    CHECK(is_valid_json(ok));
  }
  for (const char* bad :
       {"", " ", "{", "[1,]", "{\"a\"}", "01", "1 2", "{} {}", "nul", "'s'", "\"\x01\"",
        "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\""}) {
    INFO(bad);
    CHECK_FALSE(is_valid_json(bad));
  }
  const size_t depth = 200000;
  CHECK(is_valid_json(std::string(depth, '[') + std::string(depth, ']')));
  CHECK_FALSE(is_valid_json(std::string(depth, '[') + std::string(depth - 1, ']')));
}

TEST_CASE("is_valid_json refuses a NUL byte after the value", "[json_scan]") {
  // Hub::publish and rthub_hub_publish pass `data` through whole: "1\0junk" would reach
  // subscribers as `"data":1<NUL>junk`, which no client can parse.
  using rthub::json::is_valid_json;
  CHECK_FALSE(is_valid_json(std::string("1\0junk", 6)));
  CHECK_FALSE(is_valid_json(std::string("{}\0", 3)));
  CHECK_FALSE(is_valid_json(std::string("\0", 1)));
}

TEST_CASE("is_valid_json refuses a BOM or a piece of one before the value", "[json_scan]") {
  // The value is embedded in server objects as it is: `"data":\xbb1` is not UTF-8, and
  // `"data":<U+FEFF>{}` is not JSON.
  using rthub::json::is_valid_json;
  CHECK_FALSE(is_valid_json("\xbb[1]"));
  CHECK_FALSE(is_valid_json("\xbf[]"));
  CHECK_FALSE(is_valid_json("\xef{}"));
  CHECK_FALSE(is_valid_json("\xbb\xbf{}"));
  CHECK_FALSE(is_valid_json("\xef\xbb\xbf{}"));
}

TEST_CASE("append_string writes a JSON string literal", "[json_scan]") {
  auto literal = [](std::string_view s) {
    std::string out = "prefix:";
    rthub::json::append_string(out, s);
    return out;
  };
  CHECK(literal("") == "prefix:\"\"");
  CHECK(literal("plain") == "prefix:\"plain\"");
  CHECK(literal("q\"b\\") == R"(prefix:"q\"b\\")");
  CHECK(literal("\n\r\t") == R"(prefix:"\n\r\t")");
  CHECK(literal(std::string("\x01\x1f\0", 3)) == R"(prefix:"\u0001\u001f\u0000")");
  CHECK(literal("\xc3\xa9/\x7f") == "prefix:\"\xc3\xa9/\x7f\"");
  std::string every;
  for (int c = 0; c < 0x20; ++c) every.push_back(static_cast<char>(c));
  std::string out;
  rthub::json::append_string(out, every);
  CHECK(rthub::json::is_valid_json(out));
}
