/* embed.c: a C program that embeds an rthub hub through rthub.h alone and publishes the time
 * on channel "clock" every second. Open ws://127.0.0.1:PORT/ws and subscribe to "clock", or
 * curl -N 'http://127.0.0.1:PORT/events?channel=clock'. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rthub/rthub.h"

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int signum) {
  (void)signum;
  stop_requested = 1;
}

int main(int argc, char** argv) {
  rthub_hub_options options;
  rthub_hub* hub = NULL;
  rthub_err err;
  int ticks = argc > 1 ? atoi(argv[1]) : -1; /* optional: stop after this many messages */
  int n;

  rthub_hub_options_init(&options, sizeof options);
  options.port = argc > 2 ? atoi(argv[2]) : 8090;

  err = rthub_hub_new(&options, &hub);
  if (err == RTHUB_OK) err = rthub_hub_start(hub);
  if (err != RTHUB_OK) {
    fprintf(stderr, "rthub: %s: %s\n", rthub_strerror(err), rthub_last_error());
    rthub_hub_free(hub);
    return 1;
  }
  printf("rthub %s embedded, serving on http://127.0.0.1:%d\n", rthub_version(),
         rthub_hub_port(hub));
  fflush(stdout);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  for (n = 0; !stop_requested && n != ticks; ++n) {
    char data[64];
    rthub_position position;
    int len = snprintf(data, sizeof data, "{\"unix\":%ld,\"n\":%d}", (long)time(NULL), n);
    err = rthub_hub_publish(hub, "clock", "clock.tick", data, (size_t)len, &position);
    if (err != RTHUB_OK) {
      fprintf(stderr, "publish: %s: %s\n", rthub_strerror(err), rthub_last_error());
      break;
    }
    printf("published clock %s:%llu\n", position.epoch, (unsigned long long)position.seq);
    fflush(stdout);
    if (n + 1 != ticks) sleep(1);
  }
  rthub_hub_free(hub);
  return err == RTHUB_OK ? 0 : 1;
}
