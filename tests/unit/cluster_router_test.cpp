// ClusterRouter's error paths, against a scripted node on the test's own libuv loop (a real
// cluster is in integration.cluster_router): every outcome is a clear result, never a hang.
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/redis/cluster/cluster_router.hpp"

using namespace rthub::cluster;

namespace {

// A TCP server that reads RESP commands (with hiredis' reader) and answers each with the RESP
// text answer(command) returns.
class ScriptedNode {
 public:
  using Answer = std::function<std::string(const std::vector<std::string>& command)>;

  ScriptedNode(uv_loop_t* loop, Answer answer) : loop_(loop), answer_(std::move(answer)) {
    uv_tcp_init(loop_, &server_);
    server_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    REQUIRE(uv_tcp_bind(&server_, reinterpret_cast<sockaddr*>(&addr), 0) == 0);
    int size = sizeof(addr);
    uv_tcp_getsockname(&server_, reinterpret_cast<sockaddr*>(&addr), &size);
    port = ntohs(addr.sin_port);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 8, on_connection) == 0);
  }
  void close() { uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr); }

  int port = 0;
  int commands = 0;

 private:
  struct Client {
    uv_tcp_t tcp;
    ScriptedNode* node;
    redisReader* reader;
  };

  static void on_connection(uv_stream_t* server, int status) {
    if (status < 0) return;
    auto* node = static_cast<ScriptedNode*>(server->data);
    auto* client = new Client{{}, node, redisReaderCreate()};
    uv_tcp_init(node->loop_, &client->tcp);
    client->tcp.data = client;
    uv_accept(server, reinterpret_cast<uv_stream_t*>(&client->tcp));
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&client->tcp),
        [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
          buf->base = new char[suggested];
          buf->len = suggested;
        },
        on_read);
  }

  static void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
    auto* client = static_cast<Client*>(stream->data);
    if (n > 0) redisReaderFeed(client->reader, buf->base, static_cast<size_t>(n));
    delete[] buf->base;
    if (n < 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(stream), [](uv_handle_t* h) {
        auto* c = static_cast<Client*>(h->data);
        redisReaderFree(c->reader);
        delete c;
      });
      return;
    }
    void* parsed = nullptr;
    while (redisReaderGetReply(client->reader, &parsed) == REDIS_OK && parsed) {
      auto* r = static_cast<redisReply*>(parsed);
      std::vector<std::string> command;
      for (size_t i = 0; i < r->elements; ++i)
        command.emplace_back(r->element[i]->str, r->element[i]->len);
      freeReplyObject(r);
      client->node->commands++;
      auto* text = new std::string(client->node->answer_(command));
      auto* req = new uv_write_t;
      req->data = text;
      uv_buf_t out = uv_buf_init(&(*text)[0], static_cast<unsigned>(text->size()));
      uv_write(req, stream, &out, 1, [](uv_write_t* w, int) {
        delete static_cast<std::string*>(w->data);
        delete w;
      });
    }
  }

  uv_loop_t* loop_;
  Answer answer_;
  uv_tcp_t server_;
};

// CLUSTER SLOTS: all 16384 slots on 127.0.0.1:port.
std::string all_slots_on(int port) {
  std::string host = "127.0.0.1";
  return "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$" + std::to_string(host.size()) + "\r\n" + host +
         "\r\n:" + std::to_string(port) + "\r\n";
}

int closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t size = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size);
  close(fd);
  return ntohs(addr.sin_port);
}

struct Outcome {
  std::optional<CommandResult::Status> status;
  std::string error;
  std::string reply;
};

ClusterRouter::Done record(Outcome& out) {
  return [&out](const CommandResult& r) {
    out.status = r.status;
    out.error = r.error;
    if (r.reply && r.reply->str) out.reply.assign(r.reply->str, r.reply->len);
  };
}

// Runs the loop until done() or a guard far above what the router promises (each case below
// completes within one connect timeout, 300 ms here, or within a few round trips).
template <typename Done>
void run_until(uv_loop_t* loop, Done done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
}

RouterOptions options_for(std::vector<NodeAddress> seeds) {
  RouterOptions options;
  options.seeds = std::move(seeds);
  options.connect_timeout_ms = 300;
  return options;
}

