// epoch.hpp: new channel epochs, the one generator the brokers share.
#pragma once

#include <random>
#include <string>

namespace rthub {

// Eight random base-36 characters: a channel's numbering restarted (see message.hpp, Position).
std::string new_epoch(std::mt19937_64& random);

}  // namespace rthub
