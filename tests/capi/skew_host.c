/* skew_host.c: a host built against another version of rthub.h than the library it runs with.
 * Compiled twice, against copies that skewed_header.py writes:
 *   RTHUB_SKEW_OLD:   rthub_hub_options as 0.1 laid it out (shorter): the library must read only
 *                     what the host has, and give the fields it lacks their defaults.
 *   RTHUB_SKEW_NEWER: every options struct with a field past the library's (longer): accepted
 *                     while that field is zero, refused with a clear error once it is set. */
#define _POSIX_C_SOURCE 200809L

#include "rthub/rthub.h"

#include <string.h>

#include "check.h"

#if defined(RTHUB_SKEW_OLD) == defined(RTHUB_SKEW_NEWER)
#error "define one of RTHUB_SKEW_OLD, RTHUB_SKEW_NEWER"
#endif

#ifdef RTHUB_SKEW_OLD

/* The library reads nothing past the host's struct: behind it lie bytes that would be a wild
 * pointer (redis_cluster) and a negative number (idempotency_window_seconds) if it did. */
static void check_older_hub_options(void) {
  struct {
    rthub_hub_options options;
    unsigned char behind[128];
  } host;
  memset(&host, 0xaa, sizeof host);
  CHECK_ERR(rthub_hub_options_init(&host.options, sizeof host.options), RTHUB_OK);
  CHECK(host.options.struct_size == sizeof host.options);
  CHECK(host.options.port == 8080);
  CHECK(host.options.shards == 1);
  CHECK(host.options.history_size == 1000);
  size_t untouched = 0;
  for (size_t i = 0; i < sizeof host.behind; ++i) untouched += host.behind[i] == 0xaa;
  CHECK(untouched == sizeof host.behind); /* _init wrote only the host's bytes */

  host.options.listen_host = "127.0.0.1";
  host.options.port = 0;
  rthub_hub* hub = NULL;
  CHECK_ERR(rthub_hub_new(&host.options, &hub), RTHUB_OK);
  if (!hub) return;
  CHECK_ERR(rthub_hub_start(hub), RTHUB_OK);
  rthub_position first, second;
  CHECK_ERR(rthub_hub_publish(hub, "old", NULL, "{}", 2, &first), RTHUB_OK);
  CHECK_ERR(rthub_hub_publish(hub, "old", NULL, "{}", 2, &second), RTHUB_OK);
  CHECK(first.seq == 1 && second.seq == 2);
  rthub_hub_free(hub);

  /* The checks of the library apply to what the host has. */
  host.options.heartbeat_seconds = 0;
  CHECK_ERR(rthub_hub_new(&host.options, &hub), RTHUB_ERR_INVALID);
  CHECK(strstr(rthub_last_error(), "heartbeat_seconds") != NULL);
}

#else

static int mentions_newer(void) {
  return strstr(rthub_last_error(), "newer rthub.h") != NULL;
}

static void check_newer_hub_options(void) {
  rthub_hub_options options;
  memset(&options, 0xaa, sizeof options);
  CHECK_ERR(rthub_hub_options_init(&options, sizeof options), RTHUB_OK);
  CHECK(options.struct_size == sizeof options);
  CHECK(options.future_field == 0); /* what the library does not know, it zeroes */
  CHECK(options.port == 8080 && options.persist_buffer == 100000);
  options.port = 0;
  rthub_hub* hub = NULL;
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_OK);
  rthub_hub_free(hub);
  hub = NULL;
  options.future_field = 1;
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_ERR_INVALID);
  CHECK(hub == NULL);
  CHECK(mentions_newer());
}

static void check_newer_client_options(void) {
  rthub_client_options options;
  memset(&options, 0xaa, sizeof options);
  CHECK_ERR(rthub_client_options_init(&options, sizeof options), RTHUB_OK);
  CHECK(options.struct_size == sizeof options);
  CHECK(options.future_field == 0);
  CHECK(options.backoff_base_ms == 500);
  options.url = "http://127.0.0.1:1";
  rthub_client* client = NULL;
  CHECK_ERR(rthub_client_new(&options, &client), RTHUB_OK);
  rthub_client_free(client);
  client = NULL;
  options.future_field = 7;
  CHECK_ERR(rthub_client_new(&options, &client), RTHUB_ERR_INVALID);
  CHECK(client == NULL);
  CHECK(mentions_newer());
}

static void check_newer_publish_options(void) {
  rthub_hub_options hub_options;
  CHECK_ERR(rthub_hub_options_init(&hub_options, sizeof hub_options), RTHUB_OK);
  hub_options.port = 0;
  rthub_hub* hub = NULL;
  CHECK_ERR(rthub_hub_new(&hub_options, &hub), RTHUB_OK);
  if (!hub) return;
  CHECK_ERR(rthub_hub_start(hub), RTHUB_OK);
  rthub_publish_options options;
  memset(&options, 0xaa, sizeof options);
  CHECK_ERR(rthub_publish_options_init(&options, sizeof options), RTHUB_OK);
  CHECK(options.future_field == 0 && options.idempotency_key == NULL);
  rthub_position at;
  CHECK_ERR(rthub_hub_publish_with_options(hub, "newer", NULL, "1", 1, &options, &at), RTHUB_OK);
  options.future_field = 1;
  CHECK_ERR(rthub_hub_publish_with_options(hub, "newer", NULL, "1", 1, &options, &at),
            RTHUB_ERR_INVALID);
  CHECK(mentions_newer());
  CHECK_ERR(rthub_hub_publish_async(hub, "newer", NULL, "1", 1, &options, NULL, NULL),
            RTHUB_ERR_INVALID);
  rthub_hub_free(hub);
}

#endif

int main(void) {
  CHECK(rthub_version_number() == RTHUB_VERSION_NUMBER);
#ifdef RTHUB_SKEW_OLD
  check_older_hub_options();
  return check_summary("capi-skew-old");
#else
  check_newer_hub_options();
  check_newer_client_options();
  check_newer_publish_options();
  return check_summary("capi-skew-newer");
#endif
}
