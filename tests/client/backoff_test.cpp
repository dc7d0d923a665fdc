// The reconnect delays: exponential ceilings, full jitter, bounds and spread, measured over many
// draws from a seeded (deterministic) source.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "client/backoff.hpp"

using rthub::client::Backoff;
using rthub::client::BackoffPolicy;

namespace {

std::vector<uint64_t> draw(const Backoff& backoff, uint32_t attempt, size_t n) {
  std::vector<uint64_t> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(backoff.delay_ms(attempt));
  return out;
}

double mean(const std::vector<uint64_t>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

}  // namespace

TEST_CASE("backoff ceilings double from base up to the cap", "[unit][backoff]") {
  BackoffPolicy p{500, 30000, 0};
  std::vector<uint64_t> expected = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
  for (uint32_t a = 0; a < expected.size(); ++a) CHECK(Backoff::ceiling_ms(p, a) == expected[a]);
  CHECK(Backoff::ceiling_ms(p, 64) == 30000);
  CHECK(Backoff::ceiling_ms(p, UINT32_MAX) == 30000);  // no overflow, no endless loop
  CHECK(Backoff::ceiling_ms(BackoffPolicy{1, UINT64_MAX, 0}, 63) == (uint64_t{1} << 63));
  CHECK(Backoff::ceiling_ms(BackoffPolicy{3, UINT64_MAX, 0}, 200) == UINT64_MAX);
  CHECK(Backoff::ceiling_ms(BackoffPolicy{700, 700, 0}, 5) == 700);
}

TEST_CASE("backoff delays stay within [0, ceiling] and fill it", "[unit][backoff]") {
  BackoffPolicy p{500, 30000, 0};
  Backoff backoff(p, rthub::client::seeded_uniform_source(42));
  for (uint32_t attempt = 0; attempt < 10; ++attempt) {
    uint64_t ceiling = Backoff::ceiling_ms(p, attempt);
    auto delays = draw(backoff, attempt, 20000);
    uint64_t lo = *std::min_element(delays.begin(), delays.end());
    uint64_t hi = *std::max_element(delays.begin(), delays.end());
    INFO("attempt " << attempt << " ceiling " << ceiling << " min " << lo << " max " << hi);
    CHECK(hi <= ceiling);
    // Full jitter: both ends of the window are reached (not "ceiling/2 + jitter").
    CHECK(lo <= ceiling / 100);
    CHECK(hi >= ceiling - ceiling / 100);
  }
}

TEST_CASE("backoff delays grow with the attempt until the cap", "[unit][backoff]") {
  BackoffPolicy p{100, 10000, 0};
  Backoff backoff(p, rthub::client::seeded_uniform_source(7));
  double previous = 0;
  for (uint32_t attempt = 0; attempt < 10; ++attempt) {
    double m = mean(draw(backoff, attempt, 20000));
    double expected = static_cast<double>(Backoff::ceiling_ms(p, attempt)) / 2.0;
    INFO("attempt " << attempt << " mean " << m << " expected " << expected);
    CHECK(std::abs(m - expected) < expected * 0.03 + 1);
    if (Backoff::ceiling_ms(p, attempt) < p.cap_ms) CHECK(m > previous * 1.8);
    previous = m;
  }
  // Capped attempts keep the same distribution.
  CHECK(std::abs(mean(draw(backoff, 20, 20000)) - 5000.0) < 150);
}

TEST_CASE("backoff jitter is spread uniformly", "[unit][backoff]") {
  BackoffPolicy p{1000, 8000, 0};
  Backoff backoff(p, rthub::client::seeded_uniform_source(2024));
  const size_t kSamples = 50000, kBuckets = 10;
  auto delays = draw(backoff, 3, kSamples);  // ceiling 8000
  std::vector<size_t> buckets(kBuckets, 0);
  for (auto d : delays) buckets[std::min<size_t>(kBuckets - 1, d * kBuckets / 8001)]++;
  double expected = static_cast<double>(kSamples) / kBuckets;
  double chi_square = 0;
  for (auto count : buckets) chi_square += (count - expected) * (count - expected) / expected;
  INFO("chi-square " << chi_square);
  CHECK(chi_square < 27.88);  // 9 degrees of freedom, p = 0.001
  // Uniform on [0, c]: standard deviation c / sqrt(12).
  double m = mean(delays);
  double var = 0;
  for (auto d : delays) var += (d - m) * (d - m);
  double sd = std::sqrt(var / static_cast<double>(delays.size()));
  CHECK(std::abs(sd - 8000 / std::sqrt(12.0)) < 8000 * 0.01);
  // Two clients with different seeds do not retry in lockstep.
  Backoff other(p, rthub::client::seeded_uniform_source(2025));
  size_t same = 0;
  for (int i = 0; i < 1000; ++i) same += other.delay_ms(3) == backoff.delay_ms(3);
  CHECK(same < 10);
}

TEST_CASE("backoff is deterministic for a seed and takes any source", "[unit][backoff]") {
  BackoffPolicy p{500, 30000, 0};
  Backoff a(p, rthub::client::seeded_uniform_source(1)),
      b(p, rthub::client::seeded_uniform_source(1));
  for (uint32_t i = 0; i < 100; ++i) CHECK(a.delay_ms(i % 8) == b.delay_ms(i % 8));

  double u = 0;
  Backoff fixed(p, [&u] { return u; });
  u = 0.0;
  CHECK(fixed.delay_ms(2) == 0);
  u = 0.5;
  CHECK(fixed.delay_ms(2) == 1000);
  u = 0.9999999;
  CHECK(fixed.delay_ms(2) == 2000);
  u = 1.0;  // a broken source cannot push past the ceiling
  CHECK(fixed.delay_ms(2) == 2000);
  u = -3;
  CHECK(fixed.delay_ms(2) == 0);
}

TEST_CASE("backoff counts attempts, gives up after max_attempts, and resets", "[unit][backoff]") {
  Backoff backoff(BackoffPolicy{10, 1000, 3}, [] { return 0.999; });
  CHECK(backoff.next() == 10u);
  CHECK(backoff.next() == 20u);
  CHECK(backoff.next() == 40u);
  CHECK_FALSE(backoff.next().has_value());
  CHECK(backoff.attempts() == 3);
  backoff.reset();
  CHECK(backoff.next() == 10u);

  Backoff forever(BackoffPolicy{10, 1000, 0}, [] { return 0.0; });
  for (int i = 0; i < 10000; ++i) REQUIRE(forever.next().has_value());
}
