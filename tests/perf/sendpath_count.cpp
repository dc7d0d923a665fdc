// sendpath_count.cpp: a fixed, repeatable workload for the hub's send path, meant to run under
// valgrind's callgrind (tests/perf/sendpath_guard.sh) so that instructions, not time, are counted.
//
// An in-memory Hub on 127.0.0.1 (port 0) and plain blocking WebSocket clients in two measured
// phases, each dumped on its own (callgrind dumps "fanout" then "solo"):
//   fanout: K clients subscribed to one channel, M publishes through Hub::publish;
//   solo:   one more client alone on a second channel, M publishes to it.
// Publishes go one at a time: every subscriber reads its delivery before the next publish, so
// no two messages are ever coalesced into one write and the hub does the same work every run.
// fanout/(K*M) is the cost per delivery; solo/M is what one message costs apart from the fan-out
// (checks, hand-over to the service thread, broker, encoding, one write), which fanout alone
// would dilute K times.
//
// Statistics are zeroed after the setup and a warm-up (lazy symbol binding, first allocations
// and table growth are not the send path). Which code counts is chosen by the guard's
// --toggle-collect options (the hub's service thread and Hub::publish), so that the clients'
// own reads here are not counted. Outside valgrind the CALLGRIND_* requests do nothing and this
// is an ordinary smoke test.
//
// Usage: rthub-sendpath-count [clients [messages]]   (defaults 50 and 200)
// Exit status 0 when every client got every message in order.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "rthub/hub.hpp"

namespace {

constexpr int kWarmup = 5;             // publishes before the counters are zeroed
constexpr int kSocketTimeoutSec = 30;  // a hung hub fails the run instead of hanging CI
const char kChannel[] = "bench";       // the K clients' channel
const char kSoloChannel[] = "solo";    // the single client's channel
// A typical small payload; its size is fixed so every frame has the same length class.
const char kData[] = R"({"id":"p1","x":12.5,"y":-3.25,"label":"sendpath"})";

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "sendpath_count: %s\n", what.c_str());
  std::exit(1);
}

// One WebSocket client on a blocking socket, with a small buffer so that bytes read past a
// frame (or past the handshake) are kept for the next read.
class Client {
 public:
  explicit Client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) fail("socket failed");
    struct timeval tv = {kSocketTimeoutSec, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr;
    std::memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0)
      fail("connect failed");
    std::string request =
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    send_all(request);
    // The answer's headers end at the first blank line; anything after it is already a frame.
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) fill();
    if (buf_.compare(0, 12, "HTTP/1.1 101") != 0)
      fail("no 101 answer: " + buf_.substr(0, buf_.find("\r\n")));
    buf_.erase(0, end + 4);
  }
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one text frame. Client frames must be masked (RFC 6455 5.3); a fixed key keeps runs
  // equal.
  void send_text(const std::string& payload) {
    static const unsigned char kMask[4] = {0x12, 0x34, 0x56, 0x78};
    std::string frame;
    frame.push_back(static_cast<char>(0x81));  // FIN + text
    if (payload.size() < 126) {
      frame.push_back(static_cast<char>(0x80 | payload.size()));
    } else {  // requests here are short; 16-bit lengths are enough
      frame.push_back(static_cast<char>(0x80 | 126));
      frame.push_back(static_cast<char>(payload.size() >> 8));
      frame.push_back(static_cast<char>(payload.size() & 0xff));
    }
    frame.append(reinterpret_cast<const char*>(kMask), 4);
    for (size_t i = 0; i < payload.size(); ++i)
      frame.push_back(static_cast<char>(payload[i] ^ kMask[i % 4]));
    send_all(frame);
  }

  // Reads the next text frame's payload; control frames (ping) are skipped. Server frames are
  // unmasked.
  std::string read_text() {
    for (;;) {
      need(2);
      unsigned char b0 = static_cast<unsigned char>(buf_[0]),
                    b1 = static_cast<unsigned char>(buf_[1]);
      if (b1 & 0x80) fail("server frame is masked");
      size_t header = 2;
      uint64_t len = b1 & 0x7f;
      if (len == 126) {
        need(4);
        len = (static_cast<uint64_t>(static_cast<unsigned char>(buf_[2])) << 8) |
              static_cast<unsigned char>(buf_[3]);
        header = 4;
      } else if (len == 127) {
        need(10);
        len = 0;
        for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<unsigned char>(buf_[i]);
        header = 10;
      }
      need(header + len);
      std::string payload = buf_.substr(header, len);
      buf_.erase(0, header + len);
      int opcode = b0 & 0x0f;
      if (opcode == 0x1) return payload;
      if (opcode == 0x8)
        fail("server closed the connection: " + payload.substr(payload.size() > 2 ? 2 : 0));
    }
  }

 private:
  void send_all(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) fail("send failed");
      sent += static_cast<size_t>(n);
    }
  }
  void fill() {
    char chunk[4096];
    ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) fail(n == 0 ? "hub closed the connection" : "recv failed or timed out");
    buf_.append(chunk, static_cast<size_t>(n));
  }
  void need(size_t bytes) {
    while (buf_.size() < bytes) fill();
  }

  int fd_ = -1;
  std::string buf_;
};

