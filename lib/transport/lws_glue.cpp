#include "transport/lws_glue.hpp"

#include <cstring>

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
  char buffer[8192];
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
