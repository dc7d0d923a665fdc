// transport.hpp: the seam between the hub and the ways clients connect.
//
// A transport (WebSocket, SSE, long-polling, or a host's own socket layer) accepts connections
// and turns each into a Session of its TransportKind, which tells the hub the transport's name
// (metrics, stats) and how it frames the server->client JSON objects. It reports what happens on
// the connection to the hub's SessionHost, and the hub queues encoded frames on the session; the
// transport writes them when its socket is writable. A transport reaches the hub only through
// SessionHost.
//
// Threads: sessions and the SessionHost live on the hub's service thread. A transport calls the
// host only from that thread, and the host calls the session only from that thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
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

// What the hub knows of a transport. One static instance per transport; the hub encodes each
// message's JSON once, then asks each kind in use for its bytes once, and every session of that
// kind shares them.
class TransportKind {
 public:
  // Registers the kind under `name` ("ws", "sse", "poll"): at most kMaxTransports kinds per
  // process, each constructed once. Throws std::logic_error past the limit.
  explicit TransportKind(std::string name);
  virtual ~TransportKind() = default;
  TransportKind(const TransportKind&) = delete;
  TransportKind& operator=(const TransportKind&) = delete;

  const std::string& name() const { return name_; }
  // Dense index (0 .. registered_count()-1) for per-transport arrays.
  size_t index() const { return index_; }

  // The bytes that carry one JSON object on this transport.
  virtual std::string frame(std::string_view json) const = 0;
  // True when frame() returns the JSON unchanged: the hub then shares the JSON itself.
  virtual bool frame_is_json() const { return false; }
  // Whether an error object can reach the client inside the session; false for a stream that
  // can only end (the hub ends it instead).
  virtual bool carries_errors() const { return true; }
  // Whether a keyed snapshot goes in parts of at most max_message_bytes (else as one object).
  virtual bool splits_snapshots() const { return false; }
  // Whether an idle session gets {"op":"ping"} heartbeats.
  virtual bool heartbeats() const { return true; }
  // A frame the peer answers by itself (a WebSocket ping), to find dead peers; null: none, and
  // the hub never drops the session for silence.
  virtual Frame probe_frame() const { return nullptr; }

  // The registered kinds, by index.
  static size_t registered_count();
  static const TransportKind* registered(size_t index);
  static const TransportKind* find(std::string_view name);

 private:
  std::string name_;
  size_t index_;
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
// on every write), until shrink() or clear() gives it back: the hub does that for empty queues
// once a second (clear() when nothing was queued since the last time), so that idle sessions stay
// small.
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
    std::vector<T> bigger(items_.empty() ? 1 : items_.size() * 2);  // most queues hold one item
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

  Session(const TransportKind& kind, std::string peer) : kind_(&kind), peer_(std::move(peer)) {}
  virtual ~Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const TransportKind& kind() const { return *kind_; }
  const std::string& peer() const { return peer_; }

  // Asks the transport for a writable callback. Must not call back into the hub.
  virtual void want_write() = 0;
  // Closes the connection with `code` (WebSocket) or ends the stream (SSE, long-poll). Queued items
  // not yet written are discarded. Must not call back into the hub synchronously.
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
  const TransportKind* kind_;
  std::string peer_;
  OutboundRing<Outbound> queue_;
  size_t queued_bytes_ = 0;
  size_t replay_allowance_ = 0;
  std::vector<Cursor> cursors_;
  bool closing_ = false;
};

// Where a stream resumes: each channel's position (a channel missing here resumes with
// recovered:false). Without `resuming`, the stream starts at the latest, with no `recovered`.
struct StreamResume {
  bool resuming = false;
  std::unordered_map<std::string, Position> positions;
};

// The hub's answer to a new connection.
struct Admission {
  int status = 0;  // 0: admitted; else the HTTP status to refuse with (401, 403, 429, 503)
  std::string reason;
  std::shared_ptr<const Rights> rights;  // null: anonymous
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
  // A stream of `channels` (SSE, long-polling), maybe resuming. The host queues the stream's
  // `subscribed` objects, then replayed and live messages. With `snapshot`, a channel the resume
  // does not recover gets its keyed snapshot before its live messages.
  virtual void open_stream(Session& session, const std::vector<std::string>& channels,
                           const StreamResume& resume, bool snapshot = false) = 0;
  // Bytes and items the transport wrote, for metrics; `now_us` monotonic.
  virtual void on_written(Session& session, const Outbound& item, int64_t now_us) = 0;

  // Whether a new connection may open (Origin, limits, rate, token, host hook), before attach().
  virtual Admission admit(const ConnectRequest& request) = 0;
  // Checks that `session` may subscribe to every channel of a stream; `done(true, {})` when all
  // may, `done(false, channel)` at the first refused one. `done` runs on the service thread,
  // maybe later: it finds its session again by id (find_session), which may be gone.
  virtual void authorize_stream(Session& session, const std::vector<std::string>& channels,
                                std::function<void(bool, const std::string&)> done) = 0;
  // The attached session with this id, or null.
  virtual Session* find_session(uint64_t id) const = 0;
  // Whether keyed snapshots can be served (the broker keeps keyed messages).
  virtual bool keeps_keys() const = 0;
  // Counts a connection the client opened as a fallback from another transport (?fallback=1).
  virtual void note_fallback(const TransportKind& kind) = 0;
};

}  // namespace rthub
