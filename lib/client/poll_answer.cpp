#include "client/poll_answer.hpp"

namespace rthub::client {
namespace {

// A cursor over the body. Values are only delimited here, not validated: every message is read
// by decode_server_object afterwards, which rejects what is not JSON.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  bool take(char c) {
    skip_space();
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  // A string literal, unescaped into `out` (\uXXXX only below 0x80: cursors and keys are ASCII).
  bool string(std::string& out) {
    skip_space();
    if (peek() != '"') return false;
    ++pos_;
    out.clear();
    while (!at_end()) {
      char c = text_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (at_end()) return false;
      char e = text_[pos_++];
      switch (e) {
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'u': {
          if (text_.size() - pos_ < 4) return false;
          unsigned value = 0;
          for (int i = 0; i < 4; ++i) {
            char h = text_[pos_++];
            value <<= 4;
            if (h >= '0' && h <= '9')
              value |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f')
              value |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F')
              value |= static_cast<unsigned>(h - 'A' + 10);
            else
              return false;
          }
          if (value >= 0x80) return false;
          out.push_back(static_cast<char>(value));
          break;
        }
        default:  // '"', '\\', '/'
          out.push_back(e);
      }
    }
    return false;
  }

  // The extent of the next value (string, object, array or scalar).
  bool value(std::string_view& out) {
    skip_space();
    size_t start = pos_;
    char c = peek();
    if (c == '"') {
      if (!skip_string()) return false;
    } else if (c == '{' || c == '[') {
      int depth = 0;
      while (!at_end()) {
        char d = text_[pos_];
        if (d == '"') {
          if (!skip_string()) return false;
          continue;
        }
        ++pos_;
        if (d == '{' || d == '[') ++depth;
        if ((d == '}' || d == ']') && --depth == 0) break;
      }
      if (depth != 0) return false;
    } else {
      while (!at_end() && std::string_view(",]} \t\r\n").find(peek()) == std::string_view::npos)
        ++pos_;
      if (pos_ == start) return false;
    }
    out = text_.substr(start, pos_ - start);
    return true;
  }

 private:
  bool skip_string() {
    ++pos_;  // the opening quote
    while (!at_end()) {
      char c = text_[pos_++];
      if (c == '\\') {
        if (at_end()) return false;
        ++pos_;
      } else if (c == '"') {
        return true;
      }
    }
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

bool read_messages(Scanner& in, PollAnswer& out, std::string& error) {
  if (!in.take('[')) return error = "\"messages\" is not an array", false;
  if (in.take(']')) return true;
  do {
    std::string_view message;
    in.skip_space();
    if (in.peek() != '{' || !in.value(message))
      return error = "a message is not a JSON object", false;
    out.messages.push_back(message);
  } while (in.take(','));
  if (!in.take(']')) return error = "\"messages\" is not closed", false;
  return true;
}

}  // namespace

bool decode_poll_answer(std::string_view body, PollAnswer& out, std::string& error) {
  out = PollAnswer{};
  Scanner in(body);
  if (!in.take('{')) return error = "the answer is not a JSON object", false;
  bool has_messages = false;
  if (!in.take('}')) {
    do {
      std::string key;
      if (!in.string(key) || !in.take(':')) return error = "a malformed field", false;
      if (key == "cursor") {
        if (!in.string(out.cursor)) return error = "\"cursor\" is not a string", false;
      } else if (key == "messages") {
        if (!read_messages(in, out, error)) return false;
        has_messages = true;
      } else {
        std::string_view skipped;
        if (!in.value(skipped)) return error = "a malformed value of \"" + key + "\"", false;
      }
    } while (in.take(','));
    if (!in.take('}')) return error = "the answer object is not closed", false;
  }
  in.skip_space();
  if (!in.at_end()) return error = "bytes after the answer object", false;
  if (!has_messages) return error = "the answer has no \"messages\"", false;
  return true;
}

}  // namespace rthub::client
