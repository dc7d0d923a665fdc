// jwt.hpp: verifies HS256 JSON Web Tokens and reads the claims rthub uses.
//
// Only HS256 is accepted: `alg: none` and every other algorithm are refused before any
// signature work. The signature is an OpenSSL HMAC-SHA256 compared in constant time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rthub/auth.hpp"

namespace rthub::jwt {

enum class Verdict { kValid, kMalformed, kBadAlgorithm, kBadSignature, kExpired, kNotYetValid };
const char* verdict_text(Verdict v);

// `exp` and `nbf` are honoured with this much leeway for clock skew.
constexpr int64_t kLeewaySeconds = 30;

// Verifies `token` with `secret` at `now` (Unix seconds); on kValid fills `rights` from the claims
// sub, exp, channels and publish.
Verdict verify(std::string_view token, std::string_view secret, int64_t now, Rights& rights);

// base64url without padding, decoded; false on a character outside the alphabet.
bool base64url_decode(std::string_view in, std::string& out);

}  // namespace rthub::jwt
