/* header_test.c: rthub/rthub.h compiles alone as strict C11 (-pedantic -Wall -Wextra -Werror),
 * and twice: its include guard works. Built as an object library, so a header that breaks
 * breaks the build. */
#include "rthub/rthub.h"

/* Uses the declarations, so that the compiler looks at them. */
int rthub_header_test_c(void);
int rthub_header_test_c(void) {
  rthub_hub_options options;
  rthub_position position;
  rthub_stats stats;
  rthub_hub* hub = NULL;
  rthub_err err = RTHUB_OK;
  rthub_channel_action action = RTHUB_SUBSCRIBE;
  rthub_connect_fn on_connect = NULL;
  rthub_channel_fn on_channel = NULL;
  const char* (*version)(void) = rthub_version;
  (void)hub;
  (void)on_connect;
  (void)on_channel;
  (void)version;
  options.struct_size = (uint32_t)sizeof options;
  stats.struct_size = (uint32_t)sizeof stats;
  position.seq = 0;
  return (int)err + (int)action + (int)options.struct_size + (int)stats.struct_size +
         (int)position.seq;
}