void finish_loop(uv_loop_t* loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(loop) == 0);
}

}  // namespace

TEST_CASE("ClusterRouter: no seed answers, a waiting command fails as unavailable") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    ClusterRouter router(&loop,
                         options_for({{"127.0.0.1", closed_port()}, {"127.0.0.1", closed_port()}}));
    Outcome out;
    router.command("k", {"GET", "k"}, record(out));
    run_until(&loop, [&] { return out.status.has_value(); });
    REQUIRE(out.status);
    CHECK(*out.status == CommandResult::Status::kUnavailable);
    CHECK(out.error.find("CLUSTER SLOTS") != std::string::npos);
    CHECK(router.stats().failed_discoveries >= 1);
    CHECK_FALSE(router.ready());
  }
  finish_loop(&loop);
}

TEST_CASE("ClusterRouter: a node that redirects to itself ends in kRedirectLoop") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::unique_ptr<ScriptedNode> node;
  node.reset(new ScriptedNode(&loop, [&node](const std::vector<std::string>& c) -> std::string {
    if (!c.empty() && c[0] == "CLUSTER") return all_slots_on(node->port);
    return "-MOVED 3999 127.0.0.1:" + std::to_string(node->port) + "\r\n";
  }));
  {
    ClusterRouter router(&loop, options_for({{"127.0.0.1", node->port}}));
    Outcome out;
    router.command("k", {"GET", "k"}, record(out));
    run_until(&loop, [&] { return out.status.has_value(); });
    REQUIRE(out.status);
    CHECK(*out.status == CommandResult::Status::kRedirectLoop);
    CHECK(out.error.find("MOVED 3999") != std::string::npos);
    CHECK(router.stats().moved == 5);  // followed: max_redirects; the sixth ends it
  }
  node->close();
  finish_loop(&loop);
}

TEST_CASE("ClusterRouter: CLUSTERDOWN is unavailable, other errors are the node's reply") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::unique_ptr<ScriptedNode> node;
  node.reset(new ScriptedNode(&loop, [&node](const std::vector<std::string>& c) -> std::string {
    if (!c.empty() && c[0] == "CLUSTER") return all_slots_on(node->port);
    if (c.size() > 1 && c[1] == "down") return "-CLUSTERDOWN The cluster is down\r\n";
    if (c.size() > 1 && c[1] == "odd") return "-MOVED nonsense\r\n";  // not a redirection
    return "$2\r\nok\r\n";
  }));
  {
    ClusterRouter router(&loop, options_for({{"127.0.0.1", node->port}}));
    Outcome down, odd, fine;
    router.command("down", {"GET", "down"}, record(down));
    router.command("odd", {"GET", "odd"}, record(odd));
    router.command("fine", {"GET", "fine"}, record(fine));
    run_until(&loop, [&] { return down.status && odd.status && fine.status; });
    REQUIRE(down.status);
    CHECK(*down.status == CommandResult::Status::kUnavailable);
    CHECK(down.error.find("CLUSTERDOWN") != std::string::npos);
    REQUIRE(odd.status);
    CHECK(*odd.status == CommandResult::Status::kReply);
    CHECK(odd.reply == "MOVED nonsense");
    REQUIRE(fine.status);
    CHECK(*fine.status == CommandResult::Status::kReply);
    CHECK(fine.reply == "ok");
    CHECK(router.ready());
  }
  node->close();
  finish_loop(&loop);
}

TEST_CASE("ClusterRouter: no arguments, and commands after stop, get a result without a send") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    ClusterRouter router(&loop, options_for({{"127.0.0.1", closed_port()}}));
    Outcome empty;
    router.command("k", {}, record(empty));
    CHECK_FALSE(empty.status);  // never from inside the call
    run_until(&loop, [&] { return empty.status.has_value(); });
    REQUIRE(empty.status);
    CHECK(*empty.status == CommandResult::Status::kInvalid);

    Outcome waiting, late;
    router.command("k", {"GET", "k"}, record(waiting));
    router.stop();
    REQUIRE(waiting.status);
    CHECK(*waiting.status == CommandResult::Status::kStopped);
    router.command("k", {"GET", "k"}, record(late));
    REQUIRE(late.status);
    CHECK(*late.status == CommandResult::Status::kStopped);
  }
  finish_loop(&loop);
}
