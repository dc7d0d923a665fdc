// client_options_check.hpp: the one check of a client's options, made by the C++ Client itself,
// so that C, C++, Go and Dart hosts all get the same Error(kInvalid) and its text.
#pragma once

#include "rthub/client.hpp"

namespace rthub::client {

// Throws Error(kInvalid) naming the first bad field (URL, channel name, number); returns
// `options` unchanged otherwise.
ClientOptions validate_client_options(ClientOptions options);

}  // namespace rthub::client
