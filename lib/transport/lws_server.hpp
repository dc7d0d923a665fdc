// lws_server.hpp: the service loop: one libwebsockets context on a libuv loop, serving the
// WebSocket, SSE and HTTP endpoints on one port. This header keeps libwebsockets out of its users.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "rthub/hub.hpp"

namespace rthub {

class HubCore;
struct Metrics;

class LwsServer {
 public:
  struct Hooks {
    std::function<void()> on_wake;       // cross-thread work is waiting (service thread)
    std::function<bool()> broker_ready;  // for /healthz
    std::function<void(std::string&)> broker_metrics;  // appended to /metrics
  };
  LwsServer(const HubOptions& options, HubCore& core, Metrics& metrics, Hooks hooks);
  ~LwsServer();

  // Creates the loop and binds the port. Call on the service thread; throws Error(kIo).
  // `joins_shards`: this is not the hub's first shard, and binds the port the first one bound.
  void open(bool joins_shards = false);
  // Serves until a stop completes. Service thread.
  void run();
  // Any thread: makes the service thread call hooks.on_wake soon. False once stopped.
  bool wake();
  // Service thread: close every connection (1001) and end run() once they are gone.
  void begin_stop();
  int port() const;
  // The libuv loop (uv_loop_t*), valid between open() and the end of run().
  void* loop() const;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace rthub
