// client_loop.hpp: the client's libwebsockets context, serviced by lws's own poll loop on the
// client's thread (one or two connections need no foreign event loop), its timers, and the
// cross-thread wake-up.
#pragma once

#include <libwebsockets.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace rthub::client {

// A one-shot timer on the loop (an lws "sorted usec list" entry). Not movable once started.
class Timer {
 public:
  Timer();
  ~Timer() { cancel(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)arms the timer to run `fn` on the loop's thread after `ms` milliseconds.
  void start(struct lws_context* context, int64_t ms, std::function<void()> fn);
  void cancel();
  bool armed() const { return armed_; }

 private:
  struct Node {
    lws_sorted_usec_list_t sul;  // first: the callback gets this address back
    Timer* owner;
  };
  static void fire(lws_sorted_usec_list_t* sul);

  Node node_;
  std::function<void()> fn_;
  bool armed_ = false;
};

class ClientLoop {
 public:
  struct Settings {
    bool tls = false;     // set up client TLS (https:// hubs)
    std::string ca_file;  // extra PEM CAs, besides the system store
  };

  ClientLoop() = default;
  ~ClientLoop() { close(); }
  ClientLoop(const ClientLoop&) = delete;
  ClientLoop& operator=(const ClientLoop&) = delete;

  // Creates the context. False (with `error`) when lws cannot set it up.
  bool open(const Settings& settings, std::string& error);
  // Destroys the context: every connection still open is closed.
  void close();
  struct lws_context* context() const {
    return context_;
  }
  // Runs one round of the loop (blocks until some activity, a timer or a wake()).
  void service();
  // Wakes the loop from any thread; `on_wake` then runs on the loop's thread.
  void wake();
  std::function<void()> on_wake;

  // The name connections bind to, for lws_client_connect_info.local_protocol_name.
  static const char* protocol_name();

 private:
  std::mutex wake_lock_;  // guards context_ against wake() during close()
  struct lws_context* context_ = nullptr;
  std::string ca_file_;
};

}  // namespace rthub::client
