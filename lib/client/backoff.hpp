// backoff.hpp: reconnect delays by exponential backoff with full jitter.
//
// Attempt n (0 for the first retry) waits a delay drawn uniformly from [0, min(cap, base * 2^n)]
// ("full jitter", AWS architecture blog, 2015): clients that lost the same hub at the same moment
// spread their retries over the whole window instead of returning in waves.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

namespace rthub::client {

struct BackoffPolicy {
  uint64_t base_ms = 500;
  uint64_t cap_ms = 30000;
  uint32_t max_attempts = 0;  // consecutive failed attempts before giving up; 0: never give up
};

// A source of uniformly distributed numbers in [0, 1). Injected so that tests are deterministic.
using UniformSource = std::function<double()>;

// A source seeded with `seed` (tests), and one seeded from std::random_device (production).
UniformSource seeded_uniform_source(uint64_t seed);
UniformSource system_uniform_source();

class Backoff {
 public:
  Backoff(BackoffPolicy policy, UniformSource uniform);

  // The upper bound of attempt `attempt`'s delay: min(cap, base * 2^attempt), without overflow.
  static uint64_t ceiling_ms(const BackoffPolicy& policy, uint32_t attempt);

  // A delay for attempt `attempt`, uniformly drawn from [0, ceiling_ms(attempt)].
  uint64_t delay_ms(uint32_t attempt) const;

  // The delay before the next attempt, counting it; nothing once max_attempts are spent.
  std::optional<uint64_t> next();

  // A connection held: the next failure starts again from attempt 0.
  void reset() { attempts_ = 0; }

  uint32_t attempts() const { return attempts_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  UniformSource uniform_;
  uint32_t attempts_ = 0;
};

}  // namespace rthub::client
