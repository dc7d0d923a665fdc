// poll_kind.hpp: what the hub knows of long-polling: "poll"; a message goes out as its JSON
// object itself (an answer's "messages" array holds them), so pollers share the JSON the hub
// encodes once. An answer cannot carry an error object in place of messages: the poll ends, and
// the client polls again. No heartbeats: an idle poll is answered when it times out.
#pragma once

#include "rthub/transport.hpp"

namespace rthub {

const TransportKind& poll_kind();

}  // namespace rthub
