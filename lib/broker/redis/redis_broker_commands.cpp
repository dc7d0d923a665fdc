// redis_broker_commands.cpp: commands on the command link, and the scripts by EVALSHA with one EVAL
// when Redis lost them.
#include "broker/redis/redis_broker.hpp"

#include <hiredis/async.h>

#include <cstring>

#include "broker/redis/redis_broker_internal.hpp"

namespace rthub {

using namespace redis_internal;

size_t RedisBroker::command(std::function<void(redisReply*)> on_reply,
                            const std::vector<std::string>& args, bool* sent) {
  if (router_ && cluster_command(args, on_reply, sent)) return 1;
  if (!commands_->connected || !commands_->ctx) {
    on_reply(nullptr);
    return 0;
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* callback = new std::function<void(redisReply*)>(std::move(on_reply));
  int rc = redisAsyncCommandArgv(
      commands_->ctx,
      [](redisAsyncContext* c, void* reply, void* privdata) {
        (void)c;
        std::unique_ptr<std::function<void(redisReply*)>> fn(
            static_cast<std::function<void(redisReply*)>*>(privdata));
        (*fn)(static_cast<redisReply*>(reply));
      },
      callback, static_cast<int>(argv.size()), argv.data(), lens.data());
  if (rc != REDIS_OK) {
    std::unique_ptr<std::function<void(redisReply*)>> fn(callback);
    (*fn)(nullptr);
    return 0;
  }
  if (sent) *sent = true;
  return 1;
}

void RedisBroker::eval(Script script, std::vector<std::string> keys_and_args,
                       std::function<void(redisReply*)> on_reply, std::shared_ptr<bool> sent) {
  int index = static_cast<int>(script);
  std::vector<std::string> args{"EVALSHA", script_sha_[index], "1"};
  args.insert(args.end(), keys_and_args.begin(), keys_and_args.end());
  auto retry = [this, index, keys_and_args = std::move(keys_and_args), on_reply,
                sent](redisReply* r) mutable {
    if (!r || r->type != REDIS_REPLY_ERROR || std::strncmp(r->str, "NOSCRIPT", 8) != 0)
      return on_reply(r);
    // Redis lost the script (SCRIPT FLUSH, a restart behind a proxy, a promoted replica): it did
    // not run. EVAL sends it once more and caches it again.
    std::vector<std::string> again{"EVAL", script_text_[index], "1"};
    again.insert(again.end(), keys_and_args.begin(), keys_and_args.end());
    if (sent) *sent = false;
    command(std::move(on_reply), again, sent.get());
  };
  command(std::move(retry), args, sent.get());
}

}  // namespace rthub
