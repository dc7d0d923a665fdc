#include "client/wire.hpp"

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "common/json_string.hpp"
#include "common/parse_seq.hpp"

namespace rthub::client {
namespace {

constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag |
                            rapidjson::kParseValidateEncodingFlag;
using Stream = rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream>;

bool parse_signed(std::string_view s, int64_t& out) {
  bool negative = !s.empty() && s.front() == '-';
  uint64_t magnitude = 0;
  if (!parse_seq(negative ? s.substr(1) : s, magnitude) || magnitude > INT64_MAX) return false;
  out = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

// Picks the top-level fields of one server object out of the SAX events; "data" is kept as the
// byte range it occupies in the text.
class ObjectReader : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ObjectReader> {
 public:
  ObjectReader(std::string_view text, const Stream& stream, ServerObject& out)
      : text_(text), stream_(stream), out_(out) {}

  std::string error;

  bool StartObject() {
    if (depth_ == 0) {
      ++depth_;
      return true;
    }
    begin_value();
    ++depth_;
    return true;
  }
  // The iterative reader reports the end of a container before it takes the closing bracket.
  bool EndObject(rapidjson::SizeType) {
    --depth_;
    finish_capture(1);
    return true;
  }
  bool StartArray() {
    if (depth_ == 0) return reject("expected a JSON object");
    begin_value();
    ++depth_;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth_;
    finish_capture(1);
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    after_key_ = stream_.Tell();
    if (depth_ == 1) key_.assign(s, n);
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 0) return reject("expected a JSON object");
    begin_value();
    if (depth_ == 1) {
      std::string value(s, n);
      if (key_ == "op")
        out_.op_name = value;
      else if (key_ == "channel")
        out_.channel = value;
      else if (key_ == "epoch")
        out_.epoch = value;
      else if (key_ == "type")
        out_.type = value;
      else if (key_ == "code")
        out_.code = value;
      else if (key_ == "message")
        out_.message = value;
      else if (key_ == "key")
        out_.key = value;
      else if (key_ == "ref") {
        uint64_t ref = 0;
        if (parse_seq(value, ref)) out_.ref = ref;
      }
    }
    finish_capture();
    return true;
  }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 0) return reject("expected a JSON object");
    begin_value();
    if (depth_ == 1) {
      std::string_view value(s, n);
      if (key_ == "seq") {
        out_.has_seq = parse_seq(value, out_.seq);
      } else if (key_ == "ts") {
        parse_signed(value, out_.ts_ms);
      } else if (key_ == "ref") {
        uint64_t ref = 0;
        if (parse_seq(value, ref)) out_.ref = ref;
      }
    }
    finish_capture();
    return true;
  }
  bool Bool(bool b) {
    if (depth_ == 0) return reject("expected a JSON object");
    begin_value();
    if (depth_ == 1 && key_ == "recovered") out_.recovered = b;
    if (depth_ == 1 && key_ == "delete") out_.deleted = b;
    if (depth_ == 1 && key_ == "more") out_.more = b;
    finish_capture();
    return true;
  }
  bool Default() {  // null
    if (depth_ == 0) return reject("expected a JSON object");
    begin_value();
    finish_capture();
    return true;
  }

 private:
  bool reject(const char* why) {
    error = why;
    return false;
  }
  // Fields kept as their raw JSON text, byte for byte.
  std::string* raw_field() {
    if (key_ == "data") return &out_.data;
    if (key_ == "items") return &out_.items;
    if (key_ == "clients" || key_ == "client") return &out_.members;
    return nullptr;
  }
  // A raw field's value starts after its key's closing quote, blanks and the colon.
  void begin_value() {
    if (depth_ != 1 || capturing_ || !(capture_into_ = raw_field())) return;
    size_t p = after_key_;
    while (p < text_.size() && (text_[p] == ' ' || text_[p] == '\t' || text_[p] == '\n' ||
                                text_[p] == '\r' || text_[p] == ':'))
      ++p;
    capturing_ = true;
    capture_begin_ = p;
  }
  void finish_capture(size_t closing_bracket = 0) {
    if (capturing_ && depth_ == 1) {
      size_t end = stream_.Tell() + closing_bracket;
      capture_into_->assign(text_.substr(capture_begin_, end - capture_begin_));
      capturing_ = false;
    }
  }

  std::string_view text_;
  const Stream& stream_;
  ServerObject& out_;
  int depth_ = 0;
  std::string key_;
  size_t after_key_ = 0;
  bool capturing_ = false;
  std::string* capture_into_ = nullptr;
  size_t capture_begin_ = 0;
};

ServerOp op_of(const std::string& name) {
  if (name == "message") return ServerOp::kMessage;
  if (name == "subscribed") return ServerOp::kSubscribed;
  if (name == "unsubscribed") return ServerOp::kUnsubscribed;
  if (name == "published") return ServerOp::kPublished;
  if (name == "error") return ServerOp::kError;
  if (name == "ping") return ServerOp::kPing;
  if (name == "pong") return ServerOp::kPong;
  if (name == "snapshot") return ServerOp::kSnapshot;
  if (name == "presence") return ServerOp::kPresence;
  if (name == "join") return ServerOp::kJoin;
  if (name == "leave") return ServerOp::kLeave;
  return ServerOp::kUnknown;
}

}  // namespace

