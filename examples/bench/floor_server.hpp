// floor_server.hpp: the two "floor" WebSocket broadcast servers that rthub is measured against.
//
// Plain epoll, one thread, no library. Each speaks just enough of rthub's protocol for
// rthub-bench's rthub mode: `GET /ws` upgrades; a `{"op":"subscribe","channel":..,"id":..}` text
// frame subscribes the connection (answered with `{"op":"subscribed",...}`); `POST /publish` with
// `{"channel":..,"data":..}` (keep-alive, pipelined) is framed once as a
// `{"op":"message",...,"data":..}` text frame and queued on every subscriber of that channel.
// What differs is only how the frame reaches the sockets:
//
//   naive       one send() per subscriber per message, at once; a socket that cannot take it
//               keeps a queue, drained one send() per frame when writable.
//   coalescing  a message is only queued; after each epoll round, and when a socket becomes
//               writable, all of a socket's pending frames go out in one writev().
//
// Both drop a subscriber whose queue passes --max-queue-bytes (1 MiB, rthub's default).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "wire.hpp"

namespace bench {

using Frame = std::shared_ptr<const std::string>;

struct FloorConn {
  int fd = -1;
  bool ws = false;
  bool closing = false;
  bool dirty = false;    // coalescing: queued since the last flush
  bool blocked = false;  // the socket said EAGAIN; wait for EPOLLOUT
  std::string in;
  // Outbound frames: a vector used as a FIFO from `head`; `offset` bytes of the head are sent.
  std::vector<Frame> q;
  size_t head = 0;
  size_t offset = 0;
  size_t queued = 0;
  std::string channel;
  size_t index_in_channel = 0;
  bool subscribed = false;
};

template <bool kCoalesce>
class FloorServer {
 public:
  FloorServer(const char* name, std::string host, int port, size_t max_queue)
      : name_(name), host_(std::move(host)), port_(port), max_queue_(max_queue) {}

  int run() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    if (inet_pton(AF_INET, host_.c_str(), &a.sin_addr) != 1 ||
        bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(listen_fd_, 4096) != 0) {
      std::fprintf(stderr, "%s: cannot listen on %s:%d: %s\n", name_, host_.c_str(), port_,
                   std::strerror(errno));
      return 1;
    }
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    std::fprintf(stderr, "%s listening on http://%s:%d\n", name_, host_.c_str(), ntohs(a.sin_port));
    std::fflush(stderr);
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd_, &ev);

