// scripts.hpp: the Lua scripts that make Redis the source of positions and history.
//
// Every key of a channel shares one hash tag: the scripts get the channel's prefix
// rthub:{<channel>}: as their one key and name the rest from it (seq, epoch, log, m, idem:<key>,
// lease, bridged, keys), so a channel's script runs in one slot (Redis Cluster routes it by that
// key). seq is the counter, epoch the numbering's name, log a stream whose entry ids are "<seq>-1",
// m the pub/sub channel of the channel's records. When the counter is gone (Redis lost it, or it
// expired), a fresh epoch starts at seq 1. The broker runs them with EVALSHA (SHA-1 computed
// locally, SCRIPT LOAD on each connect, EVAL once on NOSCRIPT), so a publish sends the payload
// and about 180 bytes more.
#pragma once

namespace rthub::redis_scripts {

// KEYS: prefix. ARGV: fresh epoch, record head ("<ts ms>[ T<len>:<timestamp JSON>][ K<len>:<key>
// | X<len>:<key>]", record.hpp), type, data, max history, key lifetime (s)[, idempotency key
// ('' none), idempotency window (s)[, bridging node id ('' none), payload hash[, message key,
// '1' to delete it, max keys]]]. Returns {epoch, seq}; for a repeat of a recorded idempotency
// key {first epoch, first seq, 1}, having published nothing; for a bridged payload from a node
// that does not hold the channel's ingest lease {'', 0, 2}, publishing nothing; for a new key
// past max keys {'', 0, 3}, publishing nothing. The idempotency key, the ingested payload's hash
// and the key's latest record (hash `keys`: key -> record) are written by the script that
// assigns the seq: Redis runs scripts one at a time, so each is published exactly once and the
// keys at seq S are exactly the latest keyed records up to S. A channel holding keys keeps its
// numbering (seq, epoch) without expiry: its keys are state, gone only when deleted.
constexpr const char* kPublish = R"lua(
local base = KEYS[1]
local seqk, epochk, logk, keysk = base .. 'seq', base .. 'epoch', base .. 'log', base .. 'keys'
local bridging = ARGV[9] and ARGV[9] ~= ''
if bridging then
  if redis.call('GET', base .. 'lease') ~= ARGV[9] then return {'', 0, 2} end
end
local idem
if ARGV[7] and ARGV[7] ~= '' then
  idem = base .. 'idem:' .. ARGV[7]
  local first = redis.call('GET', idem)
  if first then
    local space = string.find(first, ' ', 1, true)
    return {string.sub(first, 1, space - 1), tonumber(string.sub(first, space + 1)), 1}
  end
end
local epoch = redis.call('GET', epochk)
if not epoch or redis.call('EXISTS', seqk) == 0 then
  epoch = ARGV[1]
  redis.call('SET', epochk, epoch)
  redis.call('DEL', seqk, logk, keysk)
end
local entry = ARGV[11]
if entry and ARGV[12] ~= '1' and redis.call('HEXISTS', keysk, entry) == 0 and
    redis.call('HLEN', keysk) >= tonumber(ARGV[13]) then
  return {'', 0, 3}
end
local seq = redis.call('INCR', seqk)
local record = epoch .. ' ' .. seq .. ' ' .. ARGV[2] .. ' ' .. string.len(ARGV[3]) .. ':' .. ARGV[3] .. ARGV[4]
local keep = tonumber(ARGV[5]) > 0
if keep then
  redis.call('XADD', logk, 'MAXLEN', '~', ARGV[5], seq .. '-1', 'r', record)
end
if entry then
  if ARGV[12] == '1' then redis.call('HDEL', keysk, entry) else redis.call('HSET', keysk, entry, record) end
end
local lifetime = tonumber(ARGV[6])
if redis.call('EXISTS', keysk) == 1 then
  redis.call('PERSIST', seqk)
  redis.call('PERSIST', epochk)
  if keep and redis.call('TTL', logk) < lifetime / 2 then redis.call('EXPIRE', logk, lifetime) end
elseif redis.call('TTL', keep and logk or seqk) < lifetime / 2 then
  for _, k in ipairs({seqk, epochk, logk}) do redis.call('EXPIRE', k, lifetime) end
end
if idem then redis.call('SET', idem, epoch .. ' ' .. seq, 'EX', ARGV[8]) end
if bridging then
  redis.call('LPUSH', base .. 'bridged', ARGV[10])
  redis.call('LTRIM', base .. 'bridged', 0, 63)
  redis.call('EXPIRE', base .. 'bridged', lifetime)
end
redis.call('PUBLISH', base .. 'm', record)
return {epoch, seq}
)lua";

