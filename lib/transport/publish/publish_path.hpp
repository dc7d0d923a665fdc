// publish_path.hpp: where a shard's accepted plain-text connections go. A connection whose first
// bytes start `POST /publish` is served by the hub itself (PublishConnection); every other one,
// and one whose first bytes have not come within a second, goes straight to libwebsockets with
// nothing read (the bytes are only peeked at). TLS connections never come here (LwsServer hands
// them to libwebsockets directly).
#pragma once

#include <libwebsockets.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace rthub {

class PublishConnection;
class SocketBatch;
struct ServerContext;

class PublishPath {
 public:
  PublishPath(uv_loop_t* loop, struct lws_vhost* vhost, ServerContext& server);
  ~PublishPath();  // closes every connection still here
  PublishPath(const PublishPath&) = delete;
  PublishPath& operator=(const PublishPath&) = delete;

  // A connection the listener accepted (non-blocking), not yet read.
  void take(int fd);
  // Writes the answers completed since the last call (the end of each loop iteration), as sends
  // of `sends`: they are written when it runs.
  void flush(SocketBatch& sends);
  // Housekeeping: hands undecided connections to libwebsockets after a second, closes stalled
  // and idle publish connections.
  void tick(int64_t now_ms);
  // Closes every connection here (the hub stops).
  void close_all();

  // For PublishConnection.
  ServerContext& server() { return server_; }
  void want_flush(PublishConnection* connection) { to_flush_.push_back(connection); }
  // Closes and deletes the connection.
  void drop(PublishConnection* connection);
  // Deletes the connection and gives its socket, unread, to libwebsockets.
  void hand_over(PublishConnection* connection, int fd);

 private:
  struct Undecided {
    PublishPath* path;
    int fd;
    uv_poll_t* poll;
    int64_t since_ms;
  };
  static void on_first_bytes(uv_poll_t* poll, int status, int events);
  enum class Choice { kWait, kHub, kLws };
  // Peeks at the first bytes: kWait while none have come.
  Choice choose(int fd);
  void place(int fd, Choice choice);
  void forget(Undecided* undecided, bool close_fd);
  void adopt(int fd);

  uv_loop_t* loop_;
  struct lws_vhost* vhost_;
  ServerContext& server_;
  std::unordered_map<Undecided*, std::unique_ptr<Undecided>> undecided_;
  std::unordered_map<PublishConnection*, std::unique_ptr<PublishConnection>> connections_;
  std::vector<PublishConnection*> to_flush_;
};

}  // namespace rthub
