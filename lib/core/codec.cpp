#include "core/codec.hpp"

#include "core/json_scan.hpp"

namespace rthub::codec {
namespace {

void append_ref(std::string& out, std::string_view ref) {
  if (ref.empty()) return;
  out += ",\"ref\":";
  out += ref;
}

void append_position(std::string& out, const Position& p) {
  out += ",\"epoch\":";
  json::append_string(out, p.epoch);
  out += ",\"seq\":";
  out += std::to_string(p.seq);
}

}  // namespace

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadRequest:
      return "bad_request";
    case ErrorCode::kUnauthorized:
      return "unauthorized";
    case ErrorCode::kForbidden:
      return "forbidden";
    case ErrorCode::kTooLarge:
      return "too_large";
    case ErrorCode::kLimit:
      return "limit";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kUnknownOutcome:
      return "unknown_outcome";
    case ErrorCode::kTooManyKeys:
      return "too_many_keys";
    case ErrorCode::kUnsupported:
      return "unsupported";
  }
  return "internal";
}

std::string message(const Message& m) {
  std::string out;
  out.reserve(96 + m.channel.size() + m.type.size() + m.data.size());
  out += "{\"op\":\"message\",\"channel\":";
  json::append_string(out, m.channel);
  append_position(out, m.position);
  out += ",\"type\":";
  json::append_string(out, m.type);
  out += ",\"data\":";
  out += m.data;
  if (!m.key.empty()) {
    out += ",\"key\":";
    json::append_string(out, m.key);
    if (m.deleted) out += ",\"delete\":true";
  }
  out += ",\"ts\":";
  out += std::to_string(m.ts_ms);
  if (!m.timestamp.empty()) {  // passed through from a bridged payload (docs/PROTOCOL.md)
    out += ",\"timestamp\":";
    out += m.timestamp;
  }
  out += '}';
  return out;
}

std::string subscribed(std::string_view channel, const Position& latest,
                       std::optional<bool> recovered, std::string_view ref) {
  std::string out = "{\"op\":\"subscribed\",\"channel\":";
  json::append_string(out, channel);
  append_position(out, latest);
  if (recovered) out += *recovered ? ",\"recovered\":true" : ",\"recovered\":false";
  append_ref(out, ref);
  out += '}';
  return out;
}

std::string presence_client(uint64_t id, const std::string* user) {
  std::string out = "{\"id\":" + std::to_string(id) + ",\"user\":";
  if (user)
    json::append_string(out, *user);
  else
    out += "null";
  out += '}';
  return out;
}

std::string presence_event(std::string_view op, std::string_view channel, std::string_view client) {
  std::string out = "{\"op\":";
  json::append_string(out, op);
  out += ",\"channel\":";
  json::append_string(out, channel);
  out += ",\"client\":";
  out += client;
  out += '}';
  return out;
}

std::string presence(std::string_view channel, std::string_view clients, std::string_view ref) {
  std::string out = "{\"op\":\"presence\",\"channel\":";
  json::append_string(out, channel);
  out += ",\"clients\":";
  out += clients;
  append_ref(out, ref);
  out += '}';
  return out;
}

std::string snapshot(std::string_view channel, const Position& at, std::string_view items,
                     bool more) {
  std::string out;
  out.reserve(80 + channel.size() + items.size());
  out += "{\"op\":\"snapshot\",\"channel\":";
  json::append_string(out, channel);
  append_position(out, at);
  out += ",\"items\":[";
  out += items;
  out += ']';
  if (more) out += ",\"more\":true";
  out += '}';
  return out;
}

std::string unsubscribed(std::string_view channel, std::string_view ref) {
  std::string out = "{\"op\":\"unsubscribed\",\"channel\":";
  json::append_string(out, channel);
  append_ref(out, ref);
  out += '}';
  return out;
}

std::string published(std::string_view channel, const Position& position, std::string_view ref) {
  std::string out = "{\"op\":\"published\",\"channel\":";
  json::append_string(out, channel);
  append_position(out, position);
  append_ref(out, ref);
  out += '}';
  return out;
}

std::string error(ErrorCode code, std::string_view text, std::string_view ref) {
  std::string out = "{\"op\":\"error\",\"code\":\"";
  out += error_code_name(code);
  out += "\",\"message\":";
  json::append_string(out, text);
  append_ref(out, ref);
  out += '}';
  return out;
}

std::string pong(std::string_view ref) {
  std::string out = "{\"op\":\"pong\"";
  append_ref(out, ref);
  out += '}';
  return out;
}

std::string refreshed(int64_t expires_at, std::string_view ref) {
  std::string out = "{\"op\":\"refreshed\",\"exp\":" + std::to_string(expires_at);
  append_ref(out, ref);
  out += '}';
  return out;
}

std::string ping(int64_t ts_ms) {
  return "{\"op\":\"ping\",\"ts\":" + std::to_string(ts_ms) + "}";
}

Frame make_frame(const TransportKind& kind, std::string_view json) {
  return std::make_shared<const std::string>(kind.frame(json));
}

const Frame& encode_envelope_frame(const Envelope& envelope, const TransportKind& kind) {
  Frame& slot = envelope.frames[kind.index()];
  if (slot) return slot;
  if (!envelope.json)
    envelope.json = std::make_shared<const std::string>(message(envelope.message));
  slot = kind.frame_is_json() ? envelope.json : make_frame(kind, *envelope.json);
  return slot;
}

void forget_frames(const Envelope& envelope) {
  envelope.json.reset();
  for (Frame& f : envelope.frames) f.reset();
}

}  // namespace rthub::codec
