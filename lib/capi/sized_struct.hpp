// sized_struct.hpp: the one home of how a struct crosses the C ABI when the host and the library
// may have been built against different versions of rthub.h (see "Versions of the structs" there).
// Each struct begins with `uint32_t struct_size`, the size the host knows; fields are only ever
// appended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "capi/guard.hpp"

// The bytes of `type` up to the end of `last_field`: what this library knows of the struct. Its
// tail padding is not counted, since a newer header may place a field there.
#define RTHUB_KNOWN_BYTES(type, last_field) \
  (offsetof(type, last_field) + sizeof(((type*)nullptr)->last_field))

namespace rthub::capi {

// Fills a host's struct of `size` bytes (what its header says) from the library's `defaults`:
// the prefix both know gets the defaults, bytes past what the library knows are zeroed, and
// struct_size is set to `size`.
template <typename T>
rthub_err init_sized(T* out, size_t size, const T& defaults, const char* name) {
  if (!out) return fail(RTHUB_ERR_INVALID, std::string(name) + " is NULL");
  if (size < sizeof(uint32_t) || size > UINT32_MAX)
    return fail(RTHUB_ERR_INVALID, std::string(name) + ": struct_size " + std::to_string(size) +
                                       " is not a struct size: pass sizeof *" + name);
  size_t common = size < sizeof(T) ? size : sizeof(T);
  std::memset(out, 0, size);
  std::memcpy(out, &defaults, common);
  out->struct_size = static_cast<uint32_t>(size);
  last_error().clear();
  return RTHUB_OK;
}

// Reads a host's struct into `ours`, which holds the defaults: fields an older (shorter) struct
// lacks keep them. A newer (longer) struct is refused unless every byte past the `known` ones is
// zero: a setting this library cannot honour is an error, not silently dropped. Throws Error.
template <typename T>
void read_sized(const T* in, T& ours, size_t known, const char* name) {
  size_t size = in->struct_size;
  if (size < sizeof(uint32_t))
    throw Error(Errc::kInvalid,
                std::string(name) + "->struct_size not set: call its _init function");
  if (size > known) {
    const unsigned char* bytes = reinterpret_cast<const unsigned char*>(in);
    for (size_t i = known; i < size; ++i)
      if (bytes[i] != 0)
        throw Error(Errc::kInvalid, std::string(name) + " sets a field this library (rthub " +
                                        RTHUB_VERSION_STRING + ", " + std::to_string(known) +
                                        " bytes) does not know: it is " + std::to_string(size) +
                                        " bytes, from a newer rthub.h");
  }
  std::memcpy(&ours, in, size < sizeof(T) ? size : sizeof(T));
  ours.struct_size = sizeof(T);
}

// Writes the library's `full` into a host's struct of out->struct_size bytes: fields past that
// size are left alone. Throws Error when struct_size is not set.
template <typename T>
void write_sized(const T& full, T* out, const char* name) {
  uint32_t size = out->struct_size;
  if (size < sizeof(uint32_t))
    throw Error(Errc::kInvalid, std::string(name) + "->struct_size not set");
  std::memcpy(out, &full, size < sizeof(T) ? size : sizeof(T));
  out->struct_size = size;
}

// The layout of one struct of the C ABI: T, of which this library knows `Known` bytes
// (RTHUB_KNOWN_BYTES of its last field).
template <typename T, size_t Known>
struct Layout {
  // A struct that ends on its last field: a field appended later cannot start in tail padding that
  // an older host's struct_size counts.
  static_assert(sizeof(T) == Known, "an options struct of rthub.h must end without padding");

  // A zeroed T with struct_size set: where the library's defaults start.
  static T zeroed() {
    T o;
    std::memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    return o;
  }
  static rthub_err init(T* out, size_t size, const T& defaults, const char* name) {
    return init_sized(out, size, defaults, name);
  }
  static void read(const T* in, T& ours, const char* name) { read_sized(in, ours, Known, name); }
};

}  // namespace rthub::capi
