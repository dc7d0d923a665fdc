// link.hpp: one connection to the hub (a WebSocket, an SSE stream or a publish request) as the
// client sees it: it opens, brings server objects, and ends exactly once.
//
// A Link owns its lws connection through the connection's opaque user data. Everything runs on
// the client's thread. The listener must not delete a Link from inside one of its calls; ended
// and abandoned Links are freed by their owner between loop rounds.
#pragma once

#include <libwebsockets.h>

#include <functional>
#include <string>
#include <string_view>

#include "client/client_loop.hpp"
#include "client/endpoint.hpp"

namespace rthub::client {

// How a connection ended.
struct LinkEnd {
  bool opened = false;        // the handshake had completed (101, or 200 with an event stream)
  bool request_sent = false;  // TCP (and TLS) were up and the request went out
  bool timed_out = false;     // no answer to the request within the handshake timeout
  int http_status = 0;        // the response status, when one arrived
  std::string reason;         // for humans
  std::string body;           // the start of an error response's body
};

// A connection as the client's connection strategy sees it. Link implements it over lws; unit
// tests implement it without sockets (tests/client/strategy_test.cpp).
class Connection {
 public:
  virtual ~Connection() = default;
  // Starts connecting. False when it failed at once; on_end has then been reported.
  virtual bool connect() = 0;
  // Lets go of the connection without reporting anything more; the connection is closed.
  virtual void abandon() = 0;
  // Ends the connection now with `end` (reported to the listener).
  virtual void fail(LinkEnd end) = 0;
  // Stops or resumes reading (flow control while the host catches up).
  virtual void set_reading(bool enable) = 0;
  // Sends one request (WebSocket only; other connections ignore it).
  virtual void send(std::string text) = 0;
  virtual bool is_open() const = 0;
  virtual bool ended() const = 0;
};

class LinkListener {
 public:
  virtual ~LinkListener() = default;
  virtual void on_open(Connection& link) = 0;
  // One complete server object (JSON text).
  virtual void on_text(Connection& link, std::string_view text) = 0;
  // Bytes arrived that carried no object (SSE comments, partial frames): the link is alive.
  virtual void on_activity(Connection& link) = 0;
  // Once per link; afterwards the link makes no more calls.
  virtual void on_end(Connection& link, const LinkEnd& end) = 0;
};

// What every link needs to connect.
struct LinkSettings {
  Endpoint endpoint;
  std::string token;  // Authorization: Bearer, when not empty
  bool insecure_skip_verify = false;
  int handshake_timeout_ms = 10000;  // 0: none (the connection strategy's watchdog decides)
  // Event streams: whether to ask for snapshots (`snapshot=1`), asked when a stream opens.
  std::function<bool()> stream_snapshots;
};

class Link : public Connection {
 public:
  Link(ClientLoop& loop, const LinkSettings& settings, LinkListener* listener);
  virtual ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  bool connect() override;
  void abandon() override;
  // Also closes the connection.
  void fail(LinkEnd end) override;
  void set_reading(bool enable) override;
  void send(std::string text) override { (void)text; }

  bool is_open() const override { return opened_ && !ended_; }
  bool ended() const override { return ended_; }

  // From the loop's dispatcher, for this link's connection.
  int on_lws(struct lws* wsi, enum lws_callback_reasons reason, void* in, size_t len);

 protected:
  // The request: method (nullptr for a WebSocket upgrade) and path.
  virtual const char* method() const = 0;
  virtual std::string path() const = 0;
  // Extra request headers, appended to the handshake. Non-zero when out of room.
  virtual int add_headers(unsigned char** p, unsigned char* end) {
    (void)p, (void)end;
    return 0;
  }
  // Everything lws reports that the base does not handle itself.
  virtual int on_callback(enum lws_callback_reasons reason, void* in, size_t len) = 0;
  // How the end is reported; by default to the listener.
  virtual void report_end(const LinkEnd& end);

  // The handshake completed: stops the handshake timer and tells the listener.
  void opened();
  // Ends the link (reporting it) because lws says the connection is gone.
  void finish(LinkEnd end);
  // A header of the response, or "".
  std::string response_header(enum lws_token_indexes token) const;
  int add_header(const char* name_with_colon, const std::string& value, unsigned char** p,
                 unsigned char* end);

  ClientLoop& loop_;
  LinkSettings settings_;
  LinkListener* listener_;
  struct lws* wsi_ = nullptr;
  bool opened_ = false;
  bool ended_ = false;
  bool request_sent_ = false;
  bool reading_ = true;

 private:
  void detach();
  Timer handshake_timer_;
  std::string path_storage_, host_storage_;
};

}  // namespace rthub::client
