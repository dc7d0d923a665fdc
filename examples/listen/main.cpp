// rthub-listen: subscribes to channels of a hub and prints one JSON object per line: every
// message, and every change of the connection's state with its transport. Ctrl-C ends it.
//
// It uses the client's poll API: the client's event descriptor and a signalfd share one poll(),
// so nothing runs on the client's thread and the program needs no locks.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/json_string.hpp"  // the library's own escaper (header-only, in this tree)
#include "rthub/client.hpp"

namespace {

const char kUsage[] =
    "usage: rthub-listen URL --channel C [--channel D ...] [options]\n"
    "  URL                  the hub's base URL, e.g. http://127.0.0.1:8080 or https://hub.example\n"
    "  --channel C          subscribe to channel C (repeatable; at least one)\n"
    "  --sse                use Server-Sent Events only (no WebSocket)\n"
    "  --snapshot           subscribe with the keyed snapshot: prints it, then the live messages\n"
    "  --presence           subscribe with presence: prints the members, then join and leave\n"
    "  --poll               use HTTP long-polling only (no WebSocket, no SSE)\n"
    "  --ca FILE            trust the PEM CA certificates in FILE besides the system store\n"
    "  --insecure           accept any TLS certificate (testing only)\n"
    "  --token JWT          send 'Authorization: Bearer JWT'\n"
    "  --heartbeat SECONDS  the hub's heartbeat (default 25): silence for twice this reconnects\n"
    "  --watchdog MS        silence that ends a connection (default: twice the heartbeat)\n"
    "  --backoff-base MS    --backoff-cap MS: reconnect delays (defaults 500, 30000)\n"
    "  --handshake-timeout MS  --websocket-retry MS  --sse-silence MS  --max-attempts N: see\n"
    "                       docs/CLIENT.md\n"
    "  --help               this text\n"
    "Prints one JSON object per line on stdout: {\"event\":\"message\",...} for each message,\n"
    "{\"event\":\"state\",\"state\":...,\"transport\":...} for each change of the connection,\n"
    "{\"event\":\"snapshot\",...,\"items\":[...]}, "
    "{\"event\":\"presence\",...,\"clients\":[...]},\n"
    "{\"event\":\"join\"|\"leave\",...,\"client\":{...}} with --snapshot and --presence.\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "rthub-listen: %s\n\n%s", what.c_str(), kUsage);
  std::exit(2);
}

void field(std::string& out, const char* name, const std::string& value) {
  out += ",\"";
  out += name;
  out += "\":";
  rthub::json::append_string(out, value);
}

void number(std::string& out, const char* name, long long value) {
  out += ",\"";
  out += name;
  out += "\":" + std::to_string(value);
}

std::string line_of(const rthub::ClientEvent& e) {
  std::string out = "{\"event\":\"";
  out += rthub::to_string(e.kind);
  out += '"';
  using Kind = rthub::ClientEvent::Kind;
  switch (e.kind) {
    case Kind::kMessage:
      field(out, "channel", e.channel);
      field(out, "epoch", e.position.epoch);
      number(out, "seq", static_cast<long long>(e.position.seq));
      field(out, "type", e.type);
      out += ",\"data\":" + e.data;
      number(out, "ts", e.ts_ms);
      if (!e.key.empty()) field(out, "key", e.key);
      if (e.deleted) out += ",\"delete\":true";
      break;
    case Kind::kSnapshot:
      field(out, "channel", e.channel);
      field(out, "epoch", e.position.epoch);
      number(out, "seq", static_cast<long long>(e.position.seq));
      out += ",\"items\":" + e.data;
      break;
    case Kind::kPresence:
      field(out, "channel", e.channel);
      out += ",\"clients\":" + e.data;
      break;
    case Kind::kJoin:
    case Kind::kLeave:
      field(out, "channel", e.channel);
      out += ",\"client\":" + e.data;
      break;
    case Kind::kSubscribed:
      field(out, "channel", e.channel);
      field(out, "epoch", e.position.epoch);
      number(out, "seq", static_cast<long long>(e.position.seq));
      if (e.recovered) out += *e.recovered ? ",\"recovered\":true" : ",\"recovered\":false";
      break;
    case Kind::kUnsubscribed:
      field(out, "channel", e.channel);
      break;
    case Kind::kReset:
      field(out, "channel", e.channel);
      field(out, "epoch", e.position.epoch);
      number(out, "seq", static_cast<long long>(e.position.seq));
      field(out, "reason", e.reason);
      break;
    case Kind::kState:
      field(out, "state", rthub::to_string(e.state));
      field(out, "transport", rthub::to_string(e.transport));
      if (!e.reason.empty()) field(out, "reason", e.reason);
      if (e.state == rthub::ClientState::kConnecting) number(out, "attempt", e.attempt);
      if (e.retry_in_ms >= 0) number(out, "retry_in_ms", e.retry_in_ms);
      break;
    case Kind::kError:
      field(out, "code", e.code);
      field(out, "message", e.message);
      if (!e.channel.empty()) field(out, "channel", e.channel);
      break;
    case Kind::kPublished:
      field(out, "channel", e.channel);
      field(out, "epoch", e.position.epoch);
      number(out, "seq", static_cast<long long>(e.position.seq));
      break;
  }
  out += "}\n";
  return out;
}

