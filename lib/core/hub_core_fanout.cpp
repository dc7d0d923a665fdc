// hub_core_fanout.cpp: HubCore's live delivery: a broker message queued to every subscriber,
// the bounded session queues (slow consumers), and the write metrics that follow each fan-out
// until its last copy is written.
#include "core/hub_core.hpp"

#include "core/hub_core_records.hpp"

namespace rthub {

void HubCore::on_broker_message(const EnvelopePtr& message) {
  refresh_clock();
  if (counts_published_) metrics_.published.add();
  auto it = channels_.find(message->message.channel);
  if (it == channels_.end()) return;
  // Index loop: a slow consumer dropped here stays in the list until its transport detaches it.
  auto& subscribers = it->second;
  size_t queued = 0;
  std::array<const TransportKind*, kMaxTransports> kinds{};  // those that queued a copy
  for (size_t i = 0; i < subscribers.size(); ++i) {
    Subscription& sub = *subscribers[i];
    if (sub.pending) {
      sub.held.push_back(message);
    } else if (deliver(sub, message)) {
      ++queued;
      const TransportKind& kind = sub.session->kind();
      kinds[kind.index()] = &kind;
    }
  }
  if (queued && message->published_us > 0) {
    // Followed until its last copy is written (on_written): the breakdown of the fan-out's time.
    metrics_.fanout_queued.observe_us(monotonic_us() - message->published_us);
    auto fanout = std::make_shared<FanOut>();
    fanout->published_us = message->published_us;
    fanout->started_ms = coarse_now_ms_;
    fanout->unwritten = queued;
    for (size_t f = 0; f < kMaxTransports; ++f) {
      if (!kinds[f]) continue;
      fanout->frames[f] = codec::envelope_frame(*message, *kinds[f]);
      fanouts_[fanout->frames[f].get()] = fanout;
    }
  }
  codec::forget_frames(*message);  // the queues hold them now; history keeps only the text
}

const std::string* HubCore::deliver(Subscription& sub, const EnvelopePtr& message) {
  const Position& p = message->message.position;
  Session& session = *sub.session;
  if (session.closing()) return nullptr;
  if (p.epoch == sub.epoch && p.seq <= sub.last_seq)
    return nullptr;  // already sent (replay and live overlap)
  if (p.epoch != sub.epoch || p.seq != sub.last_seq + 1) {
    // The broker lost history (a new epoch) or could not fill a gap: say so before going on,
    // exactly as a resume that could not be honoured would.
    metrics_.resumes_lost.add();
    sub.epoch = p.epoch;
    session.cursors()[sub.slot].epoch = p.epoch;
    Outbound notice;
    notice.frame = codec::make_frame(
        session.kind(), codec::subscribed(sub.channel, Position{p.epoch, p.seq - 1}, false, {}));
    notice.slot = sub.slot;
    notice.seq = p.seq - 1;
    if (!enqueue(session, std::move(notice))) return nullptr;
  }
  Outbound item;
  item.frame = codec::envelope_frame(*message, session.kind());
  item.published_us = message->published_us;
  item.slot = sub.slot;
  item.seq = p.seq;
  sub.last_seq = p.seq;
  const std::string* frame = item.frame.get();
  return enqueue(session, std::move(item)) ? frame : nullptr;
}

bool HubCore::enqueue(Session& session, Outbound item) {
  if (session.closing()) return false;
  size_t n = item.frame->size();
  if (session.queued_bytes() + n > options_.max_queue_bytes + session.replay_allowance()) {
    metrics_.slow_consumers.add();
    session.set_closing();
    discard_queue(session);
    session.close(CloseCode::kSlowConsumer, "slow consumer: resume to catch up");
    return false;
  }
  bool was_empty = session.queue().empty();
  session.add_queued_bytes(n);
  session.queue().push(std::move(item));
  session.last_queued_ms =
      coarse_now_ms_;  // heartbeats need seconds, not a clock read per delivery
  if (was_empty) session.want_write();
  return true;
}

void HubCore::on_written(Session& session, const Outbound& item, int64_t now_us) {
  written_.bytes += item.frame->size();
  if (item.published_us > 0) {
    written_.deliveries++;
    written_.observe_latency_us(now_us - item.published_us);
    count_fanout_copy(item, now_us);
  }
  session.note_written(item);
}

void HubCore::count_fanout_copy(const Outbound& item, int64_t written_us) {
  // Copies of one message are mostly written one after another (one per session of a flush):
  // the last record found answers them without a hash lookup.
  const std::string* key = item.frame.get();
  if (key != fanout_hit_key_) {
    auto it = fanouts_.empty() ? fanouts_.end() : fanouts_.find(key);
    if (it == fanouts_.end()) return;
    fanout_hit_key_ = key;
    fanout_hit_ = it->second.get();
  }
  FanOut& fanout = *fanout_hit_;
  if (written_us) {
    if (!fanout.last_written_us)
      metrics_.fanout_first_write.observe_us(written_us - fanout.published_us);
    fanout.last_written_us = written_us;
  }
  if (--fanout.unwritten > 0) return;
  // The last copy: written now, or discarded (then the last one written, if any, was the last).
  if (fanout.last_written_us)
    metrics_.fanout_last_write.observe_us(fanout.last_written_us - fanout.published_us);
  fanout_hit_key_ = nullptr;
  auto keep = fanouts_[key];  // the frames stay alive until their keys are gone
  for (const Frame& frame : keep->frames)
    if (frame) fanouts_.erase(frame.get());
}

void HubCore::discard_queue(Session& session) {
  auto& queue = session.queue();
  for (; !queue.empty(); queue.pop())
    if (queue.front().published_us > 0) count_fanout_copy(queue.front(), 0);
  queue.clear();
}

void HubCore::publish_write_metrics() {
  if (written_.empty()) return;
  metrics_.add(written_);
  written_ = WriteTally{};
}

}  // namespace rthub
