// publish_connection.hpp: a connection whose requests the hub reads itself, for as long as they
// are POST /publish (publish_head.hpp): keep-alive and pipelining, answers in request order, one
// send() for all the answers ready at once, and no change of the socket's poll events while
// requests and answers flow. libwebsockets' HTTP path costs a publish six epoll_ctl calls and an
// extra loop pass (docs/BENCHMARKS.md); this one costs a peek and a recv, and its answers go out
// with the flush pass's batch of sends (socket_batch.hpp), all those ready together in one.
//
// Bytes are peeked at and taken from the socket only once they are known to be such a publish:
// the first request that is not one stays in the socket, and once every earlier answer is
// written the connection goes to libwebsockets (PublishPath::hand_over), which reads it as on a
// new connection and serves it from then on. (libwebsockets 4.1.6 can also adopt a socket with
// bytes already read, but it mishandles more than one request in them.)
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace rthub {

class PublishPath;
class SocketBatch;
struct PublishAnswer;
struct PublishHead;

class PublishConnection {
 public:
  // Takes `fd` (non-blocking), whose first bytes may start a publish; `peer` is its address.
  PublishConnection(PublishPath& path, uv_loop_t* loop, int fd, std::string peer);
  ~PublishConnection();
  PublishConnection(const PublishConnection&) = delete;
  PublishConnection& operator=(const PublishConnection&) = delete;

  // Reads what the socket holds now (called once at the start, then by the poll).
  void on_readable();
  // Writes the answers that are ready, in order, then hands over or closes if that is due (which
  // deletes this: touch nothing after it). With `sends` the write joins that batch, and all this
  // happens when the batch runs.
  void flush(SocketBatch* sends);
  // Housekeeping: false when the connection is to close (stalled or idle too long).
  bool still_wanted(int64_t now_ms) const;

 private:
  struct Answer {
    bool ready = false;
    std::string bytes;  // the whole HTTP answer, once ready
  };
  struct Alive {
    bool value = true;
  };
  static void on_poll(uv_poll_t* poll, int status, int events);
  static void on_timer(uv_timer_t* timer);
  static void on_sent(void* connection, ssize_t result, const unsigned char* data, size_t len);
  // After a write of out_ that took `result` bytes (or failed: -errno).
  void sent(ssize_t result);
  struct Parsed {
    size_t used = 0;            // bytes of the requests served, from the start of in_
    bool head_pending = false;  // what follows them is a head cut short that may be a publish
    bool body_pending = false;  // what follows them is a publish whose body is on its way
  };
  // Serves the whole requests in in_, up to one for libwebsockets or the pending limit.
  Parsed parse();
  void serve(const PublishHead& head, std::string body);
  std::string format(const PublishAnswer& answer, const std::string& origin, bool close) const;
  void update_poll();
  int release_fd();
  void finish();

  PublishPath& path_;
  int fd_;
  std::string peer_;
  uv_poll_t* poll_;
  uv_timer_t* timer_;  // looks at a head cut short again
  int poll_events_ = 0;
  uint64_t repeek_ms_ = 1;
  std::shared_ptr<Alive> alive_ = std::make_shared<Alive>();
  std::string in_;     // a publish taken from the socket whose body is not all here yet
  std::string out_;    // answers being written
  size_t peeked_ = 0;  // bytes seen in the socket and left there
  std::deque<Answer> answers_;
  uint64_t first_answer_id_ = 0;  // the id of answers_.front()
  bool parsing_ = false;          // answers made ready meanwhile are written after the parse
  bool sending_ = false;          // out_ is in a SocketBatch: left unchanged until it runs
  bool hand_over_ = false;        // a request for libwebsockets waits in the socket
  bool last_request_ = false;     // a request said Connection: close
  bool peer_done_ = false;        // the peer ended its side
  bool head_pending_ = false;     // a head cut short waits in the socket
  int64_t last_progress_ms_;      // the last byte read or written
};

}  // namespace rthub
