// channel_subscriptions.hpp: which hub channels this node subscribes to in Redis, and the
// SUBSCRIBE / UNSUBSCRIBE commands that bring Redis in line.
//
// A channel is wanted from its first local subscriber to its last. Changes are collected and
// taken as one batch per loop iteration (take_batch), so thousands of clients arriving together
// cost a few multi-channel commands, not a round trip each. A channel has at most one command in
// flight: a change made meanwhile is applied once Redis confirms (on_subscribed/on_unsubscribed).
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace rthub {

class ChannelSubscriptions {
 public:
  struct Batch {
    std::vector<std::string> subscribe, unsubscribe;
  };

  // Returns true when this changed what Redis should be told (a batch is due).
  bool want(const std::string& channel);
  bool unwant(const std::string& channel);

  bool has_changes() const { return !dirty_.empty(); }
  // The commands to send now; their channels are in flight until confirmed.
  Batch take_batch();

  // Redis confirmed a SUBSCRIBE: returns true when the channel is still wanted (its messages flow
  // from now on). A confirmation for a channel no longer wanted makes an UNSUBSCRIBE due.
  bool on_subscribed(const std::string& channel);
  void on_unsubscribed(const std::string& channel);
  // A confirmed subscription was lost and is being restored by its subscriber (a Redis Cluster
  // slot moved or its master failed over): inactive until on_subscribed confirms it again.
  void on_interrupted(const std::string& channel);

  // The pub/sub link is gone: nothing is active in Redis; every wanted channel is due again.
  void reset();

  bool active(const std::string& channel) const;
  bool wanted(const std::string& channel) const;
  size_t active_count() const;

 private:
  enum class State { kNone, kSubscribing, kActive, kUnsubscribing };
  struct Entry {
    bool wanted = false;
    State state = State::kNone;
  };
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_set<std::string> dirty_;
};

}  // namespace rthub
