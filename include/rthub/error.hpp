// error.hpp: the error codes and exception type shared by the hub, the client and the C ABI.
#pragma once

#include <stdexcept>
#include <string>

#include "rthub/export.h"

namespace rthub {

// Error codes, the same numbers as rthub_err in rthub.h.
enum class Errc : int {
  kOk = 0,
  kInvalid = 1,  // bad argument (channel name, JSON, options)
  kNoMemory = 2,
  kState = 3,        // wrong state: not started, already started, stopped
  kIo = 4,           // socket or file failure (could not listen, ...)
  kUnavailable = 5,  // the broker cannot take the message now; surely not published
  kTooLarge = 6,
  kTimeout = 7,
  kInternal = 8,
  kUnknownOutcome = 9,  // the message may or may not have been published (a broker timeout)
};

class RTHUB_API Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

}  // namespace rthub
