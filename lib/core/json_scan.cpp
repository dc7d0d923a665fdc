#include "core/json_scan.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "common/parse_seq.hpp"
#include "core/utf8.hpp"

namespace rthub::json {
namespace {

constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag |
                            rapidjson::kParseValidateEncodingFlag;

// A plain memory stream: RapidJSON's encoded-stream wrapper would skip a leading byte-order mark.
using Stream = rapidjson::MemoryStream;

// Picks request fields out of the SAX events. `item_depth` is the nesting level of the request
// objects: 1 for a lone object, 2 for the objects of an array.
class FieldPicker : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, FieldPicker> {
 public:
  FieldPicker(std::string_view text, const Stream& stream, bool allow_array)
      : text_(text), stream_(stream), allow_array_(allow_array) {}

  Scan scan;

  bool StartObject() {
    if (depth_ == 0) {
      item_depth_ = 1;
      scan.items.emplace_back();
    } else if (depth_ == 1 && scan.array) {
      scan.items.emplace_back();
    } else {
      begin_value();
      if (depth_ == item_depth_ && key_ == Field::kSince)
        in_since_ = true;
      else if (depth_ == item_depth_)
        mistyped();
    }
    ++depth_;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    --depth_;
    if (depth_ == item_depth_ && in_since_) {
      in_since_ = false;
      if (fields().error.empty() && (!since_epoch_seen_ || !since_seq_seen_))
        fields().error = "since needs epoch (string) and seq (integer)";
      fields().has_since = true;
      since_epoch_seen_ = since_seq_seen_ = false;
    }
    end_container();
    return true;
  }
  bool StartArray() {
    if (depth_ == 0) {
      if (!allow_array_) return reject("expected a JSON object");
      scan.array = true;
      item_depth_ = 2;
    } else if (depth_ == 1 && scan.array) {
      return reject_item();
    } else {
      begin_value();
      if (depth_ == item_depth_) mistyped();
    }
    ++depth_;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth_;
    end_container();
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (!decoded_ok(s, n)) return false;
    after_key_ = stream_.Tell();
    std::string_view k(s, n);
    if (depth_ == item_depth_) {
      key_ = k == "op"                ? Field::kOp
             : k == "channel"         ? Field::kChannel
             : k == "type"            ? Field::kType
             : k == "data"            ? Field::kData
             : k == "id"              ? Field::kId
             : k == "since"           ? Field::kSince
             : k == "token"           ? Field::kToken
             : k == "idempotency_key" ? Field::kIdempotencyKey
             : k == "key"             ? Field::kKey
             : k == "delete"          ? Field::kDelete
             : k == "snapshot"        ? Field::kSnapshot
             : k == "presence"        ? Field::kPresence
             : k == "timestamp"       ? Field::kTimestamp
                                      : Field::kOther;
    } else if (in_since_ && depth_ == item_depth_ + 1) {
      since_key_ = k == "epoch" ? SinceField::kEpoch
                   : k == "seq" ? SinceField::kSeq
                                : SinceField::kOther;
    }
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (!scalar_guard() || !decoded_ok(s, n)) return false;
    begin_value(true);
    if (depth_ == item_depth_) {
      switch (key_) {
        case Field::kOp:
          set(fields().op, fields().has_op, s, n);
          break;
        case Field::kChannel:
          set(fields().channel, fields().has_channel, s, n);
          break;
        case Field::kType:
          set(fields().type, fields().has_type, s, n);
          break;
        case Field::kToken:
          set(fields().token, fields().has_token, s, n);
          break;
        case Field::kIdempotencyKey:
          idempotency_key(s, n);
          break;
        case Field::kKey:
          key(s, n);
          break;
        case Field::kSince:
        case Field::kDelete:
        case Field::kSnapshot:
        case Field::kPresence:
          mistyped();
          break;
        default:
          break;
      }
    } else if (in_since_ && depth_ == item_depth_ + 1) {
      if (since_key_ == SinceField::kEpoch) {
        fields().since_epoch.assign(s, n);
        since_epoch_seen_ = true;
      } else if (since_key_ == SinceField::kSeq) {
        since_type_error();
      }
    }
    end_scalar();
    return true;
  }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    if (!scalar_guard()) return false;
    begin_value(true);
    if (depth_ == item_depth_) {
      if (key_ != Field::kData && key_ != Field::kId && key_ != Field::kTimestamp &&
          key_ != Field::kOther)
        mistyped();
    } else if (in_since_ && depth_ == item_depth_ + 1) {
      if (since_key_ == SinceField::kSeq) {
        if (parse_seq(std::string_view(s, n), fields().since_seq))
          since_seq_seen_ = true;
        else
          since_type_error();
      } else if (since_key_ == SinceField::kEpoch) {
        since_type_error();
      }
    }
    end_scalar();
    return true;
  }
  // The flags ("delete", "snapshot", "presence") take true or false; other fields as Default().
  bool Bool(bool b) {
    if (depth_ == item_depth_ && depth_ > 0 && !in_since_) {
      bool* flag = key_ == Field::kDelete     ? &fields().delete_key
                   : key_ == Field::kSnapshot ? &fields().snapshot
                   : key_ == Field::kPresence ? &fields().presence
                                              : nullptr;
      if (flag) {
        if (!scalar_guard()) return false;
        begin_value();
        *flag = b;
        end_scalar();
        return true;
      }
    }
    return Default();
  }
  // null, true and false: only `data` (or unknown keys) may hold them at the top of a request.
  bool Default() {
    if (!scalar_guard()) return false;
    begin_value();
    if (depth_ == item_depth_ && key_ != Field::kData && key_ != Field::kTimestamp &&
        key_ != Field::kOther)
      mistyped();  // id too
    if (in_since_ && depth_ == item_depth_ + 1 && since_key_ != SinceField::kOther)
      since_type_error();
    end_scalar();
    return true;
  }

