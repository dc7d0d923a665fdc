// clock.hpp: time as the client's connection strategy sees it: a monotonic "now" and one-shot
// alarms on the client's thread. The client runs on its lws loop (LoopClock, loop_links.hpp);
// unit tests drive a manual clock, so that backoff, fallback and the watchdog are tested in
// microseconds instead of seconds.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace rthub::client {

class Alarm {
 public:
  virtual ~Alarm() = default;
  // (Re)arms the alarm: `fn` runs on the client's thread after `ms` milliseconds.
  virtual void start(int64_t ms, std::function<void()> fn) = 0;
  virtual void cancel() = 0;
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() const = 0;
  virtual std::unique_ptr<Alarm> alarm() = 0;
};

}  // namespace rthub::client
