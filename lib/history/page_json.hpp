// page_json.hpp: a page of history as JSON, the one text GET /history and rthub_hub_history give.
#pragma once

#include <string>

#include "rthub/history.hpp"

namespace rthub {

// {"channel":C,"epoch":E,"messages":[...]}: each message the object a subscriber receives.
std::string history_page_json(const HistoryPage& page);

}  // namespace rthub
