// hub_core_replay.cpp: what a subscription receives once its history has answered and before
// live messages: the keyed snapshot (in parts where the transport wants), the retained messages,
// then what it held meanwhile.
#include "core/hub_core.hpp"

#include "core/hub_core_records.hpp"

namespace rthub {

void HubCore::replay(Subscription& sub, const std::vector<EnvelopePtr>& messages,
                     const HistoryOutcome* snapshot) {
  Session& session = *sub.session;
  sub.pending = false;
  if (presence_supported()) announce(sub, Membership::kJoined);  // a member from now on
  if (snapshot && snapshot->has_snapshot) {
    send_snapshot(sub, *snapshot);
    if (sub.removed || session.closing()) return;
  }
  size_t replay_bytes = 0;
  for (const auto& m : messages) replay_bytes += codec::envelope_frame(*m, session.kind())->size();
  session.add_replay_allowance(replay_bytes);
  for (const auto& m : messages) {
    deliver(sub, m);
    codec::forget_frames(*m);
    if (sub.removed || session.closing()) return;
  }
  // Live messages that arrived while the history was read, minus what the replay covered.
  std::vector<EnvelopePtr> held;
  held.swap(sub.held);
  for (const auto& m : held) {
    deliver(sub, m);
    if (sub.removed || session.closing()) return;
  }
}

void HubCore::send_snapshot(Subscription& sub, const HistoryOutcome& history) {
  Session& session = *sub.session;
  Position at{sub.epoch, sub.last_seq};
  // Items are encoded from the message text, never from the envelope's cached frames: with
  // shards, a keyed envelope may be shared by the brokers of other threads.
  std::vector<std::string> items;
  items.reserve(history.snapshot.size());
  for (const auto& m : history.snapshot) items.push_back(codec::message(m->message));
  // A part holds items up to this many bytes (one larger item goes alone), so that no frame
  // exceeds what the hub itself accepts as a frame; a transport that does not split snapshots
  // sends the whole snapshot as one object.
  size_t budget = SIZE_MAX;
  if (session.kind().splits_snapshots()) {
    // The frame's own bytes: the part's object without items, plus the largest frame header.
    size_t overhead = codec::snapshot(sub.channel, at, "", true).size() + 10;
    budget = options_.max_message_bytes > overhead ? options_.max_message_bytes - overhead : 1;
  }
  std::vector<std::string> parts;
  std::string part;
  for (const auto& item : items) {
    if (!part.empty() && part.size() + 1 + item.size() > budget) {
      parts.push_back(std::move(part));
      part.clear();
    }
    if (!part.empty()) part.push_back(',');
    part += item;
  }
  parts.push_back(std::move(part));
  std::vector<Frame> frames;
  size_t bytes = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    frames.push_back(codec::make_frame(
        session.kind(), codec::snapshot(sub.channel, at, parts[i], i + 1 < parts.size())));
    bytes += frames.back()->size();
  }
  session.add_replay_allowance(bytes);  // like a replay, a snapshot may exceed the queue bound once
  for (auto& frame : frames) {
    Outbound item;
    item.frame = std::move(frame);
    item.slot = sub.slot;
    item.seq = at.seq;
    if (!enqueue(session, std::move(item))) return;
  }
  metrics_.snapshots_sent.add();
}

}  // namespace rthub