 private:
  enum class Field {
    kNone,
    kOp,
    kChannel,
    kType,
    kData,
    kId,
    kSince,
    kToken,
    kIdempotencyKey,
    kKey,
    kDelete,
    kSnapshot,
    kPresence,
    kTimestamp,
    kOther
  };
  enum class SinceField { kOther, kEpoch, kSeq };

  Fields& fields() { return scan.items.back(); }

  // RapidJSON lets a lone low-surrogate escape ("\udc00") decode to bytes that are not UTF-8;
  // such a string must never reach a frame.
  bool decoded_ok(const char* s, size_t n) {
    if (is_valid_utf8(std::string_view(s, n))) return true;
    scan.error = "string escapes do not form valid UTF-8";
    return false;
  }
  bool reject(const char* why) {
    scan.error = why;
    return false;
  }
  // A bare scalar at the top level, or as an array item, is not a request.
  bool scalar_guard() {
    if (depth_ == 0)
      return reject(allow_array_ ? "expected a JSON object or array" : "expected a JSON object");
    if (depth_ == 1 && scan.array) return reject_item();
    return true;
  }
  bool reject_item() {
    scan.error = "item " + std::to_string(scan.items.size()) + ": must be an object";
    return false;
  }
  void set(std::string& field, bool& has, const char* s, size_t n) {
    field.assign(s, n);
    has = true;
  }
  void mistyped() {
    if (!fields().error.empty()) return;
    static const char* const kWhy[] = {"",
                                       "op must be a string",
                                       "channel must be a string",
                                       "type must be a string",
                                       "",
                                       "id must be a number or string",
                                       "since must be an object",
                                       "token must be a string",
                                       "idempotency_key must be a string",
                                       "key must be a string",
                                       "delete must be true or false",
                                       "snapshot must be true or false",
                                       "presence must be true or false",
                                       "",
                                       ""};
    const char* why = kWhy[static_cast<int>(key_)];
    if (*why) fields().error = why;
  }
  void idempotency_key(const char* s, size_t n) {
    if (!fields().error.empty()) return;
    if (n == 0 || n > kMaxIdempotencyKeyBytes)
      fields().error = "idempotency_key must be 1-" + std::to_string(kMaxIdempotencyKeyBytes) +
                       " bytes (got " + std::to_string(n) + ")";
    else
      fields().idempotency_key.assign(s, n);
  }
  void key(const char* s, size_t n) {
    if (!fields().error.empty()) return;
    if (n == 0 || n > kMaxKeyBytes)
      fields().error = "key must be 1-" + std::to_string(kMaxKeyBytes) + " bytes (got " +
                       std::to_string(n) + ")";
    else
      fields().key.assign(s, n);
  }
  void since_type_error() {
    if (fields().error.empty()) fields().error = "since needs epoch (string) and seq (integer)";
  }
  // The value of a captured key starts after the key's closing quote, blanks and the colon.
  void begin_value(bool scalar_id = false) {
    if (depth_ != item_depth_ || capture_ != nullptr) return;
    if (key_ != Field::kData && key_ != Field::kTimestamp && !(key_ == Field::kId && scalar_id))
      return;
    size_t p = after_key_;
    while (p < text_.size() && (text_[p] == ' ' || text_[p] == '\t' || text_[p] == '\n' ||
                                text_[p] == '\r' || text_[p] == ':'))
      ++p;
    capture_ = key_ == Field::kData        ? &fields().data
               : key_ == Field::kTimestamp ? &fields().timestamp
                                           : &fields().id;
    capture_->begin = p;
    capture_depth_ = depth_;
  }
  void end_scalar() { finish_capture(); }
  // The iterative reader reports the end of an object or array before it consumes the closing
  // bracket, so the range takes that byte in itself.
  void end_container() {
    if (!capture_ || depth_ != capture_depth_) return;
    size_t end = stream_.Tell();
    if (end < text_.size() && (text_[end] == '}' || text_[end] == ']')) ++end;
    capture_->end = end;
    capture_ = nullptr;
  }
  void finish_capture() {
    if (capture_ && depth_ == capture_depth_) {
      capture_->end = stream_.Tell();
      capture_ = nullptr;
    }
  }

