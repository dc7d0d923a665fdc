#include "client/state_wire.hpp"

#include <rapidjson/document.h>

#include "client/wire.hpp"

namespace rthub::client {
namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool decode_member(const rapidjson::Value& v, PresenceMember& out) {
  if (!v.IsObject()) return false;
  auto id = v.FindMember("id");
  if (id == v.MemberEnd() || !id->value.IsUint64()) return false;
  out.id = id->value.GetUint64();
  auto user = v.FindMember("user");
  if (user != v.MemberEnd() && user->value.IsString())
    out.user = std::string(user->value.GetString(), user->value.GetStringLength());
  return true;
}

}  // namespace

// The text is valid JSON, so a scan that skips strings and counts brackets finds the commas
// that separate the top-level elements.
bool split_json_array(std::string_view array, std::vector<std::string_view>& elements) {
  elements.clear();
  size_t i = 0;
  while (i < array.size() && is_blank(array[i])) ++i;
  if (i == array.size() || array[i] != '[') return false;
  int depth = 0;
  bool in_string = false;
  size_t begin = i + 1;
  auto add = [&](size_t end) {
    size_t b = begin;
    while (b < end && is_blank(array[b])) ++b;
    while (end > b && is_blank(array[end - 1])) --end;
    if (end > b) elements.push_back(array.substr(b, end - b));
  };
  for (; i < array.size(); ++i) {
    char c = array[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) {
        add(i);
        return true;
      }
    } else if (c == ',' && depth == 1) {
      add(i);
      begin = i + 1;
    }
  }
  return false;
}

bool decode_snapshot_items(std::string_view items, std::vector<KeyedMessage>& out,
                           std::string& error) {
  out.clear();
  std::vector<std::string_view> elements;
  if (!split_json_array(items, elements)) {
    error = "snapshot items are not an array";
    return false;
  }
  out.reserve(elements.size());
  for (std::string_view element : elements) {
    ServerObject item;
    if (!decode_server_object(element, item, error)) return false;
    if (!item.has_seq) {
      error = "a snapshot item without seq";
      return false;
    }
    if (item.key.empty() || item.deleted) continue;
    KeyedMessage m;
    m.key = std::move(item.key);
    m.seq = item.seq;
    m.type = std::move(item.type);
    m.data = std::move(item.data);
    m.ts_ms = item.ts_ms;
    out.push_back(std::move(m));
  }
  return true;
}

bool decode_members(std::string_view raw, std::vector<PresenceMember>& out, std::string& error) {
  out.clear();
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(raw.data(), raw.size());
  if (doc.HasParseError() || !(doc.IsArray() || doc.IsObject())) {
    error = "presence members are neither an array nor an object";
    return false;
  }
  PresenceMember member;
  if (doc.IsObject()) {
    if (!decode_member(doc, member)) {
      error = "a presence member without a numeric id";
      return false;
    }
    out.push_back(std::move(member));
    return true;
  }
  for (const auto& v : doc.GetArray()) {
    member = PresenceMember{};
    if (!decode_member(v, member)) {
      error = "a presence member without a numeric id";
      return false;
    }
    out.push_back(std::move(member));
  }
  return true;
}

}  // namespace rthub::client
