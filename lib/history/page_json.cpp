#include "history/page_json.hpp"

#include "core/codec.hpp"
#include "core/json_scan.hpp"

namespace rthub {

std::string history_page_json(const HistoryPage& page) {
  std::string body = "{\"channel\":";
  json::append_string(body, page.channel);
  body += ",\"epoch\":";
  json::append_string(body, page.epoch);
  body += ",\"messages\":[";
  for (size_t i = 0; i < page.messages.size(); ++i) {
    if (i) body += ',';
    body += codec::message(page.messages[i]);
  }
  body += "]}";
  return body;
}

}  // namespace rthub
