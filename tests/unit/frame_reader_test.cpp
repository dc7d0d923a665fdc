// FrameReader: finds unmasked client frames, bad 64-bit lengths and oversized frames in a byte
// stream seen in pieces, more than once, or with gaps.
#include <catch2/catch.hpp>

#include <vector>

#include "transport/ws/frame_reader.hpp"

using rthub::FrameReader;
using Bytes = std::vector<uint8_t>;

namespace {

// A client frame: masked unless told otherwise, payload of `n` bytes 'x' (masking does not
// matter to the reader).
Bytes frame(uint8_t opcode, size_t n, bool masked = true, bool fin = true) {
  Bytes out{static_cast<uint8_t>((fin ? 0x80 : 0) | opcode)};
  uint8_t mask = masked ? 0x80 : 0;
  if (n < 126) {
    out.push_back(static_cast<uint8_t>(mask | n));
  } else if (n < 65536) {
    out.insert(out.end(), {static_cast<uint8_t>(mask | 126), static_cast<uint8_t>(n >> 8),
                           static_cast<uint8_t>(n)});
  } else {
    out.push_back(static_cast<uint8_t>(mask | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<uint8_t>(uint64_t(n) >> shift));
  }
  if (masked) out.insert(out.end(), {1, 2, 3, 4});
  out.insert(out.end(), n, 'x');
  return out;
}

Bytes join(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

FrameReader::Verdict feed_bytewise(FrameReader& reader, const Bytes& stream, uint64_t from = 0) {
  FrameReader::Verdict v = FrameReader::Verdict::kOk;
  for (size_t i = 0; i < stream.size(); ++i) v = reader.feed(from + i, &stream[i], 1);
  return v;
}

}  // namespace

TEST_CASE("masked frames of every length form pass, whole or byte by byte", "[frame_reader]") {
  Bytes stream = join({frame(1, 0), frame(1, 5), frame(1, 300), frame(2, 70000), frame(9, 3),
                       frame(0, 10, true, false), frame(8, 2)});
  FrameReader whole(1 << 20);
  CHECK(whole.feed(0, stream.data(), stream.size()) == FrameReader::Verdict::kOk);
  CHECK(whole.position() == stream.size());
  FrameReader bytewise(1 << 20);
  CHECK(feed_bytewise(bytewise, stream) == FrameReader::Verdict::kOk);
  CHECK_FALSE(bytewise.lost());
}

TEST_CASE("an unmasked frame is found, even after others and split over pieces", "[frame_reader]") {
  Bytes stream = join({frame(1, 20), frame(1, 4, false)});
  FrameReader reader(1 << 20);
  CHECK(feed_bytewise(reader, stream) == FrameReader::Verdict::kUnmasked);
  // Verdicts stick.
  uint8_t more = 0x81;
  CHECK(reader.feed(stream.size(), &more, 1) == FrameReader::Verdict::kUnmasked);
}

TEST_CASE("the header of a huge frame is refused before any payload", "[frame_reader]") {
  Bytes header{0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0};  // 2^62 bytes announced, no mask yet
  FrameReader reader(65536 + (1 << 20));
  CHECK(reader.feed(0, header.data(), header.size()) == FrameReader::Verdict::kTooBig);
  FrameReader edge(300);
  Bytes fits = frame(1, 300), over = frame(1, 301);
  CHECK(edge.feed(0, fits.data(), fits.size()) == FrameReader::Verdict::kOk);
  CHECK(edge.feed(fits.size(), over.data(), 4) == FrameReader::Verdict::kTooBig);
}

TEST_CASE("a 64-bit length with its top bit set is a protocol error", "[frame_reader]") {
  Bytes header{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1};
  FrameReader reader(UINT64_MAX);
  CHECK(reader.feed(0, header.data(), header.size()) == FrameReader::Verdict::kBadLength);
}

TEST_CASE("pieces seen again are not read twice", "[frame_reader]") {
  Bytes stream = join({frame(1, 10), frame(1, 3)});
  FrameReader reader(1 << 20);
  CHECK(reader.feed(0, stream.data(), 8) == FrameReader::Verdict::kOk);
  // A peek that starts again at 0 and goes further: only the new bytes count.
  CHECK(reader.feed(0, stream.data(), stream.size()) == FrameReader::Verdict::kOk);
  CHECK(reader.position() == stream.size());
  CHECK_FALSE(reader.lost());
}

TEST_CASE("a gap inside a payload is skipped; a gap over a header loses the thread",
          "[frame_reader]") {
  Bytes stream = join({frame(1, 100), frame(1, 2, false)});
  FrameReader reader(1 << 20);
  REQUIRE(reader.feed(0, stream.data(), 10) == FrameReader::Verdict::kOk);
  // Bytes 10..49 were never shown (inside the first payload): still on track, finds the unmasked.
  CHECK(reader.feed(50, stream.data() + 50, stream.size() - 50) == FrameReader::Verdict::kUnmasked);

  FrameReader blind(1 << 20);
  REQUIRE(blind.feed(0, stream.data(), 10) == FrameReader::Verdict::kOk);
  // A gap past the end of the payload covers the next header: no verdict from then on.
  CHECK(blind.feed(stream.size() - 1, stream.data() + stream.size() - 1, 1) ==
        FrameReader::Verdict::kOk);
  CHECK(blind.lost());
}

TEST_CASE("the reader starts where it is told", "[frame_reader]") {
  Bytes stream = frame(1, 2, false);
  FrameReader reader(1 << 20);
  reader.start(1000);
  CHECK(reader.feed(1000, stream.data(), stream.size()) == FrameReader::Verdict::kUnmasked);
}