bool decode_server_object(std::string_view text, ServerObject& out, std::string& error) {
  out = ServerObject{};
  rapidjson::MemoryStream memory(text.data(), text.size());
  Stream stream(memory);
  ObjectReader reader_handler(text, stream, out);
  rapidjson::Reader reader;
  rapidjson::ParseResult result = reader.Parse<kFlags>(stream, reader_handler);
  if (!result) {
    error = !reader_handler.error.empty()
                ? reader_handler.error
                : std::string("invalid JSON: ") + rapidjson::GetParseError_En(result.Code()) +
                      " at byte " + std::to_string(result.Offset());
    return false;
  }
  out.op = op_of(out.op_name);
  return true;
}

HttpRefusal decode_http_refusal(int http_status, std::string_view body, std::string_view request) {
  HttpRefusal refusal;
  refusal.code = http_status == 401   ? "unauthorized"
                 : http_status == 403 ? "forbidden"
                 : http_status == 413 ? "too_large"
                 : http_status == 501 ? "unsupported"
                 : http_status == 503 ? "unavailable"
                 : http_status >= 500 ? "internal"
                                      : "bad_request";
  refusal.message = std::string(request) + " answered HTTP " + std::to_string(http_status);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("error") && doc["error"].IsObject()) {
    const auto& e = doc["error"];
    if (e.HasMember("code") && e["code"].IsString()) refusal.code = e["code"].GetString();
    if (e.HasMember("message") && e["message"].IsString())
      refusal.message = e["message"].GetString();
  }
  return refusal;
}

PublishAnswer decode_publish_answer(int http_status, std::string_view body) {
  PublishAnswer answer;
  if (http_status != 200) {
    HttpRefusal refusal = decode_http_refusal(http_status, body, "POST /publish");
    answer.code = std::move(refusal.code);
    answer.message = std::move(refusal.message);
    return answer;
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("channel") &&
      doc["channel"].IsString() && doc.HasMember("epoch") && doc["epoch"].IsString() &&
      doc.HasMember("seq") && doc["seq"].IsUint64()) {
    answer.ok = true;
    answer.channel = doc["channel"].GetString();
    answer.position.epoch = doc["epoch"].GetString();
    answer.position.seq = doc["seq"].GetUint64();
    return answer;
  }
  answer.code = "internal";
  answer.message = "unexpected answer to POST /publish";
  return answer;
}

std::string encode_subscribe(std::string_view channel, const std::optional<Position>& since,
                             uint64_t id, bool snapshot, bool presence) {
  std::string out = "{\"op\":\"subscribe\",\"channel\":";
  json::append_string(out, channel);
  if (since) {
    out += ",\"since\":{\"epoch\":";
    json::append_string(out, since->epoch);
    out += ",\"seq\":" + std::to_string(since->seq) + "}";
  }
  if (snapshot) out += ",\"snapshot\":true";
  if (presence) out += ",\"presence\":true";
  out += ",\"id\":" + std::to_string(id) + "}";
  return out;
}

std::string encode_presence(std::string_view channel, uint64_t id) {
  std::string out = "{\"op\":\"presence\",\"channel\":";
  json::append_string(out, channel);
  out += ",\"id\":" + std::to_string(id) + "}";
  return out;
}

std::string encode_unsubscribe(std::string_view channel, uint64_t id) {
  std::string out = "{\"op\":\"unsubscribe\",\"channel\":";
  json::append_string(out, channel);
  out += ",\"id\":" + std::to_string(id) + "}";
  return out;
}

std::string encode_publish(std::string_view channel, std::string_view type, std::string_view data,
                           uint64_t id, const PublishKey& key) {
  std::string out = "{\"op\":\"publish\",";
  out += encode_publish_body(channel, type, data, key).substr(1);
  out.insert(out.size() - 1, ",\"id\":" + std::to_string(id));
  return out;
}

std::string encode_ping(uint64_t id) {
  return "{\"op\":\"ping\",\"id\":" + std::to_string(id) + "}";
}

std::string encode_publish_body(std::string_view channel, std::string_view type,
                                std::string_view data, const PublishKey& key) {
  std::string out = "{\"channel\":";
  json::append_string(out, channel);
  out += ",\"type\":";
  json::append_string(out, type);
  out += ",\"data\":";
  out += data.empty() ? std::string_view("null") : data;
  if (!key.key.empty()) {
    out += ",\"key\":";
    json::append_string(out, key.key);
  }
  if (key.deleted) out += ",\"delete\":true";
  out += "}";
  return out;
}

bool is_json_value(std::string_view text) {
  rapidjson::MemoryStream memory(text.data(), text.size());
  Stream stream(memory);
  rapidjson::BaseReaderHandler<> ignore;
  rapidjson::Reader reader;
  return static_cast<bool>(reader.Parse<kFlags>(stream, ignore));
}

}  // namespace rthub::client
