// rthub-bench: a load generator for rthub (and, with --target nchan, for nginx + nchan).
//
// N subscribers over WebSocket or SSE, spread over source addresses 127.0.0.x, held by one or more
// epoll threads; publishers POST over pipelined keep-alive HTTP/1.1 connections at a fixed rate,
// as fast as the hub takes them, or on a rising ramp. Each payload carries its send time
// (CLOCK_MONOTONIC ns: bench and hub share the machine), so a subscriber's latency is its
// receive time minus that stamp, kept in a log-linear histogram. See README.md beside this file.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "histogram.hpp"
#include "hub_metrics.hpp"
#include "transport/socket_batch.hpp"
#include "wire.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

using namespace bench;

namespace {

enum class Target { kRthub, kNchan };
enum class Transport { kWs, kSse };

struct Options {
  std::string url = "http://127.0.0.1:8080";
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string publish_url;  // where the publishers POST (default: url)
  std::string publish_host = "127.0.0.1";
  int publish_port = 8080;
  std::string start_file;  // once connected, wait until this file exists before publishing
  Target target = Target::kRthub;
  Transport transport = Transport::kWs;
  int subscribers = 100;
  int channels = 1;
  double rate = 10;  // messages/s over all channels; 0 = as fast as the hub takes them
  double duration = 10;
  double warmup = 2;
  int payload = 64;
  bool idle = false;
  double settle = 2;  // --idle: seconds between the last connect and the memory sample
  bool json = false;
  double stall_fraction = 0;
  int stall_rcvbuf = 4096;
  double stall_drain = 3;  // seconds spent reading the stalled subscribers at the end
  int hub_pid = 0;
  int threads = 1;
  int publishers = 4;
  int pipeline = 1;  // requests in flight per publisher connection
  int batch = 1;     // messages per POST /publish (an array when more than one; rthub only)
  int connect_concurrency = 256;
  double connect_timeout = 120;
  int per_ip = 50000;
  std::string prefix;
  std::string label;
  bool ramp = false;
  double ramp_factor = 1.5;
  double ramp_p99_ms = 100;
  int ramp_max_steps = 16;
  double ramp_settle = 1;
  double ramp_max_rate = 1e7;
  double ramp_min_delivered = 0.9;
  int ramp_patience = 2;  // consecutive failing steps that end a ramp
};

const char* target_name(Target t) {
  return t == Target::kRthub ? "rthub" : "nchan";
}
const char* transport_name(Transport t) {
  return t == Transport::kWs ? "ws" : "sse";
}

// ---------------------------------------------------------------------------------------------
// Shared state between the main thread (phases, publishers) and the subscriber threads.

std::atomic<int> g_step{-1};      // index of the step being measured, -1 when none
std::atomic<bool> g_stop{false};  // subscriber threads end
std::atomic<bool> g_connect_abort{false};
std::atomic<bool> g_drain_stalled{false};  // stalled subscribers start reading again
volatile sig_atomic_t g_interrupted = 0;

std::string channel_name(const Options& o, int c) {
  return o.prefix + "-" + std::to_string(c);
}

// A loopback source address for connection i: 127.0.0.(1 + i / per_ip), so that each source
// address holds at most per_ip of the ephemeral ports.
in_addr source_address(int i, int per_ip) {
  int host = 1 + (per_ip > 0 ? i / per_ip : 0);
  if (host > 254) host = 1 + host % 254;
  in_addr a;
  a.s_addr = htonl((127u << 24) | static_cast<uint32_t>(host));
  return a;
}

// Nonblocking connect from `src` to `dst`; returns the fd (connect in progress) or -1.
int start_connect(const sockaddr_in& dst, in_addr src, int rcvbuf, int& err) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_addr = src;
  s.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&s), sizeof s) != 0) {
    err = errno;
    close(fd);
    return -1;
  }
  if (connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0 &&
      errno != EINPROGRESS) {
    err = errno;
    close(fd);
    return -1;
  }
  return fd;
}

