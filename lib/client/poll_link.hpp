// poll_link.hpp: long-polling the hub's /poll as one connection: a chain of GET requests, each
// held by the hub until it has something (or its poll timeout passes), each answer giving the
// cursor the next request continues from. To the connection strategy it looks like any link: it
// opens (the first answer's headers), brings objects, and ends exactly once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "client/link.hpp"

namespace rthub::client {

// One GET /poll: the answer's status and body, reported through the LinkListener calls
// (on_open: 200 with a JSON body follows; on_text: the whole body; on_end: always, last).
class PollRequest final : public Link {
 public:
  PollRequest(ClientLoop& loop, const LinkSettings& settings, LinkListener* listener,
              std::string path)
      : Link(loop, settings, listener), path_(std::move(path)) {}
  bool completed() const { return completed_; }

  // An answer larger than this is refused (the hub sends at most 1 MiB per answer, plus one
  // message that alone is larger).
  static constexpr size_t kMaxAnswer = 8u << 20;

 protected:
  const char* method() const override { return "GET"; }
  std::string path() const override { return path_; }
  int on_callback(enum lws_callback_reasons reason, void* in, size_t len) override;

 private:
  std::string path_;
  int status_ = 0;
  bool completed_ = false;
  std::string body_;
};

class PollLink final : public Connection, private LinkListener {
 public:
  // `cursor` is where the first poll continues ("" for none); `fallback` marks the first poll as
  // replacing an event stream that could not be used (the hub counts those).
  PollLink(ClientLoop& loop, const LinkSettings& settings, LinkListener* listener,
           std::vector<std::string> channels, std::string cursor, bool fallback);
  ~PollLink() override;

  bool connect() override;
  void abandon() override;
  void fail(LinkEnd end) override;
  void set_reading(bool enable) override;
  void send(std::string text) override { (void)text; }
  bool is_open() const override { return opened_ && !ended_; }
  bool ended() const override { return ended_; }

 private:
  void poll_again();
  void on_open(Connection& request) override;
  void on_text(Connection& request, std::string_view body) override;
  void on_activity(Connection& request) override { (void)request; }
  void on_end(Connection& request, const LinkEnd& end) override;

  ClientLoop& loop_;
  LinkSettings settings_;
  LinkListener* listener_;
  std::vector<std::string> channels_;
  std::string cursor_;
  bool fallback_;
  bool opened_ = false, ended_ = false, reading_ = true, poll_due_ = false;
  // The request under way, and the one before it: a request that ended is freed only once the
  // next one has ended too, never inside its own callback.
  std::unique_ptr<PollRequest> request_, retired_;
};

}  // namespace rthub::client
