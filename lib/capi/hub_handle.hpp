// hub_handle.hpp: what an rthub_hub* of the C ABI points to, shared by the C files of the hub.
#pragma once

#include <utility>

#include "rthub/hub.hpp"
#include "rthub/rthub.h"

struct rthub_hub {
  rthub::Hub hub;
  explicit rthub_hub(rthub::HubOptions options) : hub(std::move(options)) {}
};
