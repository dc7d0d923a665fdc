// scripts.hpp: the Lua scripts that make Redis the source of positions and history.
//
// Keys of a channel share one hash tag, rthub:{<channel>}:..., so a channel lives in one slot.
// seq is the counter, epoch the numbering's name, log a stream whose entry ids are "<seq>-1".
// When the counter is gone (Redis lost it, or it expired), a fresh epoch starts at seq 1.
#pragma once

namespace rthub::redis_scripts {

// KEYS: seq, epoch, log[, idempotency key]. ARGV: fresh epoch, ts, type, data, max history, key
// lifetime (s), pub/sub channel[, idempotency window (s)]. Returns {epoch, seq}, or for a repeat of
// a recorded idempotency key {first epoch, first seq, 1}, having published nothing. The key is
// recorded in the same script that assigns the seq: Redis runs scripts one at a time, so of two
// publishes with one key (from any nodes, retried or racing) exactly one is published.
constexpr const char* kPublish = R"lua(
if KEYS[4] then
  local first = redis.call('GET', KEYS[4])
  if first then
    local space = string.find(first, ' ', 1, true)
    return {string.sub(first, 1, space - 1), tonumber(string.sub(first, space + 1)), 1}
  end
end
local epoch = redis.call('GET', KEYS[2])
if not epoch or redis.call('EXISTS', KEYS[1]) == 0 then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
  redis.call('DEL', KEYS[1], KEYS[3])
end
local seq = redis.call('INCR', KEYS[1])
local record = epoch .. ' ' .. seq .. ' ' .. ARGV[2] .. ' ' .. string.len(ARGV[3]) .. ':' .. ARGV[3] .. ARGV[4]
if tonumber(ARGV[5]) > 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], seq .. '-1', 'r', record)
end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
if KEYS[4] then redis.call('SET', KEYS[4], epoch .. ' ' .. seq, 'EX', ARGV[8]) end
redis.call('PUBLISH', ARGV[7], record)
return {epoch, seq}
)lua";

// KEYS: seq, epoch, log. ARGV: fresh epoch, first seq wanted (0: none), key lifetime (s),
// most entries. Returns {epoch, latest seq, entries}.
constexpr const char* kRead = R"lua(
local epoch = redis.call('GET', KEYS[2])
if not epoch or redis.call('EXISTS', KEYS[1]) == 0 then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch, 'EX', ARGV[3])
  redis.call('SET', KEYS[1], 0, 'EX', ARGV[3])
  redis.call('DEL', KEYS[3])
end
local seq = redis.call('GET', KEYS[1])
local entries = {}
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', KEYS[3], ARGV[2] .. '-1', '+', 'COUNT', ARGV[4])
end
return {epoch, seq, entries}
)lua";

// KEYS: lease. ARGV: node id, lease ms. Returns 1 while this node holds the lease.
constexpr const char* kLease = R"lua(
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua";

}  // namespace rthub::redis_scripts
