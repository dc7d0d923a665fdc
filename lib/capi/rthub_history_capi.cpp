// The C functions of the history API (rthub.h: rthub_hub_history, rthub_string_free).
#include "rthub/rthub.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "capi/guard.hpp"
#include "capi/hub_handle.hpp"
#include "history/page_json.hpp"

using rthub::capi::fail;
using rthub::capi::guarded;

extern "C" {

rthub_err rthub_hub_history(rthub_hub* hub, const char* channel, rthub_history_direction direction,
                            uint64_t seq, size_t limit, char** json_out) {
  if (!hub) return fail(RTHUB_ERR_INVALID, "hub is NULL");
  if (!channel) return fail(RTHUB_ERR_INVALID, "channel is NULL");
  if (!json_out) return fail(RTHUB_ERR_INVALID, "json_out is NULL");
  *json_out = nullptr;
  if (direction != RTHUB_HISTORY_LATEST && direction != RTHUB_HISTORY_BEFORE &&
      direction != RTHUB_HISTORY_AFTER)
    return fail(RTHUB_ERR_INVALID, "direction is not an rthub_history_direction");
  return guarded([&] {
    rthub::HistoryQuery query;
    query.direction = static_cast<rthub::HistoryDirection>(direction);
    query.seq = seq;
    query.limit = limit;
    std::string text = rthub::history_page_json(hub->hub.history(channel, query));
    // malloc, not new: the host frees it with rthub_string_free, whatever its allocator.
    char* copy = static_cast<char*>(std::malloc(text.size() + 1));
    if (!copy) throw rthub::Error(rthub::Errc::kNoMemory, "out of memory");
    std::memcpy(copy, text.c_str(), text.size() + 1);
    *json_out = copy;
  });
}

void rthub_string_free(char* text) {
  std::free(text);
}

}  // extern "C"
