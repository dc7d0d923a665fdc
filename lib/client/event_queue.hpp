// event_queue.hpp: events waiting for a host that polls (rthub_client_next_event) instead of
// taking callbacks on the client's thread.
//
// A file descriptor (an eventfd) is readable exactly while events wait, so that a host can fold
// the client into its own poll/epoll/select loop. The queue has a soft bound: past it, the
// client stops reading from the hub until the host has taken half of the backlog (the hub
// holds, or drops the connection as a slow consumer and the client resumes from its position),
// so a host that stops polling never makes the client grow without limit.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include "rthub/client.hpp"

namespace rthub::client {

class EventQueue {
 public:
  explicit EventQueue(size_t high_water);
  ~EventQueue();
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // The readable-while-not-empty descriptor, or -1 when it could not be created.
  int fd() const { return fd_; }

  // Adds an event (client thread). Returns true while the queue is at or under its bound.
  bool push(ClientEvent event);
  // Takes the oldest event, waiting up to `timeout_ms` (negative: forever). False on timeout or
  // once closed and empty.
  bool pop(ClientEvent& out, int timeout_ms);
  // Wakes every waiter; pop() then fails once the queue is empty.
  void close();

  // Runs (from pop, on the polling thread) when the queue has drained to half its bound after
  // having been over it: the client may read again.
  void set_drained_hook(std::function<void()> hook);
  bool over_bound() const;
  size_t size() const;

 private:
  void signal_locked();
  void clear_signal_locked();

  mutable std::mutex lock_;
  std::condition_variable ready_;
  std::deque<ClientEvent> events_;
  size_t high_water_;
  bool was_over_ = false;
  bool closed_ = false;
  int fd_ = -1;
  std::function<void()> drained_;
};

}  // namespace rthub::client
