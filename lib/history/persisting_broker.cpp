#include "history/persisting_broker.hpp"

#include <algorithm>

namespace rthub {

size_t contiguous_after(uint64_t after, const std::vector<Message>& rows) {
  size_t n = 0;
  while (n < rows.size() && rows[n].position.seq == after + 1 + n) ++n;
  return n;
}

PersistingBroker::PersistingBroker(std::unique_ptr<Broker> inner, HistoryStore& store, Post post)
    : inner_(std::move(inner)), store_(store), post_(std::move(post)) {}

void PersistingBroker::publish(Message message, std::function<void(const PublishOutcome&)> done) {
  if (!store_.persists(message.channel))
    return inner_->publish(std::move(message), std::move(done));
  // The inner broker takes the message; the store gets its copy once the position is known.
  auto copy = std::make_shared<Message>(message);
  inner_->publish(std::move(message),
                  [this, copy, done = std::move(done)](const PublishOutcome& outcome) {
                    if (outcome.error == BrokerError::kOk) {
                      copy->position = outcome.position;
                      store_.append(*copy);
                    }
                    if (done) done(outcome);
                  });
}

void PersistingBroker::resume(const std::string& channel, const std::optional<Position>& since,
                              bool snapshot, std::function<void(HistoryOutcome&)> done) {
  auto ask_inner = [this, snapshot](const std::string& c, const std::optional<Position>& s,
                                    std::function<void(HistoryOutcome&)> d) {
    if (snapshot) return inner_->history_with_snapshot(c, s, std::move(d));
    inner_->history(c, s, std::move(d));
  };
  if (!since || !store_.persists(channel)) return ask_inner(channel, since, std::move(done));
  Position cursor = *since;
  ask_inner(channel, since,
            [this, channel, cursor, done = std::move(done)](HistoryOutcome& live) mutable {
              // The store only helps a cursor in the current numbering, behind the live window, and
              // not absurdly far behind.
              if (live.error != BrokerError::kOk || live.recovered ||
                  cursor.epoch != live.latest.epoch || cursor.seq >= live.latest.seq ||
                  live.latest.seq - cursor.seq > kMaxReplay)
                return done(live);
              auto saved = std::make_shared<HistoryOutcome>(std::move(live));
              StoreRange range;
              range.channel = channel;
              range.epoch = cursor.epoch;
              range.after = cursor.seq;
              range.before = saved->latest.seq + 1;
              range.limit = static_cast<size_t>(saved->latest.seq - cursor.seq);
              Post post = post_;
              store_.read(std::move(range), [this, post, channel, cursor, saved,
                                             done = std::move(done)](StoreRead& read) mutable {
                auto rows = std::make_shared<std::vector<Message>>(std::move(read.messages));
                bool ok = read.ok;
                post([this, channel, cursor, saved, done = std::move(done), rows, ok]() mutable {
                  if (!ok) return done(*saved);  // the store is away: as the inner broker answered
                  join_store_rows(channel, cursor, saved, std::move(*rows), std::move(done));
                });
              });
            });
}

void PersistingBroker::join_store_rows(const std::string& channel, const Position& since,
                                       std::shared_ptr<HistoryOutcome> live,
                                       std::vector<Message> rows,
                                       std::function<void(HistoryOutcome&)> done) {
  rows.resize(contiguous_after(since.seq, rows));
  if (rows.empty()) return done(*live);  // past the retention, or never written
  auto recovered = std::make_shared<HistoryOutcome>();
  recovered->latest = live->latest;
  recovered->recovered = true;
  for (auto& m : rows) {
    auto envelope = std::make_shared<Envelope>();
    envelope->message = std::move(m);
    envelope->message.idempotency_key.clear();  // not part of what a subscriber receives
    recovered->messages.push_back(std::move(envelope));
  }
  uint64_t reached = recovered->messages.back()->message.position.seq;
  if (reached >= live->latest.seq) return done(*recovered);
  // The store stops short of the latest seq: the rest must be in the live window.
  Position middle{since.epoch, reached};
  inner_->history(channel, middle, [live, recovered, done = std::move(done)](HistoryOutcome& rest) {
    if (rest.error != BrokerError::kOk || !rest.recovered ||
        rest.latest.epoch != recovered->latest.epoch)
      return done(*live);
    for (auto& m : rest.messages) recovered->messages.push_back(std::move(m));
    recovered->latest = rest.latest;
    done(*recovered);
  });
}

void PersistingBroker::history_page(const std::string& channel, const HistoryQuery& query,
                                    std::function<void(HistoryPage&)> done) {
  if (!store_.persists(channel)) {
    HistoryPage page;
    page.status = HistoryStatus::kNotPersisted;
    page.channel = channel;
    return done(page);
  }
  inner_->history(
      channel, std::nullopt,
      [this, channel, query, done = std::move(done)](HistoryOutcome& live) mutable {
        HistoryPage page;
        page.channel = channel;
        page.epoch = live.latest.epoch;
        if (live.error != BrokerError::kOk) {
          page.status = HistoryStatus::kUnavailable;
          return done(page);
        }
        StoreRange range;
        range.channel = channel;
        range.epoch = live.latest.epoch;
        range.limit = query.limit;
        switch (query.direction) {
          case HistoryDirection::kLatest:
            range.before = live.latest.seq + 1;
            range.newest_first = true;
            break;
          case HistoryDirection::kBefore:
            range.before = query.seq;
            range.newest_first = true;
            break;
          case HistoryDirection::kAfter:
            range.after = query.seq;
            range.before = live.latest.seq + 1;
            break;
        }
        auto shared_page = std::make_shared<HistoryPage>(std::move(page));
        Post post = post_;
        store_.read(
            std::move(range), [post, shared_page, done = std::move(done)](StoreRead& read) mutable {
              shared_page->status = read.ok ? HistoryStatus::kOk : HistoryStatus::kUnavailable;
              shared_page->messages = std::move(read.messages);
              for (auto& m : shared_page->messages) m.idempotency_key.clear();
              post([shared_page, done = std::move(done)] { done(*shared_page); });
            });
      });
}

void PersistingBroker::render_metrics(std::string& out) const {
  inner_->render_metrics(out);
  store_.render_metrics(out);
}

}  // namespace rthub
