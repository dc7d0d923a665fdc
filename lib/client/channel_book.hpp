// channel_book.hpp: the channels a client wants and where it stands in each, across connections.
//
// This is what makes resume exact: the position of the last message handed to the host is kept
// per channel, a new connection asks to continue after it (`since` over WebSocket, the cursor over
// SSE), and a message at or before it is a duplicate and is dropped. Only the client's own thread
// uses a ChannelBook.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rthub/message.hpp"

namespace rthub::client {

class ChannelBook {
 public:
  // What to do with an arriving message.
  enum class Verdict {
    kDeliver,          // the next one: hand it to the host
    kDuplicate,        // at or before the position: already handed over
    kNotSubscribed,    // no confirmed subscription on this connection (stale or unwanted)
    kDeliverAfterGap,  // a later seq or another epoch: messages were missed; say so, then deliver
  };

  // The outcome of a `subscribed` object.
  struct Confirmation {
    bool known = false;  // the channel is wanted
    bool reset = false;  // a resume was asked for and refused: the host missed messages
  };

  // Starts wanting `channel`. `since` (optional) is where the host stands; without it the channel
  // starts at the hub's latest message. False when already wanted (nothing changes).
  // `snapshot` and `presence` are what the subscribe asks the hub for (SubscribeOptions).
  bool want(const std::string& channel, const std::optional<Position>& since = std::nullopt,
            bool snapshot = false, bool presence = false);
  // Stops wanting `channel` and forgets its position. False when it was not wanted.
  bool drop(const std::string& channel);
  bool wants(const std::string& channel) const { return entries_.count(channel) != 0; }
  bool empty() const { return order_.empty(); }
  // Wanted channels in the order they were first wanted.
  const std::vector<std::string>& channels() const { return order_; }
  // The position of the last message handed over (or the subscribe point), if any.
  std::optional<Position> position(const std::string& channel) const;
  bool confirmed(const std::string& channel) const;
  bool wants_snapshot(const std::string& channel) const;
  bool wants_presence(const std::string& channel) const;
  bool any_wants_snapshot() const;
  // The hub keeps no snapshots or presence (Redis mode, shards): subscribe plainly from now on.
  void make_plain(const std::string& channel);

  // The connection ended: no channel is confirmed until the next one says so.
  void connection_lost();

  // A `subscribed` object for `channel` with the hub's latest position and `recovered`.
  Confirmation on_subscribed(const std::string& channel, const Position& latest,
                             std::optional<bool> recovered);
  // A `message` object; advances the position when the verdict is to deliver.
  Verdict on_message(const std::string& channel, const Position& position);
  // A whole snapshot at `position` for a confirmed channel that asked for one: the position
  // moves there, and live messages continue after it. False when it is not to be applied.
  bool on_snapshot(const std::string& channel, const Position& position);

  // The SSE resume cursor (the hub's `channel:epoch:seq,...`) of the wanted channels that have
  // a position; "" when none has.
  std::string cursor() const;

 private:
  struct Entry {
    std::optional<Position> position;
    bool confirmed = false;
    bool snapshot = false, presence = false;
  };
  const Entry* find(const std::string& channel) const;
  std::unordered_map<std::string, Entry> entries_;
  std::vector<std::string> order_;
};

}  // namespace rthub::client
