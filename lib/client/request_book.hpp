// request_book.hpp: the client's requests that wait for something: WebSocket requests waiting
// for the hub's answer (by id), the latest subscribe of each channel (older answers are stale),
// and publishes waiting for a connection. Client thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rthub::client {

// kAutoPresence: the members list the client asks for by itself after a presence subscribe.
enum class RequestKind { kSubscribe, kUnsubscribe, kPublish, kPresence, kAutoPresence };

// A publish the host asked for, by the id publish() returned.
struct PublishRequest {
  uint64_t id = 0;
  std::string channel, type, data;
  std::string key;  // "" for none
  bool delete_key = false;
};

class RequestBook {
 public:
  struct Pending {
    RequestKind kind;
    std::string channel;
  };

  // Publishes kept while disconnected.
  static constexpr size_t kMaxWaitingPublishes = 1000;

  // A request went out with `id`; a subscribe also becomes the channel's latest.
  void sent(uint64_t id, RequestKind kind, const std::string& channel);
  // The request an answer's `ref` names, taken out of the book; nothing when unknown.
  std::optional<Pending> take(std::optional<uint64_t> ref);
  // True (and forgotten) when `ref` is the latest subscribe of `channel`: only its answer counts.
  bool take_latest_subscribe(const std::string& channel, uint64_t ref);
  void forget_channel(const std::string& channel) { latest_subscribe_.erase(channel); }
  // The connection ended: every answer is lost. Returns the publishes and host presence
  // requests that had no answer.
  std::vector<std::pair<uint64_t, std::string>> connection_lost();

  // Keeps a publish for the next connection; false when too many wait already.
  bool wait(PublishRequest request);
  std::deque<PublishRequest> take_waiting();

 private:
  std::unordered_map<uint64_t, Pending> pending_;
  std::unordered_map<std::string, uint64_t> latest_subscribe_;  // channel -> subscribe id
  std::deque<PublishRequest> waiting_;
};

}  // namespace rthub::client