// The int options given in milliseconds, by flag; nullptr for other flags.
int* number_option(rthub::ClientOptions& o, const std::string& arg) {
  if (arg == "--watchdog") return &o.watchdog_ms;
  if (arg == "--handshake-timeout") return &o.handshake_timeout_ms;
  if (arg == "--websocket-retry") return &o.websocket_retry_ms;
  if (arg == "--sse-silence") return &o.sse_silence_ms;
  return nullptr;
}

rthub::ClientOptions parse(int argc, char** argv) {
  rthub::ClientOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--sse") {
      o.sse_only = true;
    } else if (arg == "--snapshot") {
      o.snapshot = true;
    } else if (arg == "--presence") {
      o.presence = true;
    } else if (arg == "--poll") {
      o.poll_only = true;
    } else if (arg == "--insecure") {
      o.insecure_skip_verify_for_tests = true;
    } else if (int* number = number_option(o, arg)) {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      char* end = nullptr;
      long value = std::strtol(argv[++i], &end, 10);
      if (*argv[i] == '\0' || *end != '\0' || value < 0 || value > 1000000000)
        usage_error(arg + " needs a number");
      *number = static_cast<int>(value);
    } else if (arg == "--backoff-base" || arg == "--backoff-cap" || arg == "--max-attempts") {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      char* end = nullptr;
      unsigned long value = std::strtoul(argv[++i], &end, 10);
      if (*argv[i] == '\0' || *end != '\0' || value > 1000000000)
        usage_error(arg + " needs a number");
      if (arg == "--backoff-base")
        o.backoff_base_ms = value;
      else if (arg == "--backoff-cap")
        o.backoff_cap_ms = value;
      else
        o.max_attempts = static_cast<uint32_t>(value);
    } else if (arg == "--channel" || arg == "--ca" || arg == "--token" || arg == "--heartbeat") {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      std::string value = argv[++i];
      if (arg == "--channel")
        o.channels.push_back(value);
      else if (arg == "--ca")
        o.ca_file = value;
      else if (arg == "--token")
        o.token = value;
      else {
        char* end = nullptr;
        long seconds = std::strtol(value.c_str(), &end, 10);
        if (!end || *end || seconds < 1 || seconds > 3600)
          usage_error("--heartbeat wants 1 to 3600 seconds");
        o.heartbeat_seconds = static_cast<int>(seconds);
      }
    } else if (!arg.empty() && arg[0] == '-') {
      usage_error("unknown option " + arg);
    } else if (o.url.empty()) {
      o.url = arg;
    } else {
      usage_error("more than one URL");
    }
  }
  if (o.url.empty()) usage_error("the hub URL is missing");
  if (o.channels.empty()) usage_error("give at least one --channel");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  rthub::ClientOptions options = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  // Block SIGINT and SIGTERM before any thread starts, so that only the signalfd sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("rthub-listen: signalfd");
    return 1;
  }

  try {
    rthub::Client client(options);
    client.start();
    int exit_code = 0;
    bool running = true;
    while (running) {
      struct pollfd fds[2] = {{client.event_fd(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;  // EINTR
      if (fds[1].revents & POLLIN) break;
      rthub::ClientEvent event;
      while (client.next_event(event, 0)) {
        std::string line = line_of(event);
        std::fwrite(line.data(), 1, line.size(), stdout);
        if (event.kind == rthub::ClientEvent::Kind::kState &&
            event.state == rthub::ClientState::kClosed) {
          exit_code = 1;  // gave up reconnecting
          running = false;
          break;
        }
      }
    }
    client.stop();
    rthub::ClientEvent event;
    while (client.next_event(event, 0)) {
      std::string line = line_of(event);
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    std::fflush(stdout);
    close(signal_fd);
    return exit_code;
  } catch (const rthub::Error& e) {
    std::fprintf(stderr, "rthub-listen: %s\n", e.what());
    return 2;
  }
}
