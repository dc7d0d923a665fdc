// options_check.hpp: the checks of a hub's options and of a publish's options, made by the C++
// Hub itself, so that C, C++, Go and Dart hosts all get the same Error(kInvalid) and its text.
#pragma once

#include "rthub/hub.hpp"

namespace rthub {

// The longest idempotency key a publish may carry (docs/PROTOCOL.md).
constexpr size_t kMaxIdempotencyKeyBytes = 128;

// Throws Error(kInvalid) naming the first bad field; returns `options` unchanged otherwise.
HubOptions checked_hub_options(HubOptions options);

// Throws Error(kInvalid) for an idempotency key over 128 bytes or not UTF-8.
void check_publish_options(const PublishOptions& options);

}  // namespace rthub
