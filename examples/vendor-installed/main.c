/* main.c: a program that embeds rthub through rthub.h alone. It starts a hub on a free port,
 * publishes twice, checks the positions and the counters, and exits 0 when all is as expected.
 * Built against an installed rthub, with find_package(rthub) (CMakeLists.txt) and with
 * pkg-config (build-pkgconfig.sh), and against a vendored source tree by
 * examples/vendor-subdir, which compiles this file. */
#include <stdio.h>
#include <string.h>

#include "rthub/rthub.h"

#define CHECK(cond)                                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
              rthub_last_error());                                                 \
      return 1;                                                                    \
    }                                                                              \
  } while (0)

static int run(rthub_hub* hub) {
  const char data[] = "{\"id\":7,\"geometry\":{\"type\":\"Point\",\"coordinates\":[-46.6,-23.5]}}";
  rthub_position first, second;
  rthub_stats stats;
  int port;

  CHECK(rthub_hub_start(hub) == RTHUB_OK);
  port = rthub_hub_port(hub);
  CHECK(port > 0);
  CHECK(rthub_hub_publish(hub, "geometry", "geometry.updated", data, strlen(data), &first) ==
        RTHUB_OK);
  CHECK(first.seq == 1 && first.epoch[0] != '\0');
  CHECK(rthub_hub_publish(hub, "geometry", NULL, "[1, 2]", 6, &second) == RTHUB_OK);
  CHECK(second.seq == 2 && strcmp(first.epoch, second.epoch) == 0);
  CHECK(rthub_hub_publish(hub, "bad channel!", NULL, "{}", 2, NULL) == RTHUB_ERR_INVALID);

  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  CHECK(rthub_hub_stats(hub, &stats) == RTHUB_OK);
  CHECK(stats.messages_published == 2);
  CHECK(rthub_hub_stop(hub) == RTHUB_OK);
  printf("rthub %s: published geometry %s:%llu and %s:%llu on port %d\n", rthub_version(),
         first.epoch, (unsigned long long)first.seq, second.epoch, (unsigned long long)second.seq,
         port);
  return 0;
}

int main(void) {
  rthub_hub_options options;
  rthub_hub* hub = NULL;
  int status;

  rthub_hub_options_init(&options, sizeof options);
  options.port = 0; /* any free port */
  if (rthub_hub_new(&options, &hub) != RTHUB_OK) {
    fprintf(stderr, "rthub_hub_new: %s\n", rthub_last_error());
    return 1;
  }
  status = run(hub);
  rthub_hub_free(hub);
  return status;
}
