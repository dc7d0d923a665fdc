// checks.hpp: what every integration test asserts about delivered messages.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "support/event_log.hpp"

namespace rthub_test {

// The channel's messages carry consecutive seqs from `first` within each epoch, none twice; the
// epoch only changes right after a reset event for the channel.
inline void check_exactly_once_in_order(const EventLog::Events& events, const std::string& channel,
                                        uint64_t first = 1) {
  std::string epoch;
  uint64_t expected = first;
  bool reset_pending = false;
  for (const auto& e : events) {
    if (e.channel != channel) continue;
    if (e.kind == Kind::kReset) {
      reset_pending = true;
      epoch = e.position.epoch;
      expected = e.position.seq + 1;
      continue;
    }
    if (e.kind != Kind::kMessage) continue;
    if (epoch.empty()) epoch = e.position.epoch;
    INFO("channel " << channel << " message " << e.position.epoch << ":" << e.position.seq);
    CHECK(e.position.epoch == epoch);
    CHECK(e.position.seq == expected);
    expected = e.position.seq + 1;
    reset_pending = false;
  }
  (void)reset_pending;
}

inline size_t count_kind(const EventLog::Events& events, Kind kind,
                         const std::string& channel = {}) {
  size_t n = 0;
  for (const auto& e : events)
    if (e.kind == kind && (channel.empty() || e.channel == channel)) ++n;
  return n;
}

}  // namespace rthub_test