void abortive_close(int fd) {
  linger l{1, 0};  // RST: no TIME_WAIT pile-up between runs
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

// ---------------------------------------------------------------------------------------------
// Subscribers.

enum SubState : uint8_t { kIdle, kConnecting, kHandshake, kSubscribing, kReady, kClosed };

struct Sub {
  int fd = -1;
  uint32_t index = 0;
  uint32_t channel = 0;
  SubState state = kIdle;
  bool stalled = false;
  bool draining =
      false;  // a stalled subscriber read again at the end, to see whether the hub dropped it
  bool sse = false;
  bool chunked = false;
  uint8_t chunk_state = 0;  // 0 size line, 1 extension, 2 data, 3 CRLF after data
  uint64_t chunk_left = 0;
  std::string in;    // unparsed bytes (WebSocket) or de-chunked unparsed event text (SSE)
  std::string out;   // bytes waiting for the socket
  std::string frag;  // a fragmented WebSocket message
};

struct Worker {
  const Options* o = nullptr;
  sockaddr_in dst{};
  int id = 0;
  int epfd = -1;
  std::vector<Sub> subs;
  std::vector<std::unique_ptr<Histogram>> hist;  // one per step
  // The readable subscribers of one epoll_wait are read together (rthub::SocketBatch: one system
  // call with io_uring), each into its own slot; the results are fed once all are in.
  static constexpr size_t kSlots = 256, kSlotBytes = 32 * 1024;
  struct Pending {
    Worker* worker;
    Sub* sub;
  };
  rthub::SocketBatch reads;
  std::vector<unsigned char> slots;
  std::vector<Pending> pending;
  Rng rng{1};
  size_t next = 0;
  int inflight = 0;
  int step = -1;
  uint64_t now = 0;
  bool drain_started = false;

  // counters (read by main only after the thread joined or acknowledged a step)
  std::atomic<uint64_t> connected{0}, failed{0}, closed{0}, stalled_closed{0}, slow_closes{0},
      protocol_errors{0}, messages{0};
  std::atomic<uint64_t> stalled_closed_before_drain{0};
  std::atomic<int> seen_step{-1};
  std::atomic<bool> connect_done{false};
  std::string first_error;

  void note_error(const std::string& e) {
    if (first_error.empty()) first_error = e;
  }

  void run();
  void begin_connect(Sub& s);
  void on_event(Sub& s, uint32_t events);
  void on_connected(Sub& s);
  void feed(Sub& s, char* p, size_t n);
  void feed_body(Sub& s, char* p, size_t n);
  size_t parse_ws(Sub& s, unsigned char* p, size_t n);
  void parse_sse(Sub& s);
  void on_message(Sub& s, const char* p, size_t n);
  void ready(Sub& s);
  void fail(Sub& s, const char* why);
  void drop(Sub& s, const char* why);
  void send_out(Sub& s);
  void read_later(Sub& s);
  void read_now();
  static void on_read(void* pending, ssize_t result, const unsigned char* data, size_t len);
  void want(Sub& s, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = s.index;
    epoll_ctl(epfd, EPOLL_CTL_MOD, s.fd, &ev);
  }
  Sub& sub_at(uint64_t local) { return subs[local]; }
};

void Worker::begin_connect(Sub& s) {
  int err = 0;
  int fd =
      start_connect(dst, source_address(static_cast<int>(s.index * o->threads + id), o->per_ip),
                    s.stalled ? o->stall_rcvbuf : 0, err);
  if (fd < 0) {
    failed++;
    s.state = kClosed;
    note_error(std::string("connect: ") + std::strerror(err));
    return;
  }
  s.fd = fd;
  s.state = kConnecting;
  inflight++;
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLIN;
  ev.data.u64 = s.index;
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

void Worker::fail(Sub& s, const char* why) {
  note_error(why);
  failed++;
  inflight--;
  if (s.fd >= 0) abortive_close(s.fd);
  s.fd = -1;
  s.state = kClosed;
  std::string().swap(s.in);
  std::string().swap(s.out);
}

// A subscriber that was connected and subscribed lost its connection.
void Worker::drop(Sub& s, const char* why) {
  if (s.state != kReady) return fail(s, why);
  if (s.stalled) {
    stalled_closed++;
  } else {
    closed++;
    note_error(why);
  }
  if (s.fd >= 0) close(s.fd);
  s.fd = -1;
  s.state = kClosed;
  std::string().swap(s.in);
  std::string().swap(s.out);
  std::string().swap(s.frag);
}

void Worker::ready(Sub& s) {
  s.state = kReady;
  connected++;
  inflight--;
  if (s.stalled) {
    // Stop reading: only errors and hangups are reported from now on.
    epoll_event ev{};
    ev.events = 0;
    ev.data.u64 = s.index;
    epoll_ctl(epfd, EPOLL_CTL_MOD, s.fd, &ev);
  }
}

void Worker::send_out(Sub& s) {
  while (!s.out.empty()) {
    ssize_t n = send(s.fd, s.out.data(), s.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      s.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      want(s, EPOLLIN | EPOLLOUT);
      return;
    }
    return drop(s, "send failed");
  }
  if (s.state != kConnecting && !(s.state == kReady && s.stalled && !s.draining)) want(s, EPOLLIN);
}

void Worker::on_connected(Sub& s) {
  const std::string ch = channel_name(*o, static_cast<int>(s.channel));
  const std::string host = o->host + ":" + std::to_string(o->port);
  std::string path;
  if (o->target == Target::kNchan) {
    path = "/sub?id=" + ch;
  } else {
    path = o->transport == Transport::kWs ? "/ws" : "/events?channel=" + ch;
  }
  std::string& r = s.out;
  r = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n";
  if (o->transport == Transport::kWs) {
    unsigned char key[16];
    for (int i = 0; i < 16; i += 8) {
      uint64_t v = rng.next();
      std::memcpy(key + i, &v, 8);
    }
    r += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: "
         "13\r\nSec-WebSocket-Key: " +
         base64(key, 16) + "\r\n\r\n";
  } else {
    r += "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
  }
  s.state = kHandshake;
  send_out(s);
}

void Worker::on_event(Sub& s, uint32_t events) {
  if (s.state == kClosed || s.fd < 0) return;
  if (s.state == kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) return fail(s, (std::string("connect: ") + std::strerror(err)).c_str());
    if (!(events & (EPOLLOUT | EPOLLIN))) return;
    return on_connected(s);
  }
  if (s.state == kReady && s.stalled && !s.draining) {
    if (events & (EPOLLERR | EPOLLHUP)) drop(s, "stalled subscriber closed");
    return;
  }
  if ((events & EPOLLOUT) && !s.out.empty()) {
    send_out(s);
    if (s.state == kClosed) return;
  }
  if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
  read_later(s);  // one read per wakeup: what a slot cannot hold makes the socket ready again
}

void Worker::read_later(Sub& s) {
  if (pending.size() == kSlots) read_now();
  unsigned char* slot = slots.data() + pending.size() * kSlotBytes;
  pending.push_back(Pending{this, &s});
  reads.add_receive(s.fd, slot, kSlotBytes, &Worker::on_read, &pending.back());
}

void Worker::read_now() {
  reads.run();
  pending.clear();
}

void Worker::on_read(void* pending, ssize_t result, const unsigned char* data, size_t) {
  Worker& w = *static_cast<Pending*>(pending)->worker;
  Sub& s = *static_cast<Pending*>(pending)->sub;
  if (s.state == kClosed || s.fd < 0) return;
  if (result > 0) {
    w.now = now_ns();
    return w.feed(s, reinterpret_cast<char*>(const_cast<unsigned char*>(data)),
                  static_cast<size_t>(result));
  }
  if (result == 0) return w.drop(s, "connection closed by the hub");
  if (result == -EAGAIN || result == -EWOULDBLOCK || result == -EINTR) return;
  w.drop(s, (std::string("recv: ") + std::strerror(static_cast<int>(-result))).c_str());
}

void Worker::feed(Sub& s, char* p, size_t n) {
  if (s.state == kHandshake) {
    s.in.append(p, n);
    size_t end = http_head_end(s.in.data(), s.in.size());
    if (!end) {
      if (s.in.size() > 16384) fail(s, "response head too long");
      return;
    }
    std::string_view head(s.in.data(), end);
    int status = http_status(head);
    bool ws = o->transport == Transport::kWs;
    if ((ws && status != 101) || (!ws && status != 200)) {
      char why[96];
      std::snprintf(why, sizeof why, "handshake answered HTTP %d", status);
      return fail(s, why);
    }
    s.sse = !ws;
    s.chunked = !ws && contains_nocase(http_header(head, "Transfer-Encoding"), "chunked");
    std::string rest = s.in.substr(end);
    s.in.clear();
    if (o->target == Target::kRthub) {
      s.state = kSubscribing;
      if (ws) {
        std::string msg = "{\"op\":\"subscribe\",\"channel\":\"" +
                          channel_name(*o, static_cast<int>(s.channel)) + "\",\"id\":1}";
        ws_client_frame(s.out, kOpText, msg, rng);
        send_out(s);
        if (s.state == kClosed) return;
      }
    } else {
      ready(s);  // nchan says nothing on subscribe: the upgrade or the 200 is the subscription
    }
    if (!rest.empty()) feed_body(s, rest.data(), rest.size());
    return;
  }
  feed_body(s, p, n);
}

void Worker::feed_body(Sub& s, char* p, size_t n) {
  if (!s.sse) {
    if (s.in.empty()) {
      size_t used = parse_ws(s, reinterpret_cast<unsigned char*>(p), n);
      if (s.state != kClosed && used < n) s.in.assign(p + used, n - used);
    } else {
      s.in.append(p, n);
      size_t used = parse_ws(s, reinterpret_cast<unsigned char*>(s.in.data()), s.in.size());
      if (s.state != kClosed) s.in.erase(0, used);
    }
    return;
  }
  if (!s.chunked) {
    s.in.append(p, n);
  } else {
    // Transfer-Encoding: chunked, decoded as it streams.
    size_t i = 0;
    while (i < n) {
      switch (s.chunk_state) {
        case 0: {
          char c = p[i++];
          if (std::isxdigit(static_cast<unsigned char>(c))) {
            s.chunk_left = s.chunk_left * 16 +
                           static_cast<uint64_t>(std::isdigit(static_cast<unsigned char>(c))
                                                     ? c - '0'
                                                     : (std::tolower(c) - 'a' + 10));
          } else if (c == '\n') {
            if (s.chunk_left == 0) return drop(s, "event stream ended");
            s.chunk_state = 2;
          } else if (c != '\r') {
            s.chunk_state = 1;
          }
          break;
        }
        case 1:
          if (p[i++] == '\n') {
            if (s.chunk_left == 0) return drop(s, "event stream ended");
            s.chunk_state = 2;
          }
          break;
        case 2: {
          size_t take = static_cast<size_t>(std::min<uint64_t>(s.chunk_left, n - i));
          s.in.append(p + i, take);
          i += take;
          s.chunk_left -= take;
          if (s.chunk_left == 0) s.chunk_state = 3;
          break;
        }
        case 3:
          if (p[i++] == '\n') s.chunk_state = 0;
          break;
      }
    }
  }
  parse_sse(s);
}

// Events end at a blank line; an event's text is handed whole to on_message, which only looks
// for markers in it (`"op":"subscribed"`, `"bt":`).
void Worker::parse_sse(Sub& s) {
  size_t start = 0;
  while (s.state != kClosed) {
    size_t end = s.in.find("\n\n", start);
    size_t skip = 2;
    size_t crlf = s.in.find("\r\n\r\n", start);
    if (crlf != std::string::npos && (end == std::string::npos || crlf < end)) end = crlf, skip = 4;
    if (end == std::string::npos) break;
    on_message(s, s.in.data() + start, end - start);
    start = end + skip;
  }
  if (s.state != kClosed && start) s.in.erase(0, start);
}

size_t Worker::parse_ws(Sub& s, unsigned char* p, size_t n) {
  size_t off = 0;
  while (off < n && s.state != kClosed) {
    WsFrame f;
    int r = ws_parse(p + off, n - off, f);
    if (r == 0) break;
    if (r < 0) {
      protocol_errors++;
      drop(s, "malformed WebSocket frame");
      return off;
    }
    unsigned char* payload = p + off + f.header;
    size_t len = static_cast<size_t>(f.length);
    if (f.masked) ws_unmask(payload, len, f.mask);
    off += f.header + len;
    switch (f.opcode) {
      case kOpText:
      case kOpBinary:
        if (f.fin)
          on_message(s, reinterpret_cast<char*>(payload), len);
        else
          s.frag.assign(reinterpret_cast<char*>(payload), len);
        break;
      case kOpCont:
        s.frag.append(reinterpret_cast<char*>(payload), len);
        if (f.fin) {
          on_message(s, s.frag.data(), s.frag.size());
          s.frag.clear();
        }
        break;
      case kOpPing:
        ws_client_frame(s.out, kOpPong, std::string_view(reinterpret_cast<char*>(payload), len),
                        rng);
        send_out(s);
        break;
      case kOpPong:
        break;
      case kOpClose: {
        int code = len >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        if (code == 1013 && !s.stalled) slow_closes++;
        char why[64];
        std::snprintf(why, sizeof why, "closed by the hub with %d", code);
        drop(s, why);
        return off;
      }
      default:
        protocol_errors++;
        drop(s, "unknown WebSocket opcode");
        return off;
    }
  }
  return off;
}

void Worker::on_message(Sub& s, const char* p, size_t n) {
  std::string_view m(p, n);
  if (s.state == kSubscribing) {
    if (m.find("\"op\":\"subscribed\"") != std::string_view::npos) return ready(s);
    if (m.find("\"op\":\"error\"") != std::string_view::npos)
      return fail(s, "subscribe answered with an error");
    return;
  }
  size_t at = m.find("\"bt\":");
  if (at == std::string_view::npos || s.draining) return;  // subscribed, ping and the like
  uint64_t t = 0;
  for (size_t i = at + 5; i < n && p[i] >= '0' && p[i] <= '9'; ++i)
    t = t * 10 + static_cast<uint64_t>(p[i] - '0');
  messages.fetch_add(1, std::memory_order_relaxed);
  if (step >= 0) hist[static_cast<size_t>(step)]->add(now > t ? now - t : 0);
}

void Worker::run() {
  std::vector<epoll_event> events(1024);
  while (!g_stop.load(std::memory_order_acquire)) {
    step = g_step.load(std::memory_order_acquire);
    if (g_connect_abort.load(std::memory_order_relaxed) &&
        !connect_done.load(std::memory_order_relaxed)) {
      for (auto& s : subs)
        if (s.state != kReady && s.state != kClosed && s.state != kIdle)
          fail(s, "connect timed out");
      for (; next < subs.size(); ++next) failed++;
    }
    if (!drain_started && g_drain_stalled.load(std::memory_order_acquire)) {
      drain_started = true;
      stalled_closed_before_drain.store(stalled_closed.load());
      for (auto& s : subs)
        if (s.state == kReady && s.stalled) {
          s.draining = true;
          want(s, EPOLLIN);
        }
    }
    while (next < subs.size() && inflight < o->connect_concurrency) begin_connect(subs[next++]);
    if (next == subs.size() && inflight == 0 && !connect_done.load(std::memory_order_relaxed))
      connect_done.store(true, std::memory_order_release);
    int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), 20);
    for (int i = 0; i < n; ++i)
      on_event(sub_at(events[static_cast<size_t>(i)].data.u64),
               events[static_cast<size_t>(i)].events);
    read_now();
    seen_step.store(step, std::memory_order_release);
  }
  for (auto& s : subs)
    if (s.fd >= 0) abortive_close(s.fd);
}

