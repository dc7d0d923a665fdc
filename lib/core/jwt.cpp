#include "core/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <rapidjson/document.h>

namespace rthub::jwt {
namespace {

constexpr size_t kMaxTokenBytes = 8192;

// Reads an integer NumericDate; JWT allows fractions, which are truncated.
bool numeric_date(const rapidjson::Value& v, int64_t& out) {
  if (v.IsInt64()) {
    out = v.GetInt64();
    return true;
  }
  if (v.IsDouble() && v.GetDouble() > -9e15 && v.GetDouble() < 9e15) {
    out = static_cast<int64_t>(v.GetDouble());
    return true;
  }
  return false;
}

bool string_list(const rapidjson::Value& v, std::vector<std::string>& out) {
  if (v.IsString()) {
    out.emplace_back(v.GetString(), v.GetStringLength());
    return true;
  }
  if (!v.IsArray()) return false;
  for (const auto& item : v.GetArray()) {
    if (!item.IsString()) return false;
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return true;
}

bool parse_object(const std::string& text, rapidjson::Document& doc) {
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(text.data(),
                                                                                    text.size());
  return !doc.HasParseError() && doc.IsObject();
}

}  // namespace

const char* verdict_text(Verdict v) {
  switch (v) {
    case Verdict::kValid:
      return "valid";
    case Verdict::kMalformed:
      return "malformed token";
    case Verdict::kBadAlgorithm:
      return "token algorithm is not HS256";
    case Verdict::kBadSignature:
      return "bad token signature";
    case Verdict::kExpired:
      return "token expired";
    case Verdict::kNotYetValid:
      return "token not yet valid";
  }
  return "invalid token";
}

bool base64url_decode(std::string_view in, std::string& out) {
  out.clear();
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else
      return false;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return bits < 6;  // a lone trailing character cannot encode a byte
}

Verdict verify(std::string_view token, std::string_view secret, int64_t now, Rights& rights) {
  if (token.empty() || token.size() > kMaxTokenBytes || secret.empty()) return Verdict::kMalformed;
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return Verdict::kMalformed;

  std::string header_json, payload_json, signature;
  if (!base64url_decode(token.substr(0, dot1), header_json) ||
      !base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), payload_json) ||
      !base64url_decode(token.substr(dot2 + 1), signature))
    return Verdict::kMalformed;

  rapidjson::Document header;
  if (!parse_object(header_json, header)) return Verdict::kMalformed;
  auto alg = header.FindMember("alg");
  if (alg == header.MemberEnd() || !alg->value.IsString()) return Verdict::kMalformed;
  if (std::string_view(alg->value.GetString(), alg->value.GetStringLength()) != "HS256")
    return Verdict::kBadAlgorithm;

  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  std::string_view signed_part = token.substr(0, dot2);
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac,
            &mac_len))
    return Verdict::kBadSignature;
  if (signature.size() != mac_len || CRYPTO_memcmp(signature.data(), mac, mac_len) != 0)
    return Verdict::kBadSignature;

  rapidjson::Document claims;
  if (!parse_object(payload_json, claims)) return Verdict::kMalformed;
  Rights out;
  out.anonymous = false;
  int64_t date = 0;
  if (auto it = claims.FindMember("exp"); it != claims.MemberEnd()) {
    if (!numeric_date(it->value, date)) return Verdict::kMalformed;
    if (now > date + kLeewaySeconds) return Verdict::kExpired;
    out.expires_at = date;
  }
  if (auto it = claims.FindMember("nbf"); it != claims.MemberEnd()) {
    if (!numeric_date(it->value, date)) return Verdict::kMalformed;
    if (now + kLeewaySeconds < date) return Verdict::kNotYetValid;
  }
  if (auto it = claims.FindMember("sub"); it != claims.MemberEnd()) {
    if (!it->value.IsString()) return Verdict::kMalformed;
    out.identity.assign(it->value.GetString(), it->value.GetStringLength());
  }
  if (auto it = claims.FindMember("channels");
      it != claims.MemberEnd() && !string_list(it->value, out.subscribe))
    return Verdict::kMalformed;
  if (auto it = claims.FindMember("publish");
      it != claims.MemberEnd() && !string_list(it->value, out.publish))
    return Verdict::kMalformed;
  rights = std::move(out);
  return Verdict::kValid;
}

}  // namespace rthub::jwt
