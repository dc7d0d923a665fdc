// wire.hpp: the few bits of HTTP/1.1, WebSocket (RFC 6455) and SHA-1/base64 that rthub-bench
// and the floor programs need, written out so that they depend on nothing but libc.
#pragma once

#include <time.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace bench {

inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

inline double now_s() {
  return static_cast<double>(now_ns()) / 1e9;
}

// Wall-clock time, for lining a run up with records other programs keep.
inline double unix_seconds() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// xorshift64*: WebSocket mask keys and the like; nothing here needs more.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545f4914f6cdd1dull;
  }
};

// ---------------------------------------------------------------------------------------------
// base64 and SHA-1 (RFC 3174), for Sec-WebSocket-Key / Sec-WebSocket-Accept.

inline std::string base64(const unsigned char* p, size_t n) {
  static const char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = static_cast<uint32_t>(p[i]) << 16;
    if (i + 1 < n) v |= static_cast<uint32_t>(p[i + 1]) << 8;
    if (i + 2 < n) v |= p[i + 2];
    out.push_back(k[(v >> 18) & 63]);
    out.push_back(k[(v >> 12) & 63]);
    out.push_back(i + 1 < n ? k[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < n ? k[v & 63] : '=');
  }
  return out;
}

inline void sha1(const void* data, size_t len, unsigned char out[20]) {
  uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  auto rol = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  std::string m(static_cast<const char*>(data), len);
  uint64_t bits = static_cast<uint64_t>(len) * 8;
  m.push_back(static_cast<char>(0x80));
  while (m.size() % 64 != 56) m.push_back('\0');
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<char>((bits >> (i * 8)) & 0xff));
  for (size_t off = 0; off < m.size(); off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      const auto* b = reinterpret_cast<const unsigned char*>(m.data() + off + i * 4);
      w[i] = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
    }
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f, k;
      if (i < 20)
        f = (b & c) | (~b & d), k = 0x5A827999u;
      else if (i < 40)
        f = b ^ c ^ d, k = 0x6ED9EBA1u;
      else if (i < 60)
        f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDCu;
      else
        f = b ^ c ^ d, k = 0xCA62C1D6u;
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  }
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 4; ++j) out[i * 4 + j] = static_cast<unsigned char>(h[i] >> (24 - j * 8));
}

inline std::string websocket_accept(std::string_view key) {
  std::string s(key);
  s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[20];
  sha1(s.data(), s.size(), digest);
  return base64(digest, 20);
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 head parsing (just enough: status or request line, a header by name).

// Position just past "\r\n\r\n", or 0 when the head is not complete.
inline size_t http_head_end(const char* p, size_t n) {
  std::string_view v(p, n);
  size_t at = v.find("\r\n\r\n");
  return at == std::string_view::npos ? 0 : at + 4;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// The value of header `name` (no colon) in `head`, trimmed; empty when absent.
inline std::string_view http_header(std::string_view head, std::string_view name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(start, end - start);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      return value;
    }
    pos = end;
  }
  return {};
}

inline bool contains_nocase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (iequals(hay.substr(i, needle.size()), needle)) return true;
  return false;
}

// "HTTP/1.1 101 Switching Protocols" -> 101; 0 when malformed.
inline int http_status(std::string_view head) {
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return 0;
  size_t sp = head.find(' ');
  if (sp == std::string_view::npos || sp + 4 > head.size()) return 0;
  int code = 0;
  for (size_t i = sp + 1; i < sp + 4; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(head[i]))) return 0;
    code = code * 10 + (head[i] - '0');
  }
  return code;
}

// ---------------------------------------------------------------------------------------------
// WebSocket frames.

enum : int { kOpCont = 0, kOpText = 1, kOpBinary = 2, kOpClose = 8, kOpPing = 9, kOpPong = 10 };

struct WsFrame {
  int opcode = 0;
  bool fin = false;
  bool masked = false;
  size_t header = 0;    // bytes of header (incl. mask key)
  uint64_t length = 0;  // payload bytes
  unsigned char mask[4] = {0, 0, 0, 0};
};

// Parses one frame header at p[0..n). 1: complete header and payload present; 0: need more;
// -1: malformed (reserved bits, oversized control frame).
inline int ws_parse(const unsigned char* p, size_t n, WsFrame& f) {
  if (n < 2) return 0;
  f.fin = (p[0] & 0x80) != 0;
  if (p[0] & 0x70) return -1;
  f.opcode = p[0] & 0x0f;
  f.masked = (p[1] & 0x80) != 0;
  uint64_t len = p[1] & 0x7f;
  size_t h = 2;
  if (len == 126) {
    if (n < 4) return 0;
    len = (uint64_t(p[2]) << 8) | p[3];
    h = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    h = 10;
  }
  if (f.opcode >= 8 && len > 125) return -1;
  if (f.masked) {
    if (n < h + 4) return 0;
    std::memcpy(f.mask, p + h, 4);
    h += 4;
  }
  f.header = h;
  f.length = len;
  return n - h >= len ? 1 : 0;
}

// Appends a frame header to `out` (server frames: no mask).
inline void ws_header(std::string& out, int opcode, size_t n, const unsigned char* mask = nullptr) {
  out.push_back(static_cast<char>(0x80 | opcode));
  unsigned char m = mask ? 0x80 : 0;
  if (n < 126) {
    out.push_back(static_cast<char>(m | n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(m | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(static_cast<char>(m | 127));
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>((uint64_t(n) >> s) & 0xff));
  }
  if (mask) out.append(reinterpret_cast<const char*>(mask), 4);
}

// A masked client frame, as RFC 6455 requires of clients.
inline void ws_client_frame(std::string& out, int opcode, std::string_view payload, Rng& rng) {
  uint64_t r = rng.next();
  unsigned char mask[4] = {static_cast<unsigned char>(r), static_cast<unsigned char>(r >> 8),
                           static_cast<unsigned char>(r >> 16),
                           static_cast<unsigned char>(r >> 24)};
  ws_header(out, opcode, payload.size(), mask);
  size_t base = out.size();
  out.append(payload);
  for (size_t i = 0; i < payload.size(); ++i)
    out[base + i] = static_cast<char>(out[base + i] ^ mask[i & 3]);
}

inline void ws_unmask(unsigned char* p, size_t n, const unsigned char mask[4]) {
  for (size_t i = 0; i < n; ++i) p[i] ^= mask[i & 3];
}

}  // namespace bench
