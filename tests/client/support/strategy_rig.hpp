// strategy_rig.hpp: a connection strategy with fakes for everything around it, for unit tests:
// a manual clock (time moves only when the test says so), links that never touch a socket (the
// test plays the hub or the path to it), and hooks and a sink that record what happened.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/connection_strategy.hpp"

namespace strategy_rig {

using rthub::ClientEvent;
using rthub::ClientState;
using rthub::ClientTransport;
using namespace rthub::client;

// Alarms fire when the test advances the clock past them, in order of their due time.
class ManualClock final : public Clock {
 public:
  class ManualAlarm final : public Alarm {
   public:
    explicit ManualAlarm(ManualClock& clock) : clock_(clock) {}
    ~ManualAlarm() override { cancel(); }
    void start(int64_t ms, std::function<void()> fn) override {
      due_ = clock_.now_ + ms;
      fn_ = std::move(fn);
      clock_.armed_[this] = true;
    }
    void cancel() override { clock_.armed_.erase(this); }
    int64_t due_ = 0;
    std::function<void()> fn_;

   private:
    ManualClock& clock_;
  };

  int64_t now_ms() const override { return now_; }
  std::unique_ptr<Alarm> alarm() override { return std::make_unique<ManualAlarm>(*this); }

  void advance(int64_t ms) {
    int64_t until = now_ + ms;
    for (;;) {
      ManualAlarm* next = nullptr;
      for (auto& [alarm, armed] : armed_)
        if (alarm->due_ <= until && (!next || alarm->due_ < next->due_)) next = alarm;
      if (!next) break;
      now_ = next->due_;
      armed_.erase(next);
      auto fn = next->fn_;
      fn();
    }
    now_ = until;
  }
  // The time left before the earliest alarm; -1 when none is armed.
  int64_t next_due_in() const {
    int64_t best = -1;
    for (auto& [alarm, armed] : armed_)
      if (best < 0 || alarm->due_ - now_ < best) best = alarm->due_ - now_;
    return best;
  }

 private:
  int64_t now_ = 1000;
  std::map<ManualAlarm*, bool> armed_;
};

struct FakeLink final : public Connection {
  FakeLink(LinkListener* l, ClientTransport t) : listener(l), transport(t) {}
  bool connect() override {
    connected = true;
    return true;
  }
  void abandon() override { ended_ = abandoned = true; }
  void fail(LinkEnd end) override {
    if (ended_) return;
    end.opened = open_;
    ended_ = true;
    listener->on_end(*this, end);
  }
  void set_reading(bool enable) override { reading = enable; }
  void send(std::string text) override { sent.push_back(std::move(text)); }
  bool is_open() const override { return open_ && !ended_; }
  bool ended() const override { return ended_; }

  // What the hub (or the path to it) does.
  void open() {
    open_ = true;
    listener->on_open(*this);
  }
  void refuse(int status) {
    LinkEnd end;
    end.request_sent = true;
    end.http_status = status;
    end.reason = "refused";
    ended_ = true;
    listener->on_end(*this, end);
  }
  void drop() {
    LinkEnd end;
    end.opened = open_;
    end.request_sent = true;
    end.reason = "dropped";
    ended_ = true;
    listener->on_end(*this, end);
  }
  void text(const std::string& t) { listener->on_text(*this, t); }
  void activity() { listener->on_activity(*this); }

  LinkListener* listener;
  ClientTransport transport;
  bool connected = false, abandoned = false, reading = true;
  std::vector<std::string> sent;
  std::vector<std::string> channels;
  std::string cursor;
  bool fallback_mark = false;

 private:
  bool open_ = false, ended_ = false;
};

struct FakeLinks final : public LinkFactory {
  Connection* websocket(LinkListener* listener) override {
    links.push_back(std::make_unique<FakeLink>(listener, ClientTransport::kWebSocket));
    return links.back().get();
  }
  Connection* event_stream(LinkListener* listener, const std::vector<std::string>& channels,
                           const std::string& cursor, bool fallback) override {
    return add(listener, ClientTransport::kEventStream, channels, cursor, fallback);
  }
  Connection* long_poll(LinkListener* listener, const std::vector<std::string>& channels,
                        const std::string& cursor, bool fallback) override {
    return add(listener, ClientTransport::kLongPoll, channels, cursor, fallback);
  }
  Connection* add(LinkListener* listener, ClientTransport transport,
                  const std::vector<std::string>& channels, const std::string& cursor,
                  bool fallback) {
    links.push_back(std::make_unique<FakeLink>(listener, transport));
    links.back()->channels = channels;
    links.back()->cursor = cursor;
    links.back()->fallback_mark = fallback;
    return links.back().get();
  }
  FakeLink& last() { return *links.back(); }
  std::vector<std::unique_ptr<FakeLink>> links;
};

struct Hooks final : public ConnectionHooks {
  void on_connected(Connection&, ClientTransport, bool took_over) override {
    connected++;
    took_overs += took_over;
  }
  void on_disconnected() override { disconnected++; }
  void on_server_text(std::string_view text) override { texts.emplace_back(text); }
  void on_refused(ClientTransport, const LinkEnd& end) override {
    refusals.push_back(end.http_status);
  }
  int connected = 0, took_overs = 0, disconnected = 0;
  std::vector<std::string> texts;
  std::vector<int> refusals;
};

// One strategy with its fakes. The jitter source always draws 0.5: delays are half the ceiling.
struct Rig {
  explicit Rig(StrategySettings settings = {}, BackoffPolicy policy = {}, bool channel = true)
      : queue(1000),
        sink({}, queue, counters, {}),
        strategy(settings, Backoff(policy, [] { return 0.5; }), clock, links, book, sink, counters,
                 hooks) {
    if (channel) book.want("a");
  }
  std::vector<ClientEvent> states() {
    std::vector<ClientEvent> out;
    ClientEvent e;
    while (queue.pop(e, 0))
      if (e.kind == ClientEvent::Kind::kState) out.push_back(e);
    return out;
  }
  ManualClock clock;
  FakeLinks links;
  ChannelBook book;
  EventQueue queue;
  ClientCounters counters;
  EventSink sink;
  Hooks hooks;
  ConnectionStrategy strategy;
};

inline StrategySettings settings(int64_t watchdog_ms = 50000, int64_t retry_ms = 60000) {
  StrategySettings s;
  s.watchdog_ms = watchdog_ms;
  s.websocket_retry_ms = retry_ms;
  auto ids = std::make_shared<uint64_t>(0);
  s.next_id = [ids] { return ++*ids; };
  return s;
}

}  // namespace strategy_rig
