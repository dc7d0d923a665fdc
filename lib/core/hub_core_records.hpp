// hub_core_records.hpp: the records HubCore keeps per subscription, per live fan-out and per
// opening stream. Private to the files that implement HubCore (lib/core/hub_core*.cpp).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/hub_core.hpp"

namespace rthub {

// One session's interest in one channel. While `pending`, the broker is still answering the
// history request and live messages wait in `held`, so that replay and live join without a gap
// or a duplicate even when the broker answers asynchronously.
struct HubCore::Subscription {
  // Ordered by size, so that the record packs without holes (one per subscribed connection).
  Session* session = nullptr;
  std::string channel;
  std::string epoch;      // the numbering the session follows
  uint64_t last_seq = 0;  // the last seq queued to the session
  size_t index_in_channel = 0;
  std::vector<EnvelopePtr> held;
  std::shared_ptr<StreamOpening> opening;  // set while its stream waits for its other channels
  uint32_t slot = 0;
  bool pending = true;
  bool removed = false;
  bool snapshot = false;  // asked for the channel's keyed snapshot
  bool presence = false;  // gets the channel's join and leave events
};

// One live message's fan-out on this shard, until its last queued copy is written. It holds the
// frames, so that their addresses (the keys of fanouts_) are not reused while it lives.
struct HubCore::FanOut {
  std::array<Frame, kMaxTransports> frames;
  int64_t published_us = 0;
  int64_t started_ms = 0;
  int64_t last_written_us = 0;  // 0 until the first copy is written
  size_t unwritten = 0;
};

// A stream (open_stream) sends every channel's `subscribed` before any replayed message: each
// subscription's replay waits here until the last channel's history has answered.
struct HubCore::StreamOpening {
  size_t remaining = 1;  // one per channel, plus one held by open_stream until it has asked all
  std::vector<std::pair<std::shared_ptr<Subscription>, HistoryOutcome>> ready;
};

}  // namespace rthub