// ---------------------------------------------------------------------------------------------
// Publishers: keep-alive HTTP/1.1 connections with up to `pipeline` requests in flight each.

struct PubConn {
  int fd = -1;
  bool connecting = false;
  std::string out;
  std::string in;
  int inflight = 0;
};

class Publisher {
 public:
  explicit Publisher(const Options& o, const sockaddr_in& dst) : o_(o), dst_(dst) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    conns_.resize(static_cast<size_t>(std::max(1, o.publishers)));
    for (size_t i = 0; i < conns_.size(); ++i) open(i);
    // The data object: {"bt":<ns>,"pad":"xxx"} padded to --payload bytes (with a 16 digit stamp).
    int fixed = static_cast<int>(std::strlen("{\"bt\":1234567890123456,\"pad\":\"\"}"));
    pad_.assign(static_cast<size_t>(std::max(0, o.payload - fixed)), 'x');
  }
  ~Publisher() {
    for (auto& c : conns_)
      if (c.fd >= 0) abortive_close(c.fd);
    close(epfd_);
  }

  uint64_t sent = 0, ok = 0, refused = 0, lost = 0, reconnects = 0;  // messages (a batch counts K)
  std::string first_error;

  // Publishes for `seconds` at `rate` msgs/s (0: as fast as the pipelines allow).
  void run_for(double seconds, double rate) {
    uint64_t start = now_ns();
    uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);
    uint64_t last = start;
    double credit = rate > 0 ? 1.0 : 0.0;  // the first message goes at once
    const double batch = o_.batch;
    double burst = std::max(static_cast<double>(conns_.size()) * o_.pipeline * batch, rate * 0.01);
    std::vector<epoll_event> events(64);
    for (;;) {
      uint64_t now = now_ns();
      if (now >= end || g_interrupted) break;
      if (rate > 0) {
        credit += rate * static_cast<double>(now - last) / 1e9;
        if (credit > burst) credit = burst;
      }
      last = now;
      while (rate <= 0 || credit >= batch) {
        PubConn* c = pick();
        if (!c) break;
        enqueue(*c);
        if (rate > 0) credit -= batch;
      }
      for (size_t i = 0; i < conns_.size(); ++i)
        if (!conns_[i].out.empty() && !conns_[i].connecting) flush(i);
      // At least 1 ms: a zero timeout below a millisecond's worth of credit made the publisher
      // spin (a whole core at 1,000 msg/s, taken from the subscribers it shares a CPU set with).
      // Waking once a millisecond, it sends what came due meanwhile; each message is stamped
      // when it is written, so the short bursts do not show as latency.
      int timeout = 1;
      if (rate > 0 && credit < batch) {
        double wait_ms = (batch - credit) / rate * 1000.0;
        timeout = static_cast<int>(std::ceil(std::min(std::max(wait_ms, 1.0), 5.0)));
      }
      int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), timeout);
      for (int i = 0; i < n; ++i)
        on_event(events[static_cast<size_t>(i)].data.u32, events[static_cast<size_t>(i)].events);
    }
  }

  // Waits (up to `seconds`) for answers to what is in flight.
  void drain(double seconds) {
    uint64_t end = now_ns() + static_cast<uint64_t>(seconds * 1e9);
    std::vector<epoll_event> events(64);
    while (now_ns() < end) {
      int inflight = 0;
      for (auto& c : conns_) inflight += c.inflight;
      if (!inflight) return;
      int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), 5);
      for (int i = 0; i < n; ++i)
        on_event(events[static_cast<size_t>(i)].data.u32, events[static_cast<size_t>(i)].events);
    }
  }

 private:
  void open(size_t i) {
    PubConn& c = conns_[i];
    int err = 0;
    c.fd = start_connect(dst_, source_address(0, o_.per_ip), 0, err);
    c.out.clear();
    c.in.clear();
    c.inflight = 0;
    if (c.fd < 0) {
      if (first_error.empty())
        first_error = std::string("publisher connect: ") + std::strerror(err);
      c.connecting = false;
      return;
    }
    c.connecting = true;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev);
  }

  void reopen(size_t i, const char* why) {
    PubConn& c = conns_[i];
    lost += static_cast<uint64_t>(c.inflight) * per_request();
    reconnects++;
    if (first_error.empty() && c.inflight) first_error = why;
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    open(i);
  }

  // Messages per request (the counters count messages, not requests).
  uint64_t per_request() const {
    return static_cast<uint64_t>(o_.target == Target::kNchan ? 1 : o_.batch);
  }

  PubConn* pick() {
    for (size_t k = 0; k < conns_.size(); ++k) {
      size_t i = (rr_ + k) % conns_.size();
      PubConn& c = conns_[i];
      if (c.fd >= 0 && !c.connecting && c.inflight < o_.pipeline) {
        rr_ = i + 1;
        return &c;
      }
    }
    return nullptr;
  }

  // One request: a message, or with --batch K an array of K messages for the next K channels.
  void enqueue(PubConn& c) {
    auto next_channel = [&] {
      return channel_name(o_,
                          static_cast<int>(next_channel_++ % static_cast<uint64_t>(o_.channels)));
    };
    auto data = [&] {
      return "{\"bt\":" + std::to_string(now_ns()) + ",\"pad\":\"" + pad_ + "\"}";
    };
    std::string body, path;
    if (o_.target == Target::kNchan) {
      path = "/pub?id=" + next_channel();
      body = data();
    } else {
      path = "/publish";
      for (int k = 0; k < o_.batch; ++k) {
        body += k ? "," : (o_.batch > 1 ? "[" : "");
        body += "{\"channel\":\"" + next_channel() + "\",\"data\":" + data() + "}";
      }
      if (o_.batch > 1) body += "]";
    }
    c.out +=
        "POST " + path + " HTTP/1.1\r\nHost: " + o_.publish_host + ":" +
        std::to_string(o_.publish_port) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n";
    c.out += body;
    c.inflight++;
    sent += per_request();
  }

  void flush(size_t i) {
    PubConn& c = conns_[i];
    while (!c.out.empty()) {
      ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return reopen(i, "publisher send failed");
    }
    epoll_event ev{};
    ev.events = EPOLLIN | (c.out.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void on_event(uint32_t i, uint32_t events) {
    PubConn& c = conns_[i];
    if (c.fd < 0) return;
    if (c.connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) return reopen(i, "publisher connect failed");
      c.connecting = false;
      flush(i);
      return;
    }
    if ((events & EPOLLOUT) && !c.out.empty()) flush(i);
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    char buf[65536];
    for (;;) {
      ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (!parse(i)) return;
        if (static_cast<size_t>(n) < sizeof buf) return;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      return reopen(i, "publisher connection closed by the hub");
    }
  }

  // Consumes complete responses; false when the connection was reopened.
  bool parse(size_t i) {
    PubConn& c = conns_[i];
    size_t off = 0;
    bool close_after = false;
    while (off < c.in.size()) {
      size_t end = http_head_end(c.in.data() + off, c.in.size() - off);
      if (!end) break;
      std::string_view head(c.in.data() + off, end);
      int status = http_status(head);
      size_t body_end;
      if (contains_nocase(http_header(head, "Transfer-Encoding"), "chunked")) {
        size_t z = c.in.find("\r\n0\r\n\r\n", off + end - 2);
        if (z == std::string::npos) break;
        body_end = z + 7;
      } else {
        std::string_view cl = http_header(head, "Content-Length");
        size_t len = cl.empty() ? 0 : std::strtoull(std::string(cl).c_str(), nullptr, 10);
        if (c.in.size() - off - end < len) break;
        body_end = off + end + len;
      }
      if (status >= 200 && status < 300) {
        ok += per_request();
      } else {
        refused += per_request();
        if (first_error.empty())
          first_error = "publish answered HTTP " + std::to_string(status) + ": " +
                        c.in.substr(off + end, std::min<size_t>(200, body_end - off - end));
      }
      if (contains_nocase(http_header(head, "Connection"), "close")) close_after = true;
      c.inflight--;
      off = body_end;
    }
    c.in.erase(0, off);
    if (close_after) {
      reopen(i, "publisher connection closed by the hub");
      return false;
    }
    return true;
  }

  const Options& o_;
  sockaddr_in dst_;
  int epfd_ = -1;
  std::vector<PubConn> conns_;
  size_t rr_ = 0;
  uint64_t next_channel_ = 0;
  std::string pad_;
};

