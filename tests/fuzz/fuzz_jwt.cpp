// Fuzz target for the JWT verifier (core/jwt): the input is tried as a token as it is, and,
// split at its first 0x00 into a header and a claims part, as a token the target signs itself,
// so that the fuzzer reaches the claims parser behind the signature check.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/jwt.hpp"

namespace {

const std::string kSecret = "fuzz-secret";

std::string base64url(std::string_view in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 63]);
  return out;
}

std::string sign(const std::string& signed_part) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, &len);
  return base64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

void check_rights(const rthub::Rights& r) {
  // A valid token is never anonymous, and its patterns are what the claims listed.
  if (r.anonymous) std::abort();
  for (const auto& p : r.subscribe) rthub::channel_allowed({p}, p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  rthub::Rights rights;
  if (rthub::jwt::verify(input, kSecret, 1763880000, rights) == rthub::jwt::Verdict::kValid)
    check_rights(rights);

  size_t split = input.find('\0');
  if (split == std::string_view::npos) return 0;
  std::string signed_part =
      base64url(input.substr(0, split)) + "." + base64url(input.substr(split + 1));
  std::string token = signed_part + "." + sign(signed_part);
  rthub::Rights signed_rights;
  rthub::jwt::Verdict v = rthub::jwt::verify(token, kSecret, 1763880000, signed_rights);
  if (v == rthub::jwt::Verdict::kBadSignature) std::abort();  // we signed it correctly
  if (v == rthub::jwt::Verdict::kValid) check_rights(signed_rights);
  return 0;
}
