// rthub-cluster-probe: drives ClusterRouter and ShardedSubscriber from a test script.
//
// It reads one JSON request per line on stdin and writes one JSON line per answer or event on
// stdout, so a Node test (tests/integration/cluster_router.test.mjs) can start a real Redis
// Cluster, kill or reshard its nodes, and watch the router's behaviour in between. Requests:
//   {"id":1,"op":"command","key":"k","args":["SET","k","v"]}   -> {"id":1,"status":"reply",...}
//   {"id":2,"op":"command_at","node":"127.0.0.1:7001","args":[...]}
//   {"id":3,"op":"slot","key":"k"}                              -> {"id":3,"slot":12182}
//   {"id":4,"op":"owner","key":"k"}                             -> {"id":4,"node":"host:port"}
//   {"id":5,"op":"ssubscribe","channel":"c"} / "sunsubscribe"   -> {"id":5,"ok":true}
//   {"id":8,"op":"maps_agree","node":"h:p"} -> {"id":8,"agree":true,...} (CLUSTER SLOTS vs SHARDS)
//   {"id":6,"op":"stats"}                                       -> {"id":6,"moved":..,...}
//   {"id":7,"op":"quit"}
// Events: {"event":"ready"} once a full map is known, {"event":"map"} after each map change,
// {"event":"active","channel":"c","active":true}, {"event":"message","channel":"c","payload":"p"}.
#include <hiredis/hiredis.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <uv.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "broker/redis/cluster/cluster_router.hpp"
#include "broker/redis/cluster/key_slot.hpp"
#include "broker/redis/cluster/sharded_subscriber.hpp"

using namespace rthub::cluster;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