// ---------------------------------------------------------------------------------------------
// The hub's process, from /proc.

struct ProcSample {
  bool ok = false;
  uint64_t rss_kb = 0;
  uint64_t cpu_ticks = 0;
  uint64_t t_ns = 0;
};

ProcSample sample_process(int pid) {
  ProcSample s;
  s.t_ns = now_ns();
  if (pid <= 0) return s;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) return s;
  char line[256];
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmRSS:", 6) == 0) s.rss_kb = std::strtoull(line + 6, nullptr, 10);
  std::fclose(f);
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  f = std::fopen(path, "r");
  if (!f) return s;
  char buf[2048];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  char* p = std::strrchr(buf, ')');
  if (!p) return s;
  // Fields after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime(14) stime(15)
  uint64_t values[13] = {0};
  char* cur = p + 2;
  for (int i = 0; i < 13 && cur && *cur; ++i) {
    values[i] = std::strtoull(cur, nullptr, 10);
    cur = std::strchr(cur, ' ');
    if (cur) ++cur;
  }
  s.cpu_ticks = values[11] + values[12];
  s.ok = true;
  return s;
}

double cpu_percent(const ProcSample& a, const ProcSample& b) {
  if (!a.ok || !b.ok || b.t_ns <= a.t_ns) return -1;
  double secs = static_cast<double>(b.t_ns - a.t_ns) / 1e9;
  return 100.0 * static_cast<double>(b.cpu_ticks - a.cpu_ticks) /
         static_cast<double>(sysconf(_SC_CLK_TCK)) / secs;
}

