// loop_links.hpp: the production Clock and LinkFactory of the client: alarms are lws timers on
// the client's loop, links are real WebSocket / SSE / long-poll / publish connections. Ended links
// are freed between loop rounds (collect), never inside their own callbacks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "client/clock.hpp"
#include "client/connection_strategy.hpp"
#include "client/http_exchange.hpp"

namespace rthub::client {

class LoopClock final : public Clock {
 public:
  explicit LoopClock(ClientLoop& loop) : loop_(loop) {}
  int64_t now_ms() const override;
  std::unique_ptr<Alarm> alarm() override;

 private:
  ClientLoop& loop_;
};

class LoopLinks final : public LinkFactory {
 public:
  LoopLinks(ClientLoop& loop, LinkSettings settings, LinkSettings exchange_settings)
      : loop_(loop),
        settings_(std::move(settings)),
        exchange_settings_(std::move(exchange_settings)) {}

  Connection* websocket(LinkListener* listener) override;
  Connection* event_stream(LinkListener* listener, const std::vector<std::string>& channels,
                           const std::string& cursor, bool fallback) override;
  Connection* long_poll(LinkListener* listener, const std::vector<std::string>& channels,
                        const std::string& cursor, bool fallback) override;
  // One request to the hub beside the stream (`body` empty: GET, else POST of that JSON);
  // `done` gets the status (0: no answer), the body and a failure text.
  Connection* exchange(std::string path, std::string body, HttpExchange::Done done);

  // Frees the links that ended, except `keep_a` and `keep_b` (still referenced by their owner).
  void collect(const Connection* keep_a, const Connection* keep_b);
  // Lets go of every link (the client stops), then frees them (after the loop is closed).
  void abandon_all();
  void clear() { links_.clear(); }

 private:
  ClientLoop& loop_;
  LinkSettings settings_, exchange_settings_;
  std::vector<std::unique_ptr<Connection>> links_;
};

}  // namespace rthub::client
