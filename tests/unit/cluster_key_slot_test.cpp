// Key slots against Redis' own answers: every expected slot below was recorded from
// `redis-cli CLUSTER KEYSLOT <key>` on redis-server 7.0.15 started with --cluster-enabled yes.
// The integration test cluster_router.test.mjs asks a live cluster again for many more keys.
#include <catch2/catch.hpp>

#include <string>

#include "broker/redis/cluster/key_slot.hpp"

using rthub::cluster::crc16_xmodem;
using rthub::cluster::hashed_part;
using rthub::cluster::key_slot;

TEST_CASE("crc16_xmodem matches the check value of the cluster specification") {
  // The specification's reference implementation gives 0x31C3 for "123456789".
  CHECK(crc16_xmodem("123456789") == 0x31C3);
  CHECK(crc16_xmodem("") == 0);
}

TEST_CASE("key_slot gives the slots CLUSTER KEYSLOT answered") {
  struct Recorded {
    const char* key;
    uint16_t slot;
  };
  const Recorded recorded[] = {
      {"", 0},
      {"a", 15495},
      {"foo", 12182},
      {"bar", 5061},
      {"123456789", 12739},
      {"{user1000}.following", 3443},
      {"{user1000}.followers", 3443},
      {"foo{}{bar}", 8363},
      {"foo{{bar}}zap", 4015},
      {"foo{bar}{zap}", 5061},
      {"{}", 15257},
      {"{", 4092},
      {"}", 12090},
      {"{}foo", 9500},
      {"rthub:{news}:s", 5161},
      {"rthub:{news}:m", 5161},
      {"news", 5161},
      {"rthub:{chat.room-1}:s", 5927},
      {"chat.room-1", 5927},
      {"key:with:colons", 12379},
      {"\xc3\xbcmlaut", 5498},  // "ümlaut" in UTF-8
      {"{a", 10276},
      {"a}", 5921},
      {"x{y", 2740},
      {"{{}}", 4092},
      {"{a}{b}", 15495},
      {"abc{def}ghi", 16148},
      {"hello world", 15332},
      {"rthub:m:orders", 1857},
      {"0", 13907},
      {"16383", 15158},
      {"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 5244},
  };
  for (const auto& r : recorded) {
    INFO("key \"" << r.key << "\"");
    CHECK(key_slot(r.key) == r.slot);
  }
}

TEST_CASE("hashed_part takes the first non-empty tag, else the whole key") {
  CHECK(hashed_part("rthub:{news}:s") == "news");
  CHECK(hashed_part("foo{}{bar}") == "foo{}{bar}");  // the first tag is empty: no tag at all
  CHECK(hashed_part("foo{{bar}}zap") == "{bar");     // from the first '{' to the next '}'
  CHECK(hashed_part("foo{bar}{zap}") == "bar");
  CHECK(hashed_part("x{y") == "x{y");
  CHECK(hashed_part("a}") == "a}");
}

TEST_CASE("key_slot handles bytes that are not text") {
  std::string binary("a\0b{\xff}", 6);
  CHECK(key_slot(binary) == key_slot(std::string("\xff")));
  CHECK(key_slot(binary) < rthub::cluster::kSlotCount);
}
