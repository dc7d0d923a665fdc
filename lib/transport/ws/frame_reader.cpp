#include "transport/ws/frame_reader.hpp"

namespace rthub {

namespace {

// The whole header's size once its first two bytes are known: client frames carry a mask key.
size_t header_size(uint8_t second) {
  uint8_t len7 = second & 0x7f;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((second & 0x80) ? 4 : 0);
}

}  // namespace

FrameReader::Verdict FrameReader::feed(uint64_t at, const uint8_t* data, size_t len) {
  if (verdict_ != Verdict::kOk || lost_) return verdict_;
  if (at > pos_) {  // bytes nobody showed us: fine inside a payload, fatal to the thread elsewhere
    uint64_t gap = at - pos_;
    if (header_len_ != 0 || gap > payload_left_) {
      lost_ = true;
      return verdict_;
    }
    payload_left_ -= gap;
    pos_ = at;
  }
  uint64_t seen = pos_ - at;  // the start of the piece was read before
  if (seen >= len) return verdict_;
  data += seen;
  len -= static_cast<size_t>(seen);
  while (len > 0) {
    if (payload_left_ > 0) {
      uint64_t skip = payload_left_ < len ? payload_left_ : len;
      payload_left_ -= skip;
      pos_ += skip;
      data += skip;
      len -= static_cast<size_t>(skip);
      continue;
    }
    header_[header_len_++] = *data++;
    --len;
    ++pos_;
    Verdict verdict = judge_header();
    if (verdict != Verdict::kOk) return verdict_ = verdict;
  }
  return verdict_;
}

// Called after each header byte: judges as early as the bytes allow.
FrameReader::Verdict FrameReader::judge_header() {
  if (header_len_ < 2) return Verdict::kOk;
  uint8_t second = header_[1];
  if (!(second & 0x80)) return Verdict::kUnmasked;
  uint8_t len7 = second & 0x7f;
  if (len7 == 127 && header_len_ == 3 && (header_[2] & 0x80)) return Verdict::kBadLength;
  size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  if (header_len_ < 2 + ext) return Verdict::kOk;
  uint64_t length = len7;
  if (ext) {
    length = 0;
    for (size_t i = 0; i < ext; ++i) length = (length << 8) | header_[2 + i];
  }
  if (header_len_ == 2 + ext && length > max_frame_) return Verdict::kTooBig;
  if (header_len_ < header_size(second)) return Verdict::kOk;
  payload_left_ = length;
  header_len_ = 0;
  return Verdict::kOk;
}

}  // namespace rthub
