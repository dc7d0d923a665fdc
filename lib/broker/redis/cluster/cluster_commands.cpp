#include "broker/redis/cluster/cluster_commands.hpp"

#include <strings.h>

#include <cstdlib>

namespace rthub::cluster {
namespace {

bool named(const std::string& arg, const char* name) {
  return strcasecmp(arg.c_str(), name) == 0;
}

}  // namespace

std::optional<std::string> routing_key(const std::vector<std::string>& args) {
  if (args.empty()) return std::nullopt;
  const std::string& verb = args[0];
  if (named(verb, "EVAL") || named(verb, "EVALSHA")) {
    // EVAL script numkeys key...: the scripts keep every key of a call in one slot.
    if (args.size() < 4 || std::atoi(args[2].c_str()) < 1) return std::nullopt;
    return args[3];
  }
  for (const char* anywhere : {"PING", "PUBLISH", "SCRIPT", "CLIENT", "AUTH"})
    if (named(verb, anywhere)) return std::nullopt;
  if (args.size() < 2) return std::nullopt;
  return args[1];
}

std::string sharded_script(const std::string& body) {
  static const std::string kClassic = "redis.call('PUBLISH',", kSharded = "redis.call('SPUBLISH',";
  std::string out;
  size_t from = 0;
  for (size_t at; (at = body.find(kClassic, from)) != std::string::npos;
       from = at + kClassic.size())
    out.append(body, from, at - from).append(kSharded);
  return out.append(body, from, std::string::npos);
}

}  // namespace rthub::cluster
