// key_slot.hpp: the hash slot of a key, as Redis Cluster computes it.
//
// A cluster splits the key space into 16384 slots: slot = CRC16(key) mod 16384, with CRC16 the
// XMODEM variant (polynomial 0x1021, initial value 0, no reflection). When a key holds a hash tag
// (the bytes between the first '{' and the next '}', if not empty) only the tag is hashed, so
// `rthub:{news}:s` and `rthub:{news}:m` share a slot (the cluster specification, "Hash tags").
#pragma once

#include <cstdint>
#include <string_view>

namespace rthub::cluster {

constexpr uint16_t kSlotCount = 16384;

/* crc16_xmodem returns the CRC16/XMODEM checksum of bytes. */
uint16_t crc16_xmodem(std::string_view bytes);

/* hashed_part returns the part of key that decides its slot: the hash tag, or the whole key. */
std::string_view hashed_part(std::string_view key);

/* key_slot returns the cluster hash slot (0..16383) of key. */
uint16_t key_slot(std::string_view key);

}  // namespace rthub::cluster
