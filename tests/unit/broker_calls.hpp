// broker_calls.hpp: publish and history on a Broker whose answers come before the call returns
// (the in-memory brokers), for the broker tests.
#pragma once

#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "rthub/broker.hpp"

namespace rthub::test {

constexpr int64_t kStartMs = 1'700'000'000'000;

// Publishes and returns the assigned position; `ts_ms` stands for the hub's clock.
inline Position publish(Broker& broker, const std::string& channel, const std::string& data = "1",
                        int64_t ts_ms = kStartMs) {
  Message m;
  m.channel = channel;
  m.data = data;
  m.ts_ms = ts_ms;
  Position assigned;
  bool done = false;
  broker.publish(std::move(m), [&](const PublishOutcome& outcome) {
    REQUIRE(outcome.error == BrokerError::kOk);
    assigned = outcome.position;
    done = true;
  });
  REQUIRE(done);  // an in-memory broker answers before publish returns
  return assigned;
}

// Publishes with an idempotency key; returns the position answered (the first one's, for a
// repeat within the window).
inline Position publish_keyed(Broker& broker, const std::string& channel, const std::string& key,
                              const std::string& data = "1") {
  Message m;
  m.channel = channel;
  m.data = data;
  m.ts_ms = kStartMs;
  m.idempotency_key = key;
  Position answered;
  bool done = false;
  broker.publish(std::move(m), [&](const PublishOutcome& outcome) {
    REQUIRE(outcome.error == BrokerError::kOk);
    answered = outcome.position;
    done = true;
  });
  REQUIRE(done);
  return answered;
}

inline HistoryOutcome history(Broker& broker, const std::string& channel,
                              std::optional<Position> since) {
  HistoryOutcome answer;
  bool done = false;
  broker.history(channel, since, [&](HistoryOutcome& outcome) {
    answer = std::move(outcome);
    done = true;
  });
  REQUIRE(done);
  return answer;
}

}  // namespace rthub::test
