// header_test.cpp: rthub/rthub.h compiles alone as C++ (-pedantic -Wall -Wextra -Werror), twice,
// with C linkage for its functions.
#include "rthub/rthub.h"

#include <type_traits>

static_assert(std::is_same<decltype(&rthub_version), const char* (*)()>::value, "rthub_version");
static_assert(RTHUB_OK == 0, "RTHUB_OK is 0");
static_assert(std::is_standard_layout<rthub_hub_options>::value, "plain C struct");
static_assert(std::is_standard_layout<rthub_stats>::value, "plain C struct");

extern "C" int rthub_header_test_cxx();
extern "C" int rthub_header_test_cxx() {
  rthub_hub_options options{};
  options.struct_size = sizeof options;
  rthub_err (*start)(rthub_hub*) = rthub_hub_start;
  return start == nullptr ? 1 : static_cast<int>(options.struct_size > 0);
}
