#include "transport/lws_glue.hpp"

#include <cstring>

#include "rthub/hub.hpp"

namespace rthub {

std::string peer_address(struct lws* wsi) {
  char name[64] = {0};
  if (!lws_get_peer_simple(wsi, name, sizeof(name))) return {};
  return name;
}

std::string header(struct lws* wsi, enum lws_token_indexes token) {
  int len = lws_hdr_total_length(wsi, token);
  if (len <= 0) return {};
  std::string out(static_cast<size_t>(len) + 1, '\0');
  int n = lws_hdr_copy(wsi, out.data(), len + 1, token);
  if (n < 0) return {};
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string custom_header(struct lws* wsi, const char* name_with_colon) {
  int name_len = static_cast<int>(std::strlen(name_with_colon));
  int len = lws_hdr_custom_length(wsi, name_with_colon, name_len);
  if (len <= 0) return {};
  std::string out(static_cast<size_t>(len) + 1, '\0');
  int n = lws_hdr_custom_copy(wsi, out.data(), len + 1, name_with_colon, name_len);
  if (n < 0) return {};
  out.resize(static_cast<size_t>(n));
  return out;
}

std::vector<std::string> query_values(struct lws* wsi, const char* name) {
  std::vector<std::string> out;
  size_t name_len = std::strlen(name);
  char buffer[16384];
  for (int i = 0;; ++i) {
    int n = lws_hdr_copy_fragment(wsi, buffer, sizeof(buffer), WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0) break;
    std::string_view arg(buffer, static_cast<size_t>(n));
    if (arg.size() > name_len && arg.compare(0, name_len, name) == 0 && arg[name_len] == '=')
      out.emplace_back(arg.substr(name_len + 1));
  }
  return out;
}

}  // namespace rthub

namespace rthub {

ConnectRequest connect_request(struct lws* wsi, const char* transport, const std::string& path) {
  ConnectRequest r;
  r.transport = transport;
  r.peer = peer_address(wsi);
  r.origin = header(wsi, WSI_TOKEN_ORIGIN);
  r.path = path;
  std::string auth = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
  if (auth.rfind("Bearer ", 0) == 0) {
    r.token = auth.substr(7);
  } else {
    auto tokens = query_values(wsi, "token");
    if (!tokens.empty()) r.token = tokens.front();
  }
  return r;
}

int add_cors_headers(struct lws* wsi, const HubOptions& options, unsigned char** p,
                     unsigned char* end) {
  return add_cors_headers_for(wsi, options, header(wsi, WSI_TOKEN_ORIGIN), p, end);
}

std::vector<std::pair<const char*, std::string>> cors_fields(const HubOptions& options,
                                                             const std::string& origin) {
  if (origin.empty()) return {};
  bool allowed = options.allowed_origins.empty();
  for (const auto& o : options.allowed_origins) allowed = allowed || o == "*" || o == origin;
  if (!allowed) return {};
  return {{"access-control-allow-origin", origin},
          {"vary", "Origin"},
          {"access-control-allow-headers", "Authorization, Content-Type, Last-Event-ID"},
          {"access-control-allow-methods", "GET, POST, OPTIONS"},
          {"access-control-max-age", "600"}};
}

int add_cors_headers_for(struct lws* wsi, const HubOptions& options, const std::string& origin,
                         unsigned char** p, unsigned char* end) {
  for (const auto& field : cors_fields(options, origin)) {
    std::string name = std::string(field.first) + ":";
    if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(name.c_str()),
                                    reinterpret_cast<const unsigned char*>(field.second.data()),
                                    static_cast<int>(field.second.size()), p, end))
      return 1;
  }
  return 0;
}

int write_http_answer(
    struct lws* wsi, unsigned int status, const char* content_type, const std::string& body,
    const std::function<int(unsigned char** p, unsigned char* end)>& more_headers) {
  constexpr size_t kHeaderRoom = 1024;
  std::vector<unsigned char> buffer(LWS_PRE + kHeaderRoom + body.size());
  unsigned char* start = buffer.data() + LWS_PRE;
  unsigned char* headers_end = start + kHeaderRoom;
  unsigned char* p = start;
  if (lws_add_http_common_headers(wsi, status, content_type, body.size(), &p, headers_end) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                   reinterpret_cast<const unsigned char*>("no-store"), 8, &p,
                                   headers_end) ||
      more_headers(&p, headers_end))
    return -1;
  if (lws_get_network_wsi(wsi) != wsi) {  // an HTTP/2 stream: headers and body are two frames
    if (lws_finalize_write_http_header(wsi, start, &p, headers_end)) return -1;
    std::memcpy(headers_end, body.data(), body.size());  // the header room serves as LWS_PRE
    return lws_write(wsi, headers_end, body.size(), LWS_WRITE_HTTP_FINAL) < 0 ? -1 : 0;
  }
  if (lws_finalize_http_header(wsi, &p, headers_end)) return -1;
  std::memcpy(p, body.data(), body.size());
  size_t length = static_cast<size_t>(p - start) + body.size();
  return lws_write(wsi, start, length, LWS_WRITE_HTTP_FINAL) < 0 ? -1 : 0;
}

}  // namespace rthub
