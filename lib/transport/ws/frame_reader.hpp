// frame_reader.hpp: follows the frame headers of a WebSocket client's byte stream (RFC 6455
// 5.2) to find what libwebsockets 4.1.6 lets through: unmasked client frames (5.1: the server
// must fail the connection), a 64-bit length with its top bit set, and a frame far larger than
// any message the hub takes (closed at once instead of when more data arrives).
//
// It sees the stream in pieces at absolute offsets, may see a piece more than once (bytes
// peeked again), and may miss bytes that libwebsockets read before the reader saw them: a gap
// inside a payload is skipped over, a gap over a header loses the thread, and from then on the
// reader judges nothing (lost()).
#pragma once

#include <cstddef>
#include <cstdint>

namespace rthub {

class FrameReader {
 public:
  enum class Verdict {
    kOk,         // nothing wrong seen (so far)
    kUnmasked,   // a client frame without a mask: 1002
    kBadLength,  // a 64-bit length with the most significant bit set: 1002
    kTooBig,     // a frame announcing more than the limit: 1009
  };

  // `max_frame_bytes`: frames announcing more are refused at their header.
  explicit FrameReader(uint64_t max_frame_bytes) : max_frame_(max_frame_bytes) {}

  // The stream is followed from offset `at`, where a frame starts.
  void start(uint64_t at) { pos_ = at; }
  // Reads `len` bytes found at stream offset `at`. Once a verdict other than kOk is returned,
  // it is returned again for any further bytes.
  Verdict feed(uint64_t at, const uint8_t* data, size_t len);
  bool lost() const { return lost_; }
  uint64_t position() const { return pos_; }

 private:
  Verdict judge_header();

  uint64_t max_frame_;
  uint64_t pos_ = 0;           // the next stream offset to read
  uint64_t payload_left_ = 0;  // bytes of the current frame's payload still to skip
  uint8_t header_[14] = {};    // the header being read: 2 bytes, up to 8 of length, 4 of mask
  size_t header_len_ = 0;
  Verdict verdict_ = Verdict::kOk;
  bool lost_ = false;
};

}  // namespace rthub