// Publishes message `seq` (1-based, counting the warm-up) on `channel` and has every client read
// it.
void publish_and_drain(rthub::Hub& hub, const char* channel, std::vector<Client*>& clients,
                       int seq) {
  rthub::Position p = hub.publish(channel, "bench.update", kData);
  if (p.seq != static_cast<uint64_t>(seq))
    fail("publish got seq " + std::to_string(p.seq) + ", expected " + std::to_string(seq));
  const std::string want = "\"seq\":" + std::to_string(seq) + ",";
  for (Client* c : clients) {
    std::string text = c->read_text();
    if (text.find("\"op\":\"message\"") == std::string::npos ||
        text.find(want) == std::string::npos)
      fail("unexpected delivery for seq " + std::to_string(seq) + ": " + text);
  }
}

int parse_count(const char* arg, const char* what) {
  char* end = nullptr;
  long v = std::strtol(arg, &end, 10);
  if (!end || *end || v < 1 || v > 100000) fail(std::string("bad ") + what + ": " + arg);
  return static_cast<int>(v);
}

}  // namespace

int main(int argc, char** argv) {
  int clients_n = argc > 1 ? parse_count(argv[1], "client count") : 50;
  int messages_n = argc > 2 ? parse_count(argv[2], "message count") : 200;

  rthub::HubOptions options;
  options.listen_host = "127.0.0.1";
  options.port = 0;
  // No heartbeats or protocol pings during the run: under valgrind it lasts many seconds, and
  // a ping would add work that depends on elapsed time.
  options.heartbeat_seconds = 3600;
  rthub::Hub hub(options);
  try {
    hub.start();
  } catch (const std::exception& e) {
    fail(std::string("hub did not start: ") + e.what());
  }

  {
    std::vector<std::unique_ptr<Client>> owned;
    std::vector<Client*> clients, solo;
    for (int i = 0; i < clients_n; ++i) {
      owned.emplace_back(new Client(hub.port()));
      clients.push_back(owned.back().get());
    }
    owned.emplace_back(new Client(hub.port()));
    solo.push_back(owned.back().get());
    auto subscribe = [](Client* c, const char* channel) {
      c->send_text(std::string(R"({"op":"subscribe","channel":")") + channel + R"(","id":1})");
      std::string answer = c->read_text();
      if (answer.find("\"op\":\"subscribed\"") == std::string::npos)
        fail("subscribe answered: " + answer);
    };
    for (Client* c : clients) subscribe(c, kChannel);
    subscribe(solo[0], kSoloChannel);
    int seq = 0, solo_seq = 0;
    for (int i = 0; i < kWarmup; ++i) {
      publish_and_drain(hub, kChannel, clients, ++seq);
      publish_and_drain(hub, kSoloChannel, solo, ++solo_seq);
    }

    // The measured phases. Each dump holds only its own phase (a dump zeroes the counters).
    CALLGRIND_ZERO_STATS;
    for (int i = 0; i < messages_n; ++i) publish_and_drain(hub, kChannel, clients, ++seq);
    CALLGRIND_DUMP_STATS_AT("fanout");
    for (int i = 0; i < messages_n; ++i) publish_and_drain(hub, kSoloChannel, solo, ++solo_seq);
    CALLGRIND_DUMP_STATS_AT("solo");

    // The service thread adds its deliveries to the stats right after the write that a client
    // may already have read: allow it that moment.
    uint64_t want =
        static_cast<uint64_t>(clients_n + 1) * static_cast<uint64_t>(kWarmup + messages_n);
    rthub::HubStats stats = hub.stats();
    for (int wait = 0; wait < 200 && stats.deliveries < want; ++wait) {
      usleep(10 * 1000);
      stats = hub.stats();
    }
    if (stats.deliveries < want)
      fail("hub counted " + std::to_string(stats.deliveries) + " deliveries, expected " +
           std::to_string(want));
    // Clients leave first (plain TCP close), so that stop() has no sessions to wait for.
  }
  hub.stop();
  std::printf("sendpath: clients=%d messages=%d warmup=%d\n", clients_n, messages_n, kWarmup);
  return 0;
}
