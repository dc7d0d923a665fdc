// transport.hpp: the seam between the hub and the ways clients connect.
//
// A transport (WebSocket, SSE, or a host's own socket layer) accepts connections and turns each
// into a Session. It reports what happens on the connection to the hub's SessionHost, and the hub
// queues encoded frames on the session; the transport writes them when its socket is writable.
//
// Threads: sessions and the SessionHost live on the hub's service thread. A transport calls the
// host only from that thread, and the host calls the session only from that thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rthub/auth.hpp"
#include "rthub/message.hpp"

namespace rthub {

// WebSocket close codes of the protocol; SSE sessions end the stream instead.
enum class CloseCode : uint16_t {
  kNormal = 1000,
  kGoingAway = 1001,
  kUnsupportedData = 1003,
  kInvalidPayload = 1007,
  kPolicy = 1008,
  kTooBig = 1009,
  kInternal = 1011,
  kSlowConsumer = 1013,
  // Never sent: the connection is dropped without a closing handshake (a peer found dead).
  kAbnormal = 1006,
};

// One item of a session's outbound queue: a shared frame, and for channel messages, the
// subscription slot and seq it moves the session's cursor to.
struct Outbound {
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  Frame frame;
  int64_t published_us = 0;  // monotonic publish time of a channel message, else 0
  uint32_t slot = kNoSlot;
  uint64_t seq = 0;
};

// A FIFO that allocates nothing until used. Drained, it keeps its storage (a busy session drains
// on every write), until shrink() gives it back: the hub does that for empty queues once a second,
// so that idle sessions stay small.
template <typename T>
class OutboundRing {
 public:
  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  T& front() { return items_[head_]; }
  void push(T item) {
    if (count_ == items_.size()) grow();
    items_[(head_ + count_) & (items_.size() - 1)] = std::move(item);
    ++count_;
  }
  void pop() {
    items_[head_] = T{};
    head_ = (head_ + 1) & (items_.size() - 1);
    if (--count_ == 0) head_ = 0;
  }
  // Frees the storage of an empty queue bigger than a few items.
  void shrink() {
    if (count_ == 0 && items_.size() > kKeep) std::vector<T>().swap(items_);
  }
  void clear() {
    std::vector<T>().swap(items_);
    head_ = count_ = 0;
  }

 private:
  static constexpr size_t kKeep = 16;
  void grow() {
    std::vector<T> bigger(items_.empty() ? 4 : items_.size() * 2);
    for (size_t i = 0; i < count_; ++i)
      bigger[i] = std::move(items_[(head_ + i) & (items_.size() - 1)]);
    items_.swap(bigger);
    head_ = 0;
  }
  std::vector<T> items_;
  size_t head_ = 0;
  size_t count_ = 0;
};

// One connected client, as the hub sees it. Transports derive from it.
class Session {
 public:
  // The channel positions a session has been sent, one per subscription slot; an SSE stream's
  // cursor is made from them.
  struct Cursor {
    std::string channel;  // empty when the slot is free
    std::string epoch;
    uint64_t seq = 0;
  };

  Session(WireFormat format, std::string peer) : format_(format), peer_(std::move(peer)) {}
  virtual ~Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  WireFormat format() const { return format_; }
  const std::string& peer() const { return peer_; }

  // Asks the transport for a writable callback. Must not call back into the hub.
  virtual void want_write() = 0;
  // Closes the connection with `code` (WebSocket) or ends the stream (SSE). Queued items not yet
  // written are discarded. Must not call back into the hub synchronously.
  virtual void close(CloseCode code, std::string_view reason) = 0;

  // Queue bookkeeping, used by the hub and the transport on the service thread.
  OutboundRing<Outbound>& queue() { return queue_; }
  size_t queued_bytes() const { return queued_bytes_; }
  void add_queued_bytes(size_t n) { queued_bytes_ += n; }
  // The transport reports each item it wrote (whole) so that the bound and the cursor follow.
  void note_written(const Outbound& item) {
    queued_bytes_ -= item.frame->size();
    if (replay_allowance_ > queued_bytes_) replay_allowance_ = queued_bytes_;
    if (item.slot != Outbound::kNoSlot && item.slot < cursors_.size())
      cursors_[item.slot].seq = item.seq;
  }
  // Replayed history may exceed the live bound once; it is already in memory and shared.
  size_t replay_allowance() const { return replay_allowance_; }
  void add_replay_allowance(size_t n) { replay_allowance_ += n; }

  std::vector<Cursor>& cursors() { return cursors_; }
  const std::vector<Cursor>& cursors() const { return cursors_; }

  bool closing() const { return closing_; }
  // Set once the session asked to resume, so a reconnect is counted once.
  bool resumed = false;
  void set_closing() { closing_ = true; }

  // What this connection may do; null means anonymous.
  std::shared_ptr<const Rights> rights;

  // When the last byte was queued, for heartbeats (monotonic ms).
  int64_t last_queued_ms = 0;
  // When the peer was last heard from (monotonic ms): transports that can probe a silent peer
  // (WebSocket pings) update it on every input, and the hub drops peers silent too long.
  int64_t last_heard_ms = 0;
  int64_t last_probe_ms = 0;
  // Unique per hub, set by attach(): asynchronous answers find their session by it.
  uint64_t id = 0;
  // Free for the hub's use: index in its session table.
  size_t host_index = SIZE_MAX;

 private:
  WireFormat format_;
  std::string peer_;
  OutboundRing<Outbound> queue_;
  size_t queued_bytes_ = 0;
  size_t replay_allowance_ = 0;
  std::vector<Cursor> cursors_;
  bool closing_ = false;
};

// The hub as a transport sees it. Every call on the service thread.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  // A connection was accepted; the session lives until detach().
  virtual void attach(Session& session) = 0;
  // The connection is gone; the host forgets the session before this returns.
  virtual void detach(Session& session) = 0;
  // One client->server JSON object (a WebSocket text message).
  virtual void on_request(Session& session, std::string_view text) = 0;
  // A stream of `channels` opened with an optional resume cursor (SSE). The host queues the
  // stream's `subscribed` objects, then replayed and live messages. With `snapshot`, a channel
  // the cursor does not recover gets its keyed snapshot before its live messages.
  virtual void open_stream(Session& session, const std::vector<std::string>& channels,
                           std::string_view cursor, bool snapshot = false) = 0;
  // Bytes and items the transport wrote, for metrics; `now_us` monotonic.
  virtual void on_written(Session& session, const Outbound& item, int64_t now_us) = 0;
};

}  // namespace rthub
