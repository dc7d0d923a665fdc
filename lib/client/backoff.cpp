#include "client/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

namespace rthub::client {

UniformSource seeded_uniform_source(uint64_t seed) {
  auto engine = std::make_shared<std::mt19937_64>(seed);
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

UniformSource system_uniform_source() {
  std::random_device device;
  uint64_t seed = (static_cast<uint64_t>(device()) << 32) ^ device();
  return seeded_uniform_source(seed);
}

Backoff::Backoff(BackoffPolicy policy, UniformSource uniform)
    : policy_(policy), uniform_(std::move(uniform)) {
  if (!uniform_) uniform_ = system_uniform_source();
}

uint64_t Backoff::ceiling_ms(const BackoffPolicy& policy, uint32_t attempt) {
  uint64_t cap = policy.cap_ms;
  uint64_t value = policy.base_ms;
  for (uint32_t i = 0; i < attempt && value < cap; ++i) {
    if (value > cap / 2) return cap;  // doubling would pass the cap (and maybe overflow)
    value *= 2;
  }
  return std::min(value, cap);
}

uint64_t Backoff::delay_ms(uint32_t attempt) const {
  uint64_t ceiling = ceiling_ms(policy_, attempt);
  double u = uniform_();
  if (!(u >= 0.0)) u = 0.0;  // also catches NaN from a broken source
  if (u >= 1.0) u = std::nextafter(1.0, 0.0);
  // [0, 1) scaled onto the ceiling + 1 integers 0..ceiling, each equally likely.
  auto delay = static_cast<uint64_t>(u * (static_cast<double>(ceiling) + 1.0));
  return std::min(delay, ceiling);
}

std::optional<uint64_t> Backoff::next() {
  if (policy_.max_attempts && attempts_ >= policy_.max_attempts) return std::nullopt;
  return delay_ms(attempts_++);
}

}  // namespace rthub::client
