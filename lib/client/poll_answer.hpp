// poll_answer.hpp: reading one answer of the hub's long-polling endpoint,
// `{"cursor":"...","messages":[{...},...]}`.
//
// The messages are handed on as the exact bytes the hub sent (each is read like one WebSocket or
// SSE object afterwards), so nothing is rebuilt and a publisher's `data` stays byte for byte.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rthub::client {

struct PollAnswer {
  std::string cursor;                      // where the next poll continues; "" when absent
  std::vector<std::string_view> messages;  // views into the body, in order
};

// False (with `error`) when `body` is not such an object. Unknown fields are skipped (the
// protocol may grow); each message must be a JSON object.
bool decode_poll_answer(std::string_view body, PollAnswer& out, std::string& error);

}  // namespace rthub::client