// The 1-minute load average: how busy the machine was besides this run.
double loadavg() {
  double v = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &v) != 1) v = -1;
    std::fclose(f);
  }
  return v;
}

double self_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// Options.

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout, R"(usage: rthub-bench [options]
  --url http://HOST:PORT     the hub (default http://127.0.0.1:8080)
  --publish-url URL          where the publishers POST (default --url; another node of the hub)
  --start-file PATH          once connected, print "N connected; waiting for PATH" on stderr and
                             publish only when PATH exists (several benches started together)
  --target rthub|nchan       rthub: /ws + subscribe, /events?channel=, POST /publish (default)
                             nchan: /sub?id=CH (WebSocket or EventSource), POST /pub?id=CH raw body
  --transport ws|sse         subscriber transport (default ws)
  --subscribers N            subscribers (default 100)
  --channels C               channels; subscriber i listens on channel i %% C (default 1)
  --rate R                   messages/s over all channels, round robin; 0 = as fast as the hub
                             takes them within the pipelines (default 10)
  --duration S               measured seconds (per ramp step; default 10)
  --warmup S                 publishing before measuring (default 2)
  --payload BYTES            size of the published data object (default 64)
  --idle                     connect, hold for --duration, measure memory; no publishing
  --settle S                 with --idle, wait before the memory sample (default 2)
  --stall-fraction F         this fraction of subscribers stops reading once subscribed
  --stall-rcvbuf BYTES       SO_RCVBUF of stalled subscribers (default 4096; 0 = kernel default)
  --stall-drain S            at the end, read the stalled subscribers for S seconds to see which
                             ones the hub dropped (default 3)
  --hub-pid PID              sample the hub's VmRSS and CPU time from /proc
  --threads T                subscriber threads (default 1)
  --publishers P             publisher connections (default 4)
  --pipeline K               requests in flight per publisher connection (default 1)
  --batch K                  messages per POST /publish, as one JSON array (rthub only;
                             default 1: one object per request)
  --connect-concurrency K    connects in progress per thread (default 256)
  --connect-timeout S        give up connecting after S seconds (default 120)
  --per-ip N                 connections per source address 127.0.0.x (default 50000)
  --prefix NAME              channel name prefix (default: unique per run)
  --ramp                     raise the rate from --rate by --ramp-factor per step until p99
                             passes --ramp-p99-ms or deliveries fall behind in --ramp-patience
                             consecutive steps; report the best passing step
  --ramp-factor F            (default 1.5)   --ramp-p99-ms MS (default 100)
  --ramp-max-steps N         (default 16)    --ramp-settle S  (default 1)
  --ramp-max-rate R          (default 1e7)
  --ramp-min-delivered F     a step passes only if delivered/expected >= F (default 0.9)
  --ramp-patience N          failing steps in a row that end the ramp (default 2; 1 = the first)
  --label TEXT               carried into the JSON line
  --json                     also print one JSON line with the results
)");
  std::exit(code);
}

Options parse_options(int argc, char** argv) {
  Options o;
  auto need = [&](int& i) -> const char* {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "rthub-bench: %s needs a value\n", argv[i]);
      usage(2);
    }
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h")
      usage(0);
    else if (a == "--url")
      o.url = need(i);
    else if (a == "--publish-url")
      o.publish_url = need(i);
    else if (a == "--start-file")
      o.start_file = need(i);
    else if (a == "--target") {
      std::string v = need(i);
      if (v == "rthub")
        o.target = Target::kRthub;
      else if (v == "nchan")
        o.target = Target::kNchan;
      else
        usage(2);
    } else if (a == "--transport") {
      std::string v = need(i);
      if (v == "ws")
        o.transport = Transport::kWs;
      else if (v == "sse")
        o.transport = Transport::kSse;
      else
        usage(2);
    } else if (a == "--subscribers")
      o.subscribers = std::atoi(need(i));
    else if (a == "--channels")
      o.channels = std::atoi(need(i));
    else if (a == "--rate")
      o.rate = std::atof(need(i));
    else if (a == "--duration")
      o.duration = std::atof(need(i));
    else if (a == "--warmup")
      o.warmup = std::atof(need(i));
    else if (a == "--payload")
      o.payload = std::atoi(need(i));
    else if (a == "--idle")
      o.idle = true;
    else if (a == "--settle")
      o.settle = std::atof(need(i));
    else if (a == "--json")
      o.json = true;
    else if (a == "--stall-fraction")
      o.stall_fraction = std::atof(need(i));
    else if (a == "--stall-rcvbuf")
      o.stall_rcvbuf = std::atoi(need(i));
    else if (a == "--stall-drain")
      o.stall_drain = std::atof(need(i));
    else if (a == "--hub-pid")
      o.hub_pid = std::atoi(need(i));
    else if (a == "--threads")
      o.threads = std::max(1, std::atoi(need(i)));
    else if (a == "--publishers")
      o.publishers = std::max(1, std::atoi(need(i)));
    else if (a == "--pipeline")
      o.pipeline = std::max(1, std::atoi(need(i)));
    else if (a == "--batch")
      o.batch = std::max(1, std::atoi(need(i)));
    else if (a == "--connect-concurrency")
      o.connect_concurrency = std::max(1, std::atoi(need(i)));
    else if (a == "--connect-timeout")
      o.connect_timeout = std::atof(need(i));
    else if (a == "--per-ip")
      o.per_ip = std::max(1, std::atoi(need(i)));
    else if (a == "--prefix")
      o.prefix = need(i);
    else if (a == "--label")
      o.label = need(i);
    else if (a == "--ramp")
      o.ramp = true;
    else if (a == "--ramp-factor")
      o.ramp_factor = std::atof(need(i));
    else if (a == "--ramp-p99-ms")
      o.ramp_p99_ms = std::atof(need(i));
    else if (a == "--ramp-max-steps")
      o.ramp_max_steps = std::max(1, std::atoi(need(i)));
    else if (a == "--ramp-settle")
      o.ramp_settle = std::atof(need(i));
    else if (a == "--ramp-max-rate")
      o.ramp_max_rate = std::atof(need(i));
    else if (a == "--ramp-min-delivered")
      o.ramp_min_delivered = std::atof(need(i));
    else if (a == "--ramp-patience")
      o.ramp_patience = std::max(1, std::atoi(need(i)));
    else {
      std::fprintf(stderr, "rthub-bench: unknown option %s\n", a.c_str());
      usage(2);
    }
  }
  // http://HOST:PORT[/...]
  auto split_url = [](std::string u, std::string& host, int& port) {
    if (u.rfind("http://", 0) == 0) u = u.substr(7);
    size_t slash = u.find('/');
    if (slash != std::string::npos) u = u.substr(0, slash);
    size_t colon = u.rfind(':');
    host = colon == std::string::npos ? u : u.substr(0, colon);
    port = colon == std::string::npos ? 80 : std::atoi(u.c_str() + colon + 1);
  };
  split_url(o.url, o.host, o.port);
  split_url(o.publish_url.empty() ? o.url : o.publish_url, o.publish_host, o.publish_port);
  if (o.subscribers < 0 || o.channels < 1 || o.payload < 0) usage(2);
  if (o.batch > 1 && o.target != Target::kRthub) {
    std::fprintf(
        stderr,
        "rthub-bench: --batch needs --target rthub (nchan publishes one message per request)\n");
    usage(2);
  }
  if (o.channels > std::max(1, o.subscribers)) o.channels = std::max(1, o.subscribers);
  if (o.prefix.empty()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "b%x%x", static_cast<unsigned>(getpid()),
                  static_cast<unsigned>(now_ns() & 0xffffff));
    o.prefix = buf;
  }
  if (o.ramp && o.rate <= 0) o.rate = 10;
  return o;
}

