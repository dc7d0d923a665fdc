// options_check.hpp: the checks of a hub's options and of a publish's options, made by the C++
// Hub itself, so that C, C++, Go and Dart hosts all get the same Error(kInvalid) and its text.
#pragma once

#include "core/json_scan.hpp"
#include "rthub/hub.hpp"

namespace rthub {

using json::kMaxIdempotencyKeyBytes;  // the same bound as a publish request's

// Throws Error(kInvalid) naming the first bad field; returns `options` unchanged otherwise.
HubOptions checked_hub_options(HubOptions options);

// Throws Error(kInvalid) for an idempotency key over 128 bytes or not UTF-8.
void check_publish_options(const PublishOptions& options);

}  // namespace rthub
