#include "client/loop_links.hpp"

#include <chrono>

#include "client/poll_link.hpp"
#include "client/sse_link.hpp"
#include "client/ws_link.hpp"

namespace rthub::client {
namespace {

class LoopAlarm final : public Alarm {
 public:
  explicit LoopAlarm(ClientLoop& loop) : loop_(loop) {}
  void start(int64_t ms, std::function<void()> fn) override {
    timer_.start(loop_.context(), ms, std::move(fn));
  }
  void cancel() override { timer_.cancel(); }

 private:
  ClientLoop& loop_;
  Timer timer_;
};

}  // namespace

int64_t LoopClock::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<Alarm> LoopClock::alarm() {
  return std::make_unique<LoopAlarm>(loop_);
}

Connection* LoopLinks::websocket(LinkListener* listener) {
  links_.push_back(std::make_unique<WsLink>(loop_, settings_, listener));
  return links_.back().get();
}

Connection* LoopLinks::event_stream(LinkListener* listener,
                                    const std::vector<std::string>& channels,
                                    const std::string& cursor, bool fallback) {
  links_.push_back(
      std::make_unique<SseLink>(loop_, settings_, listener, channels, cursor, fallback));
  return links_.back().get();
}

Connection* LoopLinks::long_poll(LinkListener* listener, const std::vector<std::string>& channels,
                                 const std::string& cursor, bool fallback) {
  links_.push_back(
      std::make_unique<PollLink>(loop_, settings_, listener, channels, cursor, fallback));
  return links_.back().get();
}

Connection* LoopLinks::exchange(std::string path, std::string body, HttpExchange::Done done) {
  links_.push_back(std::make_unique<HttpExchange>(loop_, exchange_settings_, std::move(path),
                                                  std::move(body), std::move(done)));
  return links_.back().get();
}

void LoopLinks::collect(const Connection* keep_a, const Connection* keep_b) {
  for (size_t i = 0; i < links_.size();) {
    Connection* link = links_[i].get();
    if (link->ended() && link != keep_a && link != keep_b) {
      links_[i] = std::move(links_.back());
      links_.pop_back();
    } else {
      ++i;
    }
  }
}

void LoopLinks::abandon_all() {
  for (auto& link : links_) link->abandon();
}

}  // namespace rthub::client
