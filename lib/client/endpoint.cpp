#include "client/endpoint.hpp"

#include <cctype>

namespace rthub::client {

std::string Endpoint::host_header() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

std::string Endpoint::websocket_path() const {
  return path_prefix + "/ws";
}

std::string Endpoint::publish_path() const {
  return path_prefix + "/publish";
}

namespace {

// A path and its query, one "name=value" at a time.
class PathWithQuery {
 public:
  explicit PathWithQuery(std::string path) : text_(std::move(path)) {}
  void add(std::string_view name, std::string_view value) {
    text_ += separator_;
    text_ += name;
    text_ += '=';
    text_ += value;
    separator_ = '&';
  }
  void add_channels(const std::vector<std::string>& channels) {
    for (const auto& channel : channels) add("channel", percent_encode(channel));
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
  char separator_ = '?';
};

}  // namespace

std::string Endpoint::events_path(const std::vector<std::string>& channels, bool fallback,
                                  bool snapshot) const {
  PathWithQuery out(path_prefix + "/events");
  out.add_channels(channels);
  if (fallback) out.add("fallback", "1");
  if (snapshot) out.add("snapshot", "1");
  return out.take();
}

std::string Endpoint::poll_path(const std::vector<std::string>& channels, const std::string& cursor,
                                bool fallback, bool snapshot) const {
  PathWithQuery out(path_prefix + "/poll");
  out.add_channels(channels);
  if (!cursor.empty()) out.add("cursor", percent_encode(cursor));
  if (fallback) out.add("fallback", "1");
  if (snapshot) out.add("snapshot", "1");
  return out.take();
}

std::string Endpoint::presence_path(std::string_view channel) const {
  PathWithQuery out(path_prefix + "/presence");
  out.add("channel", percent_encode(channel));
  return out.take();
}

std::string percent_encode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<Endpoint> parse_endpoint(std::string_view url, std::string& error) {
  Endpoint out;
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    error = "the hub URL needs a scheme: http://, https://, ws:// or wss://";
    return std::nullopt;
  }
  std::string scheme(url.substr(0, scheme_end));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "http" || scheme == "ws") {
    out.tls = false;
  } else if (scheme == "https" || scheme == "wss") {
    out.tls = true;
  } else {
    error = "unsupported URL scheme '" + scheme + "': use http(s):// or ws(s)://";
    return std::nullopt;
  }
  std::string_view rest = url.substr(scheme_end + 3);
  size_t path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path =
      path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos) {
    error = "credentials in the URL are not supported: use the token option";
    return std::nullopt;
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated IPv6 address in the URL";
      return std::nullopt;
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "unexpected text after the IPv6 address";
        return std::nullopt;
      }
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) {
    error = "the hub URL has no host";
    return std::nullopt;
  }
  out.port = out.tls ? 443 : 80;
  if (!port_text.empty()) {
    int port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) {
        port = -1;
        break;
      }
      port = port * 10 + (c - '0');
    }
    if (port <= 0 || port > 65535) {
      error = "bad port in the hub URL: " + std::string(port_text);
      return std::nullopt;
    }
    out.port = port;
  }
  if (!path.empty() && path.front() != '/') {
    error = "the hub URL may not carry a query or fragment";
    return std::nullopt;
  }
  size_t query = path.find_first_of("?#");
  if (query != std::string_view::npos) {
    error = "the hub URL may not carry a query or fragment";
    return std::nullopt;
  }
  std::string prefix(path);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  // A URL that names an endpoint itself ("http://h/ws") means its base.
  for (const char* tail : {"/ws", "/events"}) {
    std::string t(tail);
    if (prefix.size() >= t.size() && prefix.compare(prefix.size() - t.size(), t.size(), t) == 0) {
      prefix.resize(prefix.size() - t.size());
      break;
    }
  }
  out.path_prefix = prefix;
  return out;
}

}  // namespace rthub::client
