// endpoint.hpp: where a hub is, from its base URL, and the request paths built on it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rthub::client {

// A hub's base URL, `http(s)://host[:port][/prefix]` (ws:// and wss:// are accepted too).
struct Endpoint {
  bool tls = false;
  std::string host;  // name or address; an IPv6 literal without its brackets
  int port = 0;
  std::string path_prefix;  // "" or "/prefix", never with a trailing '/'

  // The Host header's value: host, with the port when it is not the scheme's default.
  std::string host_header() const;
  // "/prefix/ws"
  std::string websocket_path() const;
  // "/prefix/events?channel=A&channel=B", plus "&fallback=1" when the stream replaces a
  // WebSocket that could not be opened (the hub counts those), plus "&snapshot=1" when a
  // channel wants its keyed snapshot.
  std::string events_path(const std::vector<std::string>& channels, bool fallback,
                          bool snapshot = false) const;
  // "/prefix/poll?channel=A&channel=B", plus "&cursor=CUR" (percent-encoded) when `cursor` is
  // not empty, "&fallback=1" when long-polling replaces an event stream and "&snapshot=1" as
  // for events_path.
  std::string poll_path(const std::vector<std::string>& channels, const std::string& cursor,
                        bool fallback, bool snapshot = false) const;
  // "/prefix/publish"
  std::string publish_path() const;
  // "/prefix/presence?channel=C" (percent-encoded)
  std::string presence_path(std::string_view channel) const;
};

// Parses a base URL; on failure `error` says why.
std::optional<Endpoint> parse_endpoint(std::string_view url, std::string& error);

// Percent-encodes everything but RFC 3986 unreserved characters, for a query value.
std::string percent_encode(std::string_view text);

}  // namespace rthub::client
