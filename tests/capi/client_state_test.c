/* client_state_test.c: keyed state and presence through the C client, as a C host polls them:
 * a SNAPSHOT event with the hub's keyed state, then keyed live messages after it, a keyed publish
 * and delete from the client, the members of a presence channel, and argument errors. */
#define _POSIX_C_SOURCE 200809L

#include "rthub/rthub.h"

#include <stdio.h>
#include <string.h>

#include "check.h"

/* Waits for the next event of `kind` (others are passed over). The wait is a hang detector, not a
 * latency bound: the events come when the hub answers, however busy the machine. */
static const rthub_client_event* next_of(rthub_client* client, rthub_client_event_kind kind) {
  const rthub_client_event* event = NULL;
  for (int polls = 0; polls < 300; ++polls) {
    rthub_err err = rthub_client_next_event(client, 100, &event);
    if (err == RTHUB_OK && event->kind == kind) return event;
    if (err == RTHUB_OK && event->kind == RTHUB_CLIENT_EVENT_ERROR)
      fprintf(stderr, "client error: %s: %s\n", event->code, event->message);
  }
  fprintf(stderr, "no event of kind %d came\n", (int)kind);
  return NULL;
}

static void publish_keyed(rthub_hub* hub, const char* key, const char* data, uint64_t flags) {
  rthub_publish_options options;
  CHECK_ERR(rthub_publish_options_init(&options, sizeof options), RTHUB_OK);
  options.key = key;
  options.flags = flags;
  CHECK_ERR(
      rthub_hub_publish_with_options(hub, "geometry", "zone", data, strlen(data), &options, NULL),
      RTHUB_OK);
}

int main(void) {
  rthub_hub_options hub_options;
  CHECK_ERR(rthub_hub_options_init(&hub_options, sizeof hub_options), RTHUB_OK);
  hub_options.port = 0;
  hub_options.allow_client_publish = 1;
  rthub_hub* hub = NULL;
  CHECK_ERR(rthub_hub_new(&hub_options, &hub), RTHUB_OK);
  if (!hub) return check_summary("capi-client-state");
  CHECK_ERR(rthub_hub_start(hub), RTHUB_OK);
  publish_keyed(hub, "a", "1", 0);
  publish_keyed(hub, "b", "2", 0);
  publish_keyed(hub, "a", "null", RTHUB_PUBLISH_DELETE_KEY); /* seq 3: the state is b alone */

  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", rthub_hub_port(hub));
  const char* channels[] = {"geometry"};
  rthub_client_options options;
  CHECK_ERR(rthub_client_options_init(&options, sizeof options), RTHUB_OK);
  CHECK(options.snapshot == 0 && options.presence == 0);
  options.url = url;
  options.channels = channels;
  options.channel_count = 1;
  options.snapshot = 1;
  options.presence = 1;
  rthub_client* client = NULL;
  CHECK_ERR(rthub_client_new(&options, &client), RTHUB_OK);
  if (!client) return check_summary("capi-client-state");

  CHECK_ERR(rthub_client_subscribe_with(client, "other", NULL, 4u), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_client_publish_keyed(client, "geometry", NULL, "1", 1, NULL, 0, NULL),
            RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_client_publish_keyed(client, "geometry", NULL, NULL, 0, "k", 0, NULL),
            RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_client_publish_keyed(client, "geometry", NULL, "1", 1, "k", 2u, NULL),
            RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_client_presence(client, NULL, NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_client_start(client), RTHUB_OK);

  const rthub_client_event* e = next_of(client, RTHUB_CLIENT_EVENT_SNAPSHOT);
  CHECK(e != NULL);
  if (e) {
    CHECK(e->seq == 3);
    CHECK(e->count == 1);
    CHECK(e->data_len > 0 && e->data[0] == '[');
    CHECK(strstr(e->data, "\"key\":\"b\"") != NULL);
    CHECK(strstr(e->data, "\"key\":\"a\"") == NULL);
  }
  e = next_of(client, RTHUB_CLIENT_EVENT_PRESENCE); /* asked by the client after its subscribe */
  CHECK(e != NULL);
  if (e) {
    CHECK(e->count == 1);
    CHECK(e->request_id == 0);
    CHECK(e->data_len > 0 && e->data[0] == '[');
  }

  publish_keyed(hub, "c", "{\"x\":3}", 0);
  e = next_of(client, RTHUB_CLIENT_EVENT_MESSAGE);
  CHECK(e != NULL);
  if (e) {
    CHECK(e->seq == 4);
    CHECK(e->key_len == 1 && strcmp(e->key, "c") == 0);
    CHECK(e->deleted == 0);
    CHECK(strcmp(e->data, "{\"x\":3}") == 0);
  }

  uint64_t request = 0;
  CHECK_ERR(rthub_client_publish_keyed(client, "geometry", "zone", NULL, 0, "b",
                                       RTHUB_PUBLISH_DELETE_KEY, &request),
            RTHUB_OK);
  CHECK(request != 0);
  e = next_of(client, RTHUB_CLIENT_EVENT_MESSAGE);
  CHECK(e != NULL);
  if (e) {
    CHECK(e->seq == 5);
    CHECK(strcmp(e->key, "b") == 0);
    CHECK(e->deleted == 1);
  }

  CHECK_ERR(rthub_client_presence(client, "geometry", &request), RTHUB_OK);
  e = next_of(client, RTHUB_CLIENT_EVENT_PRESENCE);
  CHECK(e != NULL);
  if (e) {
    CHECK(e->request_id == request);
    CHECK(e->count == 1);
    CHECK(strstr(e->data, "\"id\":") != NULL);
  }

  rthub_client_counters counters;
  counters.struct_size = sizeof counters;
  CHECK_ERR(rthub_client_get_counters(client, &counters), RTHUB_OK);
  CHECK(counters.snapshots == 1);

  rthub_client_free(client);
  CHECK_ERR(rthub_hub_stop(hub), RTHUB_OK);
  rthub_hub_free(hub);
  return check_summary("capi-client-state");
}