// KEYS: prefix. ARGV: fresh epoch, first seq wanted (0: none), key lifetime (s), most entries,
// '1' for the keys' records too. Returns {epoch, latest seq, entries[, keys' records]}: one
// script, so the records are exactly the channel's keyed state at that seq.
constexpr const char* kRead = R"lua(
local base = KEYS[1]
local seqk, epochk, logk, keysk = base .. 'seq', base .. 'epoch', base .. 'log', base .. 'keys'
local epoch = redis.call('GET', epochk)
if not epoch or redis.call('EXISTS', seqk) == 0 then
  epoch = ARGV[1]
  redis.call('SET', epochk, epoch, 'EX', ARGV[3])
  redis.call('SET', seqk, 0, 'EX', ARGV[3])
  redis.call('DEL', logk, keysk)
end
local seq = redis.call('GET', seqk)
local entries = {}
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', logk, ARGV[2] .. '-1', '+', 'COUNT', ARGV[4])
end
if ARGV[5] == '1' then return {epoch, seq, entries, redis.call('HVALS', keysk)} end
return {epoch, seq, entries}
)lua";

// The ingest lease of one bridged channel. KEYS: prefix. ARGV: node id, lease ms (0: give it
// up), '1' to get the recorded hashes of the last ingested payloads. Returns {1[, hashes newest
// first]} while this node holds the lease, {0} while another node does (or after giving it up).
constexpr const char* kLease = R"lua(
local lease = KEYS[1] .. 'lease'
local holder = redis.call('GET', lease)
if ARGV[2] == '0' then
  if holder == ARGV[1] then redis.call('DEL', lease) end
  return {0}
end
if holder and holder ~= ARGV[1] then return {0} end
redis.call('SET', lease, ARGV[1], 'PX', ARGV[2])
if ARGV[3] == '1' then return {1, redis.call('LRANGE', KEYS[1] .. 'bridged', 0, -1)} end
return {1}
)lua";

// The check of a channel's history after a link or slot-map change (a failover may have promoted
// a replica that never received the last writes). KEYS: prefix. ARGV: the epoch and seq this
// node delivered last, that message's ts (ms; '' when unknown: the count alone is checked), a fresh
// epoch, key lifetime (s). When Redis still numbers that epoch but no longer holds that message
// (its count is below the seq, or the stream entry at the seq is another message, or missing though
// the stream reaches back past it), the positions after it would be given again to other messages:
// a new epoch begins here, at once, as when Redis loses the numbering, and subscribers everywhere
// are told history broke. Returns 1 when it began one, else 0 (another epoch already, or nothing
// contradicts this node).
constexpr const char* kVerify = R"lua(
local base = KEYS[1]
local seqk, epochk, logk, keysk = base .. 'seq', base .. 'epoch', base .. 'log', base .. 'keys'
if redis.call('GET', epochk) ~= ARGV[1] then return 0 end
local want = tonumber(ARGV[2])
local broken = tonumber(redis.call('GET', seqk) or '0') < want
if not broken and ARGV[3] ~= '' then
  local at = redis.call('XRANGE', logk, want .. '-1', want .. '-1')
  if at[1] then
    broken = string.match(at[1][2][2], '^%S+ %d+ (%d+)') ~= ARGV[3]
  else
    local first = redis.call('XRANGE', logk, '-', '+', 'COUNT', 1)
    broken = first[1] ~= nil and tonumber(string.match(first[1][1], '^(%d+)')) < want
  end
end
if not broken then return 0 end
redis.call('SET', epochk, ARGV[4], 'EX', ARGV[5])
redis.call('SET', seqk, 0, 'EX', ARGV[5])
redis.call('DEL', logk, keysk)
return 1
)lua";

}  // namespace rthub::redis_scripts
