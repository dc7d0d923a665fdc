// guard.hpp: how every C entry point reports failure: an rthub_err, plus a detail text in the
// calling thread's slot that rthub_last_error() returns. No exception crosses into C.
#pragma once

#include <new>
#include <string>

#include "rthub/error.hpp"
#include "rthub/rthub.h"

namespace rthub::capi {

// The calling thread's detail text (defined in rthub_capi.cpp).
std::string& last_error();

inline rthub_err fail(rthub_err err, const std::string& detail) {
  last_error() = detail;
  return err;
}

inline rthub_err from_errc(Errc code) {
  int value = static_cast<int>(code);
  return value >= 0 && value <= RTHUB_ERR_UNKNOWN_OUTCOME ? static_cast<rthub_err>(value)
                                                          : RTHUB_ERR_INTERNAL;
}

// Runs `body`, turning every exception into an error code and its detail.
template <typename Body>
rthub_err guarded(Body&& body) {
  try {
    last_error().clear();
    body();
    return RTHUB_OK;
  } catch (const Error& e) {
    return fail(from_errc(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(RTHUB_ERR_NOMEM, "out of memory");
  } catch (const std::exception& e) {
    return fail(RTHUB_ERR_INTERNAL, e.what());
  } catch (...) {
    return fail(RTHUB_ERR_INTERNAL, "unknown exception");
  }
}

}  // namespace rthub::capi