  std::string_view text_;
  const Stream& stream_;
  bool allow_array_;
  int depth_ = 0;
  int item_depth_ = 1;
  Field key_ = Field::kNone;
  SinceField since_key_ = SinceField::kOther;
  bool in_since_ = false, since_epoch_seen_ = false, since_seq_seen_ = false;
  size_t after_key_ = 0;
  Range* capture_ = nullptr;
  int capture_depth_ = 0;
};

}  // namespace

Scan scan_requests(std::string_view text, bool allow_array) {
  Stream stream(text.data(), text.size());
  FieldPicker picker(text, stream, allow_array);
  rapidjson::Reader reader;
  rapidjson::ParseResult result = reader.Parse<kFlags>(stream, picker);
  Scan scan = std::move(picker.scan);
  if (!result) {
    if (scan.error.empty()) {
      scan.error = std::string("invalid JSON: ") + rapidjson::GetParseError_En(result.Code()) +
                   " at byte " + std::to_string(result.Offset());
    }
    scan.items.clear();
    return scan;
  }
  // The reader stops at a NUL byte as if the text ended there: whatever follows is not JSON.
  if (stream.Tell() != text.size()) {
    scan.error = "invalid JSON: NUL byte at byte " + std::to_string(stream.Tell());
    scan.items.clear();
    return scan;
  }
  scan.ok = true;
  return scan;
}

namespace {

// Accepts any value, refusing strings whose escapes decode to invalid UTF-8.
struct ValueChecker : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ValueChecker> {
  bool String(const char* s, rapidjson::SizeType n, bool) {
    return is_valid_utf8(std::string_view(s, n));
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return String(s, n, copy); }
};

}  // namespace

bool is_valid_json(std::string_view text) {
  Stream stream(text.data(), text.size());
  ValueChecker checker;
  rapidjson::Reader reader;
  return static_cast<bool>(reader.Parse<kFlags>(stream, checker)) && stream.Tell() == text.size();
}

}  // namespace rthub::json