    std::vector<epoll_event> events(1024);
    std::vector<char> buf(256 * 1024);
    for (;;) {
      int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0 && errno != EINTR) return 1;
      for (int i = 0; i < n; ++i) {
        auto* c = static_cast<FloorConn*>(events[static_cast<size_t>(i)].data.ptr);
        uint32_t e = events[static_cast<size_t>(i)].events;
        if (!c) {
          accept_all();
          continue;
        }
        if (c->closing) continue;
        if (e & EPOLLOUT) flush(*c);
        if (!c->closing && (e & (EPOLLIN | EPOLLERR | EPOLLHUP))) read_from(*c, buf);
      }
      if constexpr (kCoalesce) {
        std::vector<FloorConn*> dirty;
        dirty.swap(dirty_);
        for (FloorConn* c : dirty) {
          c->dirty = false;
          if (!c->closing && !c->blocked) flush(*c);
        }
      }
      for (FloorConn* c : doomed_) destroy(c);
      doomed_.clear();
    }
  }

 private:
  void accept_all() {
    for (;;) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto* c = new FloorConn;
      c->fd = fd;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = c;
      epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    }
  }

  void read_from(FloorConn& c, std::vector<char>& buf) {
    for (int round = 0; round < 4; ++round) {
      ssize_t n = recv(c.fd, buf.data(), buf.size(), 0);
      if (n > 0) {
        c.in.append(buf.data(), static_cast<size_t>(n));
        process(c);
        if (c.closing || static_cast<size_t>(n) < buf.size()) return;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      return kill(c);
    }
  }

  void process(FloorConn& c) {
    size_t off = 0;
    while (!c.closing && off < c.in.size()) {
      size_t used = c.ws ? ws_input(c, off) : http_input(c, off);
      if (!used) break;
      off += used;
    }
    if (c.closing) return;
    c.in.erase(0, off);
    if (c.in.empty() && c.in.capacity() > 4096) std::string().swap(c.in);
  }

  // One HTTP request at c.in[off..]; returns the bytes it took, 0 when incomplete.
  size_t http_input(FloorConn& c, size_t off) {
    const char* p = c.in.data() + off;
    size_t avail = c.in.size() - off;
    size_t end = http_head_end(p, avail);
    if (!end) {
      if (avail > 16384) kill(c);
      return 0;
    }
    std::string_view head(p, end);
    std::string_view line = head.substr(0, head.find("\r\n"));
    bool get = line.rfind("GET ", 0) == 0, post = line.rfind("POST ", 0) == 0;
    std::string_view path = line.substr(line.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    if (get && path == "/ws" && !http_header(head, "Sec-WebSocket-Key").empty()) {
      std::string r =
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
          "Upgrade\r\nSec-WebSocket-Accept: " +
          websocket_accept(http_header(head, "Sec-WebSocket-Key")) + "\r\n\r\n";
      c.ws = true;
      queue(c, std::make_shared<const std::string>(std::move(r)));
      return end;
    }
    size_t length = 0;
    std::string_view cl = http_header(head, "Content-Length");
    if (!cl.empty()) length = std::strtoull(std::string(cl).c_str(), nullptr, 10);
    if (avail - end < length) return 0;
    std::string_view body(p + end, length);
    if (post && path == "/publish") {
      uint64_t seq = publish(body);
      std::string answer =
          "{\"channel\":\"floor\",\"epoch\":\"floor\",\"seq\":" + std::to_string(seq) + "}";
      queue(c, std::make_shared<const std::string>(
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(answer.size()) + "\r\n\r\n" + answer));
    } else {
      queue(c, std::make_shared<const std::string>(
                   "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
    }
    return end + length;
  }

  static std::string_view string_field(std::string_view json, std::string_view key) {
    std::string k = "\"" + std::string(key) + "\":\"";
    size_t at = json.find(k);
    if (at == std::string_view::npos) return {};
    size_t start = at + k.size();
    size_t end = json.find('"', start);
    return end == std::string_view::npos ? std::string_view() : json.substr(start, end - start);
  }

  // Frames the message once and hands it to every subscriber of its channel.
  uint64_t publish(std::string_view body) {
    std::string channel(string_field(body, "channel"));
    size_t d = body.find("\"data\":");
    size_t last = body.find_last_of('}');
    std::string_view data =
        (d == std::string_view::npos || last == std::string_view::npos || last < d + 7)
            ? std::string_view("null")
            : body.substr(d + 7, last - d - 7);
    uint64_t seq = ++seq_;
    std::string json = "{\"op\":\"message\",\"channel\":\"" + channel +
                       "\",\"epoch\":\"floor\",\"seq\":" + std::to_string(seq) +
                       ",\"type\":\"message\",\"data\":";
    json.append(data);
    json += ",\"ts\":" + std::to_string(now_ns() / 1000000) + "}";
    std::string framed;
    ws_header(framed, kOpText, json.size());
    framed += json;
    Frame frame = std::make_shared<const std::string>(std::move(framed));
    auto it = channels_.find(channel);
    if (it == channels_.end()) return seq;
    for (FloorConn* s : it->second)
      if (!s->closing) queue(*s, frame);
    return seq;
  }

  // One client frame at c.in[off..]; returns the bytes it took, 0 when incomplete.
  size_t ws_input(FloorConn& c, size_t off) {
    auto* p = reinterpret_cast<unsigned char*>(c.in.data() + off);
    WsFrame f;
    int r = ws_parse(p, c.in.size() - off, f);
    if (r == 0) return 0;
    if (r < 0) {
      kill(c);
      return 0;
    }
    unsigned char* payload = p + f.header;
    size_t len = static_cast<size_t>(f.length);
    if (f.masked) ws_unmask(payload, len, f.mask);
    std::string_view text(reinterpret_cast<char*>(payload), len);
    if (f.opcode == kOpText) {
      if (text.find("\"subscribe\"") != std::string_view::npos) subscribe(c, text);
    } else if (f.opcode == kOpPing) {
      std::string pong;
      ws_header(pong, kOpPong, len);
      pong.append(text);
      queue(c, std::make_shared<const std::string>(std::move(pong)));
    } else if (f.opcode == kOpClose) {
      kill(c);
      return 0;
    }
    return f.header + len;
  }

  void subscribe(FloorConn& c, std::string_view request) {
    std::string channel(string_field(request, "channel"));
    std::string ref;
    size_t at = request.find("\"id\":");
    if (at != std::string_view::npos)
      for (size_t i = at + 5; i < request.size() && request[i] >= '0' && request[i] <= '9'; ++i)
        ref.push_back(request[i]);
    if (!c.subscribed) {
      auto& list = channels_[channel];
      c.index_in_channel = list.size();
      list.push_back(&c);
      c.channel = channel;
      c.subscribed = true;
    }
    std::string json = "{\"op\":\"subscribed\",\"channel\":\"" + channel +
                       "\",\"epoch\":\"floor\",\"seq\":" + std::to_string(seq_) +
                       (ref.empty() ? "" : ",\"ref\":" + ref) + "}";
    std::string framed;
    ws_header(framed, kOpText, json.size());
    framed += json;
    queue(c, std::make_shared<const std::string>(std::move(framed)));
  }

  void queue(FloorConn& c, const Frame& frame) {
    if (c.queued + frame->size() > max_queue_) return kill(c);  // slow consumer
    if constexpr (!kCoalesce) {
      if (c.head == c.q.size() && !c.blocked) {
        // The naive floor: one send() per subscriber per message, now.
        ssize_t n = send(c.fd, frame->data(), frame->size(), MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(frame->size())) return;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return kill(c);
        c.q.push_back(frame);
        c.offset = n > 0 ? static_cast<size_t>(n) : 0;
        c.queued += frame->size() - c.offset;
        wait_writable(c);
        return;
      }
      c.q.push_back(frame);
      c.queued += frame->size();
    } else {
      c.q.push_back(frame);
      c.queued += frame->size();
      if (!c.dirty) {
        c.dirty = true;
        dirty_.push_back(&c);
      }
    }
  }

  void wait_writable(FloorConn& c) {
    if (c.blocked) return;
    c.blocked = true;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = &c;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void flush(FloorConn& c) {
    while (c.head < c.q.size()) {
      ssize_t n;
      if constexpr (kCoalesce) {
        // Every pending frame in one writev() (IOV_MAX at most per call).
        iovec iov[1024];
        int k = 0;
        for (size_t i = c.head; i < c.q.size() && k < 1024; ++i, ++k) {
          size_t skip = i == c.head ? c.offset : 0;
          iov[k].iov_base = const_cast<char*>(c.q[i]->data() + skip);
          iov[k].iov_len = c.q[i]->size() - skip;
        }
        msghdr m{};
        m.msg_iov = iov;
        m.msg_iovlen = static_cast<size_t>(k);
        n = sendmsg(c.fd, &m, MSG_NOSIGNAL);
      } else {
        // One send() per frame.
        const Frame& f = c.q[c.head];
        n = send(c.fd, f->data() + c.offset, f->size() - c.offset, MSG_NOSIGNAL);
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_writable(c);
        return kill(c);
      }
      size_t left = static_cast<size_t>(n);
      c.queued -= left;
      while (left > 0) {
        size_t rest = c.q[c.head]->size() - c.offset;
        if (left >= rest) {
          left -= rest;
          c.q[c.head++].reset();
          c.offset = 0;
        } else {
          c.offset += left;
          left = 0;
        }
      }
    }
    // Drained.
    c.q.clear();
    if (c.q.capacity() > 64) std::vector<Frame>().swap(c.q);
    c.head = 0;
    c.offset = 0;
    if (c.blocked) {
      c.blocked = false;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = &c;
      epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
    }
  }

  // Closes now (the fd) and forgets after the round (a publish may be walking its channel).
  void kill(FloorConn& c) {
    if (c.closing) return;
    c.closing = true;
    close(c.fd);
    c.fd = -1;
    doomed_.push_back(&c);
  }

  void destroy(FloorConn* conn) {
    FloorConn& c = *conn;
    if (c.subscribed) {
      auto it = channels_.find(c.channel);
      if (it != channels_.end()) {
        auto& list = it->second;
        size_t i = c.index_in_channel;
        list[i] = list.back();
        list[i]->index_in_channel = i;
        list.pop_back();
        if (list.empty()) channels_.erase(it);
      }
    }
    delete conn;
  }

  const char* name_;
  std::string host_;
  int port_;
  size_t max_queue_;
  int listen_fd_ = -1;
  int epfd_ = -1;
  uint64_t seq_ = 0;
  std::unordered_map<std::string, std::vector<FloorConn*>> channels_;
  std::vector<FloorConn*> dirty_;
  std::vector<FloorConn*> doomed_;
};

template <bool kCoalesce>
int floor_main(const char* name, int argc, char** argv) {
  std::string listen = "127.0.0.1:8090";
  size_t max_queue = 1 << 20;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--listen" && i + 1 < argc)
      listen = argv[++i];
    else if (a == "--max-queue-bytes" && i + 1 < argc)
      max_queue = std::strtoull(argv[++i], nullptr, 10);
    else {
      std::fprintf(a == "--help" ? stdout : stderr,
                   "usage: %s [--listen HOST:PORT (default 127.0.0.1:8090; port 0 picks one)] "
                   "[--max-queue-bytes N]\n",
                   name);
      return a == "--help" ? 0 : 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "127.0.0.1" : listen.substr(0, colon);
  int port = std::atoi(colon == std::string::npos ? listen.c_str() : listen.c_str() + colon + 1);
  FloorServer<kCoalesce> server(name, host, port, max_queue);
  return server.run();
}

}  // namespace bench