namespace {

struct Probe {
  uv_loop_t* loop;
  std::unique_ptr<ClusterRouter> router;
  std::unique_ptr<ShardedSubscriber> subscriber;
  uv_pipe_t input;
  std::string pending_input;
  bool announced_ready = false;
  uv_timer_t ready_poll;
};

void emit(const std::function<void(Writer&)>& fill) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  fill(writer);
  writer.EndObject();
  std::fwrite(buffer.GetString(), 1, buffer.GetSize(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void write_string(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_reply(Writer& w, const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      w.Int64(r->integer);
      break;
    case REDIS_REPLY_NIL:
      w.Null();
      break;
    case REDIS_REPLY_ARRAY:
      w.StartArray();
      for (size_t i = 0; i < r->elements; ++i) write_reply(w, r->element[i]);
      w.EndArray();
      break;
    default:
      write_string(w, std::string(r->str, r->len));
  }
}

const char* type_name(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_ERROR:
      return "error";
    case REDIS_REPLY_STATUS:
      return "status";
    case REDIS_REPLY_INTEGER:
      return "integer";
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_ARRAY:
      return "array";
    default:
      return "string";
  }
}

const char* status_name(CommandResult::Status s) {
  switch (s) {
    case CommandResult::Status::kReply:
      return "reply";
    case CommandResult::Status::kUnavailable:
      return "unavailable";
    case CommandResult::Status::kRedirectLoop:
      return "redirect_loop";
    case CommandResult::Status::kInvalid:
      return "invalid";
    default:
      return "stopped";
  }
}

std::string member(const rapidjson::Value& v, const char* name) {
  auto it = v.FindMember(name);
  if (it == v.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

void quit(Probe& probe) {
  if (probe.subscriber) probe.subscriber->stop();
  if (probe.router) probe.router->stop();
  uv_timer_stop(&probe.ready_poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&probe.ready_poll), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&probe.input), nullptr);
}

void handle_line(Probe& probe, const std::string& line) {
  rapidjson::Document request;
  request.Parse(line.c_str(), line.size());
  if (request.HasParseError() || !request.IsObject()) {
    emit([&](Writer& w) {
      w.Key("error");
      write_string(w, "not a JSON object: " + line);
    });
    return;
  }
  int64_t id = request.HasMember("id") && request["id"].IsInt64() ? request["id"].GetInt64() : 0;
  std::string op = member(request, "op");
  std::vector<std::string> args;
  if (request.HasMember("args") && request["args"].IsArray())
    for (auto& a : request["args"].GetArray())
      if (a.IsString()) args.emplace_back(a.GetString(), a.GetStringLength());
  auto answer = [id](const CommandResult& result) {
    emit([&](Writer& w) {
      w.Key("id");
      w.Int64(id);
      w.Key("status");
      w.String(status_name(result.status));
      w.Key("node");
      write_string(w, result.node.text());
      if (result.status == CommandResult::Status::kReply) {
        w.Key("type");
        w.String(type_name(result.reply));
        w.Key("value");
        write_reply(w, result.reply);
      } else {
        w.Key("error");
        write_string(w, result.error);
      }
    });
  };
  if (op == "command") {
    probe.router->command(member(request, "key"), std::move(args), answer);
  } else if (op == "command_at") {
    auto node = parse_node_address(member(request, "node"));
    if (!node)
      return emit([&](Writer& w) {
        w.Key("id");
        w.Int64(id);
        w.Key("error");
        w.String("bad node");
      });
    probe.router->command_at(*node, std::move(args), answer);
  } else if (op == "slot") {
    emit([&](Writer& w) {
      w.Key("id");
      w.Int64(id);
      w.Key("slot");
      w.Int(key_slot(member(request, "key")));
    });
  } else if (op == "owner") {
    const SlotMap* map = probe.router->map();
    const Shard* shard = map ? map->shard_of(key_slot(member(request, "key"))) : nullptr;
    emit([&](Writer& w) {
      w.Key("id");
      w.Int64(id);
      w.Key("node");
      if (shard)
        write_string(w, shard->master.text());
      else
        w.Null();
    });
  } else if (op == "maps_agree") {
    // CLUSTER SLOTS and CLUSTER SHARDS of one live node, read by SlotMap: the same masters?
    auto node = parse_node_address(member(request, "node"));
    if (!node)
      return emit([&](Writer& w) {
        w.Key("id");
        w.Int64(id);
        w.Key("error");
        w.String("bad node");
      });
    auto slots = std::make_shared<std::optional<SlotMap>>();
    ClusterRouter* router = probe.router.get();
    NodeAddress asked = *node;
    router->command_at(
        asked, {"CLUSTER", "SLOTS"}, [id, slots, router, asked](const CommandResult& r) {
          std::string why;
          if (r.status == CommandResult::Status::kReply)
            *slots = SlotMap::from_cluster_slots(r.reply, asked.host, &why);
          router->command_at(asked, {"CLUSTER", "SHARDS"},
                             [id, slots, asked, why](const CommandResult& r) {
                               std::string error = why;
                               std::optional<SlotMap> shards;
                               if (r.status == CommandResult::Status::kReply)
                                 shards = SlotMap::from_cluster_shards(r.reply, asked.host, &error);
                               emit([&](Writer& w) {
                                 w.Key("id");
                                 w.Int64(id);
                                 w.Key("agree");
                                 w.Bool(*slots && shards && (*slots)->same_masters(*shards));
                                 w.Key("covered");
                                 w.Uint64(shards ? shards->covered_slots() : 0);
                                 w.Key("error");
                                 write_string(w, error);
                               });
                             });
        });
  } else if (op == "ssubscribe" || op == "sunsubscribe") {
    if (op == "ssubscribe")
      probe.subscriber->subscribe(member(request, "channel"));
    else
      probe.subscriber->unsubscribe(member(request, "channel"));
    emit([&](Writer& w) {
      w.Key("id");
      w.Int64(id);
      w.Key("ok");
      w.Bool(true);
    });
  } else if (op == "stats") {
    const auto& s = probe.router->stats();
    emit([&](Writer& w) {
      w.Key("id");
      w.Int64(id);
      w.Key("moved");
      w.Uint64(s.moved);
      w.Key("asked");
      w.Uint64(s.asked);
      w.Key("discoveries");
      w.Uint64(s.discoveries);
      w.Key("failed_discoveries");
      w.Uint64(s.failed_discoveries);
      w.Key("map_changes");
      w.Uint64(s.map_changes);
      w.Key("connection_losses");
      w.Uint64(s.connection_losses);
      w.Key("subscriber_error");
      write_string(w, probe.subscriber->last_error());
    });
  } else if (op == "quit") {
    emit([&](Writer& w) {
      w.Key("id");
      w.Int64(id);
      w.Key("ok");
      w.Bool(true);
    });
    quit(probe);
  } else {
    emit([&](Writer& w) {
      w.Key("id");
      w.Int64(id);
      w.Key("error");
      write_string(w, "unknown op: " + op);
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: rthub-cluster-probe HOST:PORT[,HOST:PORT...] [connect_timeout_ms]\n");
    return 2;
  }
  std::string error;
  auto seeds = parse_seed_list(argv[1], &error);
  if (!seeds) {
    std::fprintf(stderr, "rthub-cluster-probe: %s\n", error.c_str());
    return 2;
  }
  RouterOptions options;
  options.seeds = *seeds;
  if (argc > 2) options.connect_timeout_ms = std::atoi(argv[2]);

  Probe probe;
  probe.loop = uv_default_loop();
  probe.router = std::make_unique<ClusterRouter>(probe.loop, options);
  probe.subscriber = std::make_unique<ShardedSubscriber>(
      probe.loop, *probe.router, options,
      [](const std::string& channel, const std::string& payload) {
        emit([&](Writer& w) {
          w.Key("event");
          w.String("message");
          w.Key("channel");
          write_string(w, channel);
          w.Key("payload");
          write_string(w, payload);
        });
      },
      [](const std::string& channel, bool active) {
        emit([&](Writer& w) {
          w.Key("event");
          w.String("active");
          w.Key("channel");
          write_string(w, channel);
          w.Key("active");
          w.Bool(active);
        });
      });
  probe.router->add_map_listener([] {
    emit([](Writer& w) {
      w.Key("event");
      w.String("map");
    });
  });
  // "ready" once: the test starts sending when the router knows a full map.
  uv_timer_init(probe.loop, &probe.ready_poll);
  probe.ready_poll.data = &probe;
  uv_timer_start(
      &probe.ready_poll,
      [](uv_timer_t* t) {
        auto* p = static_cast<Probe*>(t->data);
        if (!p->router->ready()) return;
        uv_timer_stop(t);
        emit([](Writer& w) {
          w.Key("event");
          w.String("ready");
        });
      },
      10, 10);

  uv_pipe_init(probe.loop, &probe.input, 0);
  uv_pipe_open(&probe.input, 0);
  probe.input.data = &probe;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&probe.input),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
      },
      [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
        auto* p = static_cast<Probe*>(stream->data);
        if (n > 0) p->pending_input.append(buf->base, static_cast<size_t>(n));
        delete[] buf->base;
        if (n < 0) {  // stdin closed: the test is gone
          if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(stream))) quit(*p);
          return;
        }
        size_t newline;
        while ((newline = p->pending_input.find('\n')) != std::string::npos) {
          std::string line = p->pending_input.substr(0, newline);
          p->pending_input.erase(0, newline + 1);
          if (!line.empty()) handle_line(*p, line);
          if (uv_is_closing(reinterpret_cast<uv_handle_t*>(stream))) return;
        }
      });
  uv_run(probe.loop, UV_RUN_DEFAULT);
  probe.subscriber.reset();
  probe.router.reset();
  uv_run(probe.loop, UV_RUN_DEFAULT);  // close what the destructors closed
  return 0;
}
