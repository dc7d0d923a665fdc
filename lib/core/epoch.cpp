#include "core/epoch.hpp"

namespace rthub {

std::string new_epoch(std::mt19937_64& random) {
  static const char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string epoch(8, '0');
  uint64_t bits = random();
  for (char& c : epoch) {
    c = kAlphabet[bits % 36];
    bits /= 36;
  }
  return epoch;
}

}  // namespace rthub
