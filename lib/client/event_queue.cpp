#include "client/event_queue.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>

namespace rthub::client {

EventQueue::EventQueue(size_t high_water) : high_water_(high_water ? high_water : 1) {
  fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

EventQueue::~EventQueue() {
  if (fd_ >= 0) ::close(fd_);
}

// The counter is 1 while events wait and 0 otherwise; both sides change it under lock_, so the
// descriptor's readability always matches the queue.
void EventQueue::signal_locked() {
  if (fd_ < 0) return;
  uint64_t one = 1;
  while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void EventQueue::clear_signal_locked() {
  if (fd_ < 0) return;
  uint64_t value;
  while (::read(fd_, &value, sizeof value) < 0 && errno == EINTR) {
  }
}

bool EventQueue::push(ClientEvent event) {
  std::lock_guard<std::mutex> guard(lock_);
  if (events_.empty()) signal_locked();
  events_.push_back(std::move(event));
  if (events_.size() > high_water_) was_over_ = true;
  ready_.notify_one();
  return events_.size() <= high_water_;
}

bool EventQueue::pop(ClientEvent& out, int timeout_ms) {
  std::function<void()> hook;
  {
    std::unique_lock<std::mutex> guard(lock_);
    auto has_event = [this] { return !events_.empty() || closed_; };
    if (timeout_ms < 0) {
      ready_.wait(guard, has_event);
    } else if (!ready_.wait_for(guard, std::chrono::milliseconds(timeout_ms), has_event)) {
      return false;
    }
    if (events_.empty()) return false;
    out = std::move(events_.front());
    events_.pop_front();
    if (events_.empty()) clear_signal_locked();
    if (was_over_ && events_.size() <= high_water_ / 2) {
      was_over_ = false;
      hook = drained_;
    }
  }
  if (hook) hook();
  return true;
}

void EventQueue::close() {
  std::lock_guard<std::mutex> guard(lock_);
  closed_ = true;
  ready_.notify_all();
}

void EventQueue::set_drained_hook(std::function<void()> hook) {
  std::lock_guard<std::mutex> guard(lock_);
  drained_ = std::move(hook);
}

bool EventQueue::over_bound() const {
  std::lock_guard<std::mutex> guard(lock_);
  return events_.size() > high_water_ || was_over_;
}

size_t EventQueue::size() const {
  std::lock_guard<std::mutex> guard(lock_);
  return events_.size();
}

}  // namespace rthub::client