bool resolve(const std::string& host, int port, sockaddr_in& dst) {
  std::memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &dst.sin_addr) == 1) return true;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) return false;
  dst.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
  freeaddrinfo(res);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Report.

struct StepResult {
  double rate = 0;  // asked
  double seconds = 0;
  double pub_per_s = 0;  // sent
  double deliveries_per_s = 0;
  double delivered_ratio = 0;  // deliveries / (published x healthy subscribers per channel)
  uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  double hub_cpu = -1, bench_cpu = -1;
  uint64_t drops = 0;                   // healthy subscribers lost during the step
  double wall_start = 0, wall_end = 0;  // Unix time (s), to line steps up with other records
  bool pass = true;
  std::string latency;        // JSON: [upper edge ns, count, ...] of the step's non-empty buckets
  std::vector<HubDelta> hub;  // the hub's own breakdown (hub_breakdown_names()), when it has one
};

std::string ms(uint64_t ns) {
  char b[32];
  double v = static_cast<double>(ns) / 1e6;
  std::snprintf(b, sizeof b, v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f", v);
  return b;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out.push_back('\\'), out.push_back(c);
    else if (static_cast<unsigned char>(c) < 0x20)
      out += ' ';
    else
      out.push_back(c);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_options(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, [](int) { g_interrupted = 1; });

  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  uint64_t fd_need =
      static_cast<uint64_t>(o.subscribers) + static_cast<uint64_t>(o.publishers) + 32;
  if (rl.rlim_cur != RLIM_INFINITY && fd_need > rl.rlim_cur)
    std::fprintf(stderr,
                 "rthub-bench: warning: %d subscribers need ~%" PRIu64
                 " descriptors but RLIMIT_NOFILE is %" PRIu64
                 " (hard limit); the excess will fail to connect\n",
                 o.subscribers, fd_need, static_cast<uint64_t>(rl.rlim_cur));

  sockaddr_in dst, publish_dst;
  if (!resolve(o.host, o.port, dst) || !resolve(o.publish_host, o.publish_port, publish_dst)) {
    std::fprintf(stderr, "rthub-bench: cannot resolve %s or %s\n", o.host.c_str(),
                 o.publish_host.c_str());
    return 2;
  }

  // Subscribers, dealt round robin to the threads; stalled ones spread evenly.
  int steps_cap = (o.ramp ? o.ramp_max_steps : 1) + 1;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < o.threads; ++t) {
    auto w = std::make_unique<Worker>();
    w->o = &o;
    w->dst = dst;
    w->id = t;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->slots.resize(Worker::kSlots * Worker::kSlotBytes);
    w->pending.reserve(Worker::kSlots);  // on_read's owners: never moved
    w->rng = Rng(now_ns() ^ (static_cast<uint64_t>(t + 1) << 32));
    for (int k = 0; k < steps_cap; ++k) w->hist.push_back(std::make_unique<Histogram>());
    workers.push_back(std::move(w));
  }
  int stalled_total = 0;
  std::vector<int> healthy_per_channel(static_cast<size_t>(o.channels), 0);
  for (int i = 0; i < o.subscribers; ++i) {
    Worker& w = *workers[static_cast<size_t>(i % o.threads)];
    Sub s;
    s.index = static_cast<uint32_t>(w.subs.size());
    s.channel = static_cast<uint32_t>(i % o.channels);
    // Stalled ones evenly spaced in channel-major order, so that every channel gets its share.
    int per_channel = (o.subscribers + o.channels - 1) / o.channels;
    double j = static_cast<double>((i % o.channels) * per_channel + i / o.channels);
    s.stalled = o.stall_fraction > 0 &&
                std::floor((j + 1) * o.stall_fraction) > std::floor(j * o.stall_fraction);
    stalled_total += s.stalled;
    w.subs.push_back(std::move(s));
  }

  ProcSample hub_base = sample_process(o.hub_pid);
  double t_connect = now_s();
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  bool aborted = false;
  for (;;) {
    bool done = true;
    for (auto& w : workers) done = done && w->connect_done.load(std::memory_order_acquire);
    if (done) break;
    if (g_interrupted || now_s() - t_connect > o.connect_timeout) {
      if (!aborted) g_connect_abort = true, aborted = true;
    }
    usleep(5000);
  }
  double connect_secs = now_s() - t_connect;
  uint64_t connected = 0, connect_failed = 0;
  for (auto& w : workers) connected += w->connected, connect_failed += w->failed;
  // Healthy subscribers per channel (for the expected delivery count).
  int healthy = 0;
  for (auto& w : workers)
    for (auto& s : w->subs)
      if (s.state == kReady && !s.stalled) healthy_per_channel[s.channel]++, healthy++;
  double healthy_per_msg = static_cast<double>(healthy) / o.channels;

  ProcSample hub_connected = sample_process(o.hub_pid);
  std::vector<StepResult> steps;
  Publisher* pub = nullptr;
  std::unique_ptr<Publisher> pub_holder;
  ProcSample hub_settled = hub_connected;
  uint64_t total_published = 0;

  auto total_drops = [&] {
    uint64_t d = 0;
    for (auto& w : workers) d += w->closed;
    return d;
  };

  if (o.idle) {
    uint64_t settle_end = now_ns() + static_cast<uint64_t>(o.settle * 1e9);
    while (now_ns() < settle_end && !g_interrupted) usleep(20000);
    hub_settled = sample_process(o.hub_pid);
    uint64_t end = now_ns() + static_cast<uint64_t>(std::max(0.0, o.duration - o.settle) * 1e9);
    while (now_ns() < end && !g_interrupted) usleep(20000);
  } else if (connected > 0) {
    if (!o.start_file.empty()) {
      // Several benches (one per node) start publishing together, once every one has connected.
      std::fprintf(stderr, "rthub-bench: %" PRIu64 " connected; waiting for %s\n", connected,
                   o.start_file.c_str());
      while (access(o.start_file.c_str(), F_OK) != 0 && !g_interrupted) usleep(10000);
    }
    pub_holder = std::make_unique<Publisher>(o, publish_dst);
    pub = pub_holder.get();
    double rate = o.rate;
    int failing_in_a_row = 0;
    if (o.warmup > 0) pub->run_for(o.warmup, rate);
    for (int k = 0; k < steps_cap - 1 && !g_interrupted; ++k) {
      if (o.ramp && k > 0 && o.ramp_settle > 0) pub->run_for(o.ramp_settle, rate);
      StepResult r;
      r.rate = rate;
      uint64_t sent0 = pub->sent;
      uint64_t drops0 = total_drops();
      // The hub's histograms, read outside the CPU window (serving /metrics costs the hub too).
      std::vector<std::string> hub_names;
      for (const auto& n : hub_breakdown_names()) hub_names.push_back(n.first);
      const std::string host_port = o.host + ":" + std::to_string(o.port);
      HubSample m0 =
          o.target == Target::kRthub ? scrape_hub(dst, host_port, hub_names) : HubSample{};
      double cpu0 = self_cpu_seconds();
      ProcSample h0 = sample_process(o.hub_pid);
      uint64_t t0 = now_ns();
      r.wall_start = unix_seconds();
      g_step.store(k, std::memory_order_release);
      pub->run_for(o.duration, rate);
      g_step.store(-1, std::memory_order_release);
      uint64_t t1 = now_ns();
      r.wall_end = unix_seconds();
      ProcSample h1 = sample_process(o.hub_pid);
      double cpu1 = self_cpu_seconds();
      if (!m0.empty()) {
        HubSample m1 = scrape_hub(dst, host_port, hub_names);
        for (const auto& n : hub_names) {
          auto a = m0.find(n), b = m1.find(n);
          r.hub.push_back(a != m0.end() && b != m1.end() ? hub_delta(a->second, b->second)
                                                         : HubDelta{});
        }
      }
      // Wait until every subscriber thread has left step k, then read its histogram.
      for (auto& w : workers)
        while (w->seen_step.load(std::memory_order_acquire) == k) usleep(1000);
      Histogram h;
      for (auto& w : workers) h.merge(*w->hist[static_cast<size_t>(k)]);
      r.seconds = static_cast<double>(t1 - t0) / 1e9;
      uint64_t sent = pub->sent - sent0;
      r.pub_per_s = static_cast<double>(sent) / r.seconds;
      r.deliveries_per_s = static_cast<double>(h.count()) / r.seconds;
      double expected = static_cast<double>(sent) * healthy_per_msg;
      r.delivered_ratio = expected > 0 ? static_cast<double>(h.count()) / expected : 0;
      r.p50 = h.percentile(50);
      r.p90 = h.percentile(90);
      r.p99 = h.percentile(99);
      r.p999 = h.percentile(99.9);
      r.max = h.max();
      h.for_each_bucket([&r](uint64_t upper, uint64_t n) {
        r.latency +=
            (r.latency.empty() ? "[" : ",") + std::to_string(upper) + "," + std::to_string(n);
      });
      r.latency += r.latency.empty() ? "[]" : "]";
      r.hub_cpu = cpu_percent(h0, h1);
      r.bench_cpu = 100.0 * (cpu1 - cpu0) / r.seconds;
      r.drops = total_drops() - drops0;
      // One message of slack on the delivered share: at low rates a step holds only a few messages,
      // and one published at the step's end lands in the next.
      bool delivered_ok =
          static_cast<double>(h.count()) + healthy_per_msg >= o.ramp_min_delivered * expected;
      r.pass = static_cast<double>(r.p99) / 1e6 <= o.ramp_p99_ms && delivered_ok && r.drops == 0 &&
               h.count() > 0;
      steps.push_back(r);
      if (!o.ramp) break;
      failing_in_a_row = r.pass ? 0 : failing_in_a_row + 1;
      if (failing_in_a_row >= o.ramp_patience || r.drops > 0) break;
      // The publisher could not push the asked rate: the hub's publish path is the bound.
      if (rate > 0 && r.pub_per_s < 0.8 * rate) break;
      rate *= o.ramp_factor;
      if (rate > o.ramp_max_rate) break;
    }
    pub->drain(1.0);
    total_published = pub->sent;
  }
  ProcSample hub_end = sample_process(o.hub_pid);
  double load_end = loadavg();
  if (stalled_total && connected > 0) {
    // Read what the stalled subscribers were sent: a hub that dropped them shows it now, with a
    // close frame, a reset or an end of stream after the backlog.
    g_drain_stalled.store(true, std::memory_order_release);
    uint64_t end = now_ns() + static_cast<uint64_t>(o.stall_drain * 1e9);
    while (now_ns() < end && !g_interrupted) usleep(20000);
  }
  uint64_t stalled_closed_early = 0;
  for (auto& w : workers) stalled_closed_early += w->stalled_closed_before_drain;

  g_stop = true;
  for (auto& t : threads) t.join();

  uint64_t closed = 0, stalled_closed = 0, slow_closes = 0, protocol_errors = 0, messages = 0;
  std::string first_error;
  for (auto& w : workers) {
    closed += w->closed;
    stalled_closed += w->stalled_closed;
    slow_closes += w->slow_closes;
    protocol_errors += w->protocol_errors;
    messages += w->messages;
    if (first_error.empty()) first_error = w->first_error;
  }
  uint64_t pub_errors = pub ? pub->refused + pub->lost : 0;
  if (first_error.empty() && pub) first_error = pub->first_error;
  uint64_t errors = connect_failed + closed + protocol_errors + pub_errors;

  // The step that counts: the last passing one on a ramp (the highest rate under the p99 bound),
  // else the only one.
  int best = -1;
  if (!steps.empty()) {
    if (o.ramp) {
      for (size_t k = 0; k < steps.size(); ++k)
        if (steps[k].pass && (best < 0 || steps[k].deliveries_per_s >
                                              steps[static_cast<size_t>(best)].deliveries_per_s))
          best = static_cast<int>(k);
    } else {
      best = 0;
    }
  }

  const ProcSample& mem = o.idle ? hub_settled : hub_connected;
  double rss_per_conn =
      (hub_base.ok && mem.ok && connected)
          ? (static_cast<double>(mem.rss_kb) - static_cast<double>(hub_base.rss_kb)) * 1024.0 /
                connected
          : -1;

  // Human table.
  std::printf("rthub-bench  %s over %s at %s%s%s\n", target_name(o.target),
              transport_name(o.transport), o.url.c_str(), o.label.empty() ? "" : "  label ",
              o.label.c_str());
  std::printf("  layout          %d subscribers = %d channel(s) x %d, payload %d B%s\n",
              o.subscribers, o.channels, o.subscribers / o.channels, o.payload,
              o.idle ? ", idle (no publishing)" : "");
  if (!o.idle)
    std::printf(
        "  publishers      %d connection(s), %d request(s) in flight each, %d message(s) "
        "per request\n",
        o.publishers, o.pipeline, o.target == Target::kRthub ? o.batch : 1);
  if (stalled_total)
    std::printf("  stalled         %d subscribers stop reading once subscribed (SO_RCVBUF %d)\n",
                stalled_total, o.stall_rcvbuf);
  std::printf("  connect         %" PRIu64 " connected, %" PRIu64 " failed in %.2f s (%.0f/s)\n",
              connected, connect_failed, connect_secs,
              connect_secs > 0 ? static_cast<double>(connected) / connect_secs : 0);
  if (!steps.empty()) {
    std::printf("  %-4s %9s %9s %12s %9s %8s %8s %8s %8s %8s %7s %7s %s\n", "step", "rate", "pub/s",
                "deliveries/s", "delivered", "p50 ms", "p90 ms", "p99 ms", "p99.9", "max ms",
                "hubCPU", "bench", "");
    for (size_t k = 0; k < steps.size(); ++k) {
      const StepResult& r = steps[k];
      char rate[32];
      if (r.rate > 0)
        std::snprintf(rate, sizeof rate, "%.0f", r.rate);
      else
        std::snprintf(rate, sizeof rate, "max");
      std::printf(
          "  %-4zu %9s %9.0f %12.0f %8.1f%% %8s %8s %8s %8s %8s %6.0f%% %6.0f%% %s\n", k, rate,
          r.pub_per_s, r.deliveries_per_s, 100 * r.delivered_ratio, ms(r.p50).c_str(),
          ms(r.p90).c_str(), ms(r.p99).c_str(), ms(r.p999).c_str(), ms(r.max).c_str(), r.hub_cpu,
          r.bench_cpu,
          o.ramp ? (static_cast<int>(k) == best ? "<- best" : (r.pass ? "" : "fails")) : "");
    }
  }
  if (o.hub_pid > 0) {
    std::printf("  hub RSS         base %.1f MiB, %s %.1f MiB, end %.1f MiB",
                hub_base.rss_kb / 1024.0, o.idle ? "connected" : "after connect",
                mem.rss_kb / 1024.0, hub_end.rss_kb / 1024.0);
    if (rss_per_conn >= 0) std::printf(" -> %.2f KiB per connection", rss_per_conn / 1024.0);
    std::printf("\n");
    if (o.idle)
      std::printf("  hub CPU         %.1f%% while holding\n", cpu_percent(hub_settled, hub_end));
  }
  std::printf("  messages        %" PRIu64 " received in all, %" PRIu64 " published\n", messages,
              total_published);
  std::printf("  errors          %" PRIu64 " (connect %" PRIu64 ", healthy closed %" PRIu64
              " [1013: %" PRIu64 "], protocol %" PRIu64 ", publish %" PRIu64 ")%s%s\n",
              errors, connect_failed, closed, slow_closes, protocol_errors, pub_errors,
              first_error.empty() ? "" : "; first: ", first_error.c_str());
  if (stalled_total)
    std::printf("  stalled closed  %" PRIu64
                " of %d stalled subscribers were closed by the hub (%" PRIu64
                " seen while stalled, the rest when read at the end)\n",
                stalled_closed, stalled_total, stalled_closed_early);
  const StepResult* counted = best >= 0 ? &steps[static_cast<size_t>(best)] : nullptr;
  if (counted && !counted->hub.empty()) {
    // The hub's breakdown of the counted step: where a message's time goes before the bench's
    // receive (bucket bounds of its histograms, so "<=").
    std::printf(
        "  hub breakdown   from the hub's /metrics over the step, per message (loop: per "
        "iteration)\n");
    const auto& names = hub_breakdown_names();
    for (size_t i = 0; i < names.size() && i < counted->hub.size(); ++i) {
      const HubDelta& d = counted->hub[i];
      if (!d.n) continue;
      auto bound = [](double v) {
        return v < 0 ? std::string("> 5000") : "<= " + ms(static_cast<uint64_t>(v * 1e6));
      };
      std::printf("    %-24s %9" PRIu64 "  mean %8s ms  p50 %10s  p99 %10s  max %10s ms\n",
                  names[i].second.c_str(), d.n, ms(static_cast<uint64_t>(d.mean_ms * 1e6)).c_str(),
                  bound(d.p50_ms).c_str(), bound(d.p99_ms).c_str(), bound(d.max_ms).c_str());
    }
  }
  std::printf("  machine         load average %.2f (1 min) on %ld CPUs at the end\n", load_end,
              sysconf(_SC_NPROCESSORS_ONLN));

  if (o.json) {
    const StepResult* b = best >= 0 ? &steps[static_cast<size_t>(best)] : nullptr;
    std::string j = "{";
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "\"label\":\"%s\",\"target\":\"%s\",\"transport\":\"%s\",\"subscribers\":%d,"
                  "\"channels\":%d,"
                  "\"payload\":%d,\"idle\":%s,\"stalled\":%d,",
                  json_escape(o.label).c_str(), target_name(o.target), transport_name(o.transport),
                  o.subscribers, o.channels, o.payload, o.idle ? "true" : "false", stalled_total);
    j += buf;
    std::snprintf(buf, sizeof buf,
                  "\"connected\":%" PRIu64 ",\"connect_failed\":%" PRIu64
                  ",\"connect_seconds\":%.3f,\"connect_rate\":%.0f,",
                  connected, connect_failed, connect_secs,
                  connect_secs > 0 ? connected / connect_secs : 0);
    j += buf;
    if (b) {
      std::snprintf(
          buf, sizeof buf,
          "\"rate\":%.1f,\"pub_per_s\":%.1f,\"deliveries_per_s\":%.0f,\"delivered_ratio\":%.4f,"
          "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"hub_"
          "cpu\":%.1f,\"bench_cpu\":%.1f,",
          b->rate, b->pub_per_s, b->deliveries_per_s, b->delivered_ratio, b->p50 / 1e6,
          b->p90 / 1e6, b->p99 / 1e6, b->p999 / 1e6, b->max / 1e6, b->hub_cpu, b->bench_cpu);
      j += buf;
    }
    if (!steps.empty()) {  // the measured time, from the first step's start to the last's end
      std::snprintf(buf, sizeof buf, "\"wall_start\":%.3f,\"wall_end\":%.3f,",
                    steps.front().wall_start, steps.back().wall_end);
      j += buf;
    }
    if (o.ramp) {
      j += "\"steps\":[";
      for (size_t k = 0; k < steps.size(); ++k) {
        const StepResult& r = steps[k];
        std::snprintf(buf, sizeof buf,
                      "%s{\"rate\":%.1f,\"pub_per_s\":%.1f,\"deliveries_per_s\":%.0f,\"delivered_"
                      "ratio\":%.4f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
                      "\"hub_cpu\":%.1f,\"bench_cpu\":%.1f,\"drops\":%" PRIu64
                      ",\"wall_start\":%.3f,\"wall_end\":%.3f,\"pass\":%s,\"latency_ns\":",
                      k ? "," : "", r.rate, r.pub_per_s, r.deliveries_per_s, r.delivered_ratio,
                      r.p50 / 1e6, r.p99 / 1e6, r.max / 1e6, r.hub_cpu, r.bench_cpu, r.drops,
                      r.wall_start, r.wall_end, r.pass ? "true" : "false");
        j += buf;
        j += r.latency + "}";
      }
      j += "],";
    }
    std::snprintf(buf, sizeof buf,
                  "\"hub_rss_base_kb\":%" PRIu64 ",\"hub_rss_kb\":%" PRIu64
                  ",\"hub_rss_end_kb\":%" PRIu64 ",\"rss_per_conn_bytes\":%.0f,",
                  hub_base.rss_kb, mem.rss_kb, hub_end.rss_kb, rss_per_conn);
    j += buf;
    std::snprintf(buf, sizeof buf,
                  "\"messages\":%" PRIu64 ",\"published\":%" PRIu64 ",\"errors\":%" PRIu64
                  ",\"closed\":%" PRIu64 ",\"slow_closes\":%" PRIu64 ",\"stalled_closed\":%" PRIu64
                  ",\"publish_errors\":%" PRIu64 ",",
                  messages, total_published, errors, closed, slow_closes, stalled_closed,
                  pub_errors);
    j += buf;
    if (b && !b->hub.empty()) {
      j += "\"hub_breakdown\":{";
      const auto& names = hub_breakdown_names();
      for (size_t i = 0; i < names.size() && i < b->hub.size(); ++i) {
        const HubDelta& d = b->hub[i];
        std::snprintf(buf, sizeof buf,
                      "%s\"%s\":{\"n\":%" PRIu64
                      ",\"mean_ms\":%.3f,\"p50_le_ms\":%.3f,\"p99_le_ms\":%.3f,\"max_le_ms\":%.3f}",
                      i ? "," : "", names[i].first.c_str(), d.n, d.mean_ms, d.p50_ms, d.p99_ms,
                      d.max_ms);
        j += buf;
      }
      j += "},";
    }
    std::snprintf(buf, sizeof buf, "\"loadavg\":%.2f,", load_end);
    j += buf;
    j += "\"first_error\":\"" + json_escape(first_error) + "\"}";
    std::printf("%s\n", j.c_str());
  }
  return connected > 0 ? 0 : 1;
}
