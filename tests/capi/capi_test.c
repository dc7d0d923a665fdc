/* capi_test.c: the C ABI used the way a C application uses it, through rthub/rthub.h alone.
 *
 * Every check runs even after one fails, so that one run reports every broken promise; the exit
 * status is the number of failed checks (capped), 0 when all hold. */
#define _POSIX_C_SOURCE 200809L

#include "rthub/rthub.h"

#include "check.h"
#include "http_status.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void check_version_and_errors(void) {
  CHECK(strcmp(rthub_version(), RTHUB_VERSION_STRING) == 0);
  char expected[32];
  snprintf(expected, sizeof expected, "%d.%d.%d", RTHUB_VERSION_MAJOR, RTHUB_VERSION_MINOR,
           RTHUB_VERSION_PATCH);
  CHECK(strcmp(RTHUB_VERSION_STRING, expected) == 0);
  CHECK(rthub_version_number() == RTHUB_VERSION_NUMBER);
  CHECK(RTHUB_VERSION_NUMBER ==
        RTHUB_VERSION_MAJOR * 10000 + RTHUB_VERSION_MINOR * 100 + RTHUB_VERSION_PATCH);

  const rthub_err codes[] = {
      RTHUB_OK,           RTHUB_ERR_INVALID,        RTHUB_ERR_NOMEM,     RTHUB_ERR_STATE,
      RTHUB_ERR_IO,       RTHUB_ERR_UNAVAILABLE,    RTHUB_ERR_TOO_LARGE, RTHUB_ERR_TIMEOUT,
      RTHUB_ERR_INTERNAL, RTHUB_ERR_UNKNOWN_OUTCOME};
  size_t count = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < count; ++i) {
    const char* name = rthub_strerror(codes[i]);
    CHECK(name != NULL);
    CHECK(name && name[0] != '\0');
    for (size_t j = 0; j < i; ++j) CHECK(name && strcmp(name, rthub_strerror(codes[j])) != 0);
  }
  CHECK(RTHUB_OK == 0);
  CHECK(rthub_strerror((rthub_err)12345) != NULL);
}

static void check_options_and_new(void) {
  rthub_hub_options options;
  memset(&options, 0xab, sizeof options);
  rthub_hub_options_init(&options, sizeof options);
  CHECK(options.struct_size == sizeof(rthub_hub_options));
  CHECK(options.listen_host == NULL);
  CHECK(options.port == 8080);
  CHECK(options.history_size == 1000);
  CHECK(options.heartbeat_seconds == 25);
  CHECK(options.max_message_bytes == 65536);
  CHECK(options.publish_key == NULL);
  CHECK(options.shards == 1);
  CHECK_ERR(rthub_hub_options_init(NULL, sizeof options), RTHUB_ERR_INVALID);

  CHECK_ERR(rthub_hub_new(&options, NULL), RTHUB_ERR_INVALID);
  CHECK(rthub_last_error()[0] != '\0');

  rthub_hub* hub = (rthub_hub*)&options; /* must be overwritten */
  options.port = 70000;
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_ERR_INVALID);
  CHECK(hub == NULL);
  CHECK(rthub_last_error() != NULL && rthub_last_error()[0] != '\0');

  options.port = -1;
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_ERR_INVALID);
  CHECK(hub == NULL);

  rthub_hub_options_init(&options, sizeof options);
  options.shards = 0;
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_ERR_INVALID);
  options.shards = 65;
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_ERR_INVALID);
  CHECK(hub == NULL);

  rthub_hub_options_init(&options, sizeof options);
  options.struct_size = 0; /* never initialised */
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_ERR_INVALID);
  CHECK(hub == NULL);

  /* NULL options: the defaults (not started, so port 8080 is not bound). */
  CHECK_ERR(rthub_hub_new(NULL, &hub), RTHUB_OK);
  CHECK(hub != NULL);
  CHECK(rthub_last_error()[0] == '\0');
  CHECK(rthub_hub_port(hub) == 0);
  CHECK_ERR(rthub_hub_publish(hub, "a", NULL, "1", 1, NULL), RTHUB_ERR_STATE); /* not started */
  CHECK_ERR(rthub_hub_stop(hub), RTHUB_OK);
  rthub_hub_free(hub);

  rthub_hub_free(NULL);
  CHECK(rthub_hub_port(NULL) == 0);
  CHECK_ERR(rthub_hub_start(NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_stop(NULL), RTHUB_ERR_INVALID);
}

static void check_publish(rthub_hub* hub) {
  static const char data[] = "{\"temperature\":21.5,\"tags\":[\"a\",\"b\"]}";
  rthub_position first, third;
  memset(&first, 0, sizeof first);
  memset(&third, 0, sizeof third);

  CHECK_ERR(rthub_hub_publish(hub, "sensors:7", "reading", data, strlen(data), &first), RTHUB_OK);
  CHECK(first.seq == 1);
  CHECK(first.epoch[0] != '\0');
  CHECK(memchr(first.epoch, '\0', sizeof first.epoch) != NULL);
  CHECK_ERR(rthub_hub_publish(hub, "sensors:7", NULL, "42", 2, NULL), RTHUB_OK);
  CHECK_ERR(rthub_hub_publish(hub, "sensors:7", "reading", data, strlen(data), &third), RTHUB_OK);
  CHECK(third.seq == 3);
  CHECK(strcmp(first.epoch, third.epoch) == 0);

  rthub_position other;
  CHECK_ERR(rthub_hub_publish(hub, "other", "t", "null", 4, &other), RTHUB_OK);
  CHECK(other.seq == 1);

  /* data_len, not a terminator, delimits the value */
  CHECK_ERR(rthub_hub_publish(hub, "other", "t", "[1,2]garbage", 5, NULL), RTHUB_OK);

  rthub_position untouched;
  memset(&untouched, 0x5a, sizeof untouched);
  CHECK_ERR(rthub_hub_publish(hub, "sensors:7", "t", "{\"a\":", 5, &untouched), RTHUB_ERR_INVALID);
  CHECK(rthub_last_error()[0] != '\0');
  CHECK_ERR(rthub_hub_publish(hub, "sensors:7", "t", "", 0, NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish(hub, "sensors:7", "t", "{} {}", 5, NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish(hub, "sensors:7", "t", "\"\xff\"", 3, NULL), RTHUB_ERR_INVALID);

  CHECK_ERR(rthub_hub_publish(hub, "bad channel", "t", "1", 1, NULL), RTHUB_ERR_INVALID);
  CHECK(rthub_last_error()[0] != '\0');
  CHECK_ERR(rthub_hub_publish(hub, "", "t", "1", 1, NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish(hub, "caf\xc3\xa9", "t", "1", 1, NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish(hub, NULL, "t", "1", 1, NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish(hub, "a", "t", NULL, 0, NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish(NULL, "a", "t", "1", 1, NULL), RTHUB_ERR_INVALID);

  /* the options set max_message_bytes to 1024 */
  static char big[2048];
  memset(big, ' ', sizeof big);
  big[0] = '1';
  CHECK_ERR(rthub_hub_publish(hub, "a", "t", big, sizeof big, NULL), RTHUB_ERR_TOO_LARGE);

  /* a failed call leaves no detail behind once a later call succeeds */
  CHECK_ERR(rthub_hub_publish(hub, "sensors:7", NULL, "true", 4, &third), RTHUB_OK);
  CHECK(rthub_last_error()[0] == '\0');
  CHECK(third.seq == 4);
}

/* Runs after check_stats: a wrongly accepted message would shift the counts checked there.
 * Whatever rthub_hub_publish accepts is sent to subscribers in WebSocket text frames, which must
 * be UTF-8 and hold one JSON object. */
static void check_publish_refuses_what_subscribers_cannot_read(rthub_hub* hub) {
  /* "{}\0x" is not one JSON value, and subscribers would receive all four bytes. */
  CHECK_ERR(rthub_hub_publish(hub, "nul", "t", "{}\0x", 4, NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish(hub, "nul", "t", "1\0", 2, NULL), RTHUB_ERR_INVALID);
  /* A byte order mark, or a piece of one, is not part of a JSON value. */
  CHECK_ERR(rthub_hub_publish(hub, "bom", "t", "\xbb[1]", 4, NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish(hub, "bom", "t", "\xef\xbb\xbf{}", 5, NULL), RTHUB_ERR_INVALID);
  /* `type` is copied into the message object: it must be UTF-8 too. */
  CHECK_ERR(rthub_hub_publish(hub, "type", "\xff", "1", 1, NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish(hub, "type", "\xed\xa0\x80", "1", 1, NULL), RTHUB_ERR_INVALID);
}

/* Starts a second hub on the first one's port in a child process, so that a crash is reported
 * as a failed check rather than ending the test. The child exits 0 when start answered
 * RTHUB_ERR_IO with a detail text and the hub reports no port. */
static void check_port_conflict(int port) {
  fflush(NULL);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child < 0) return;
  if (child == 0) {
    rthub_hub_options same_port;
    rthub_hub_options_init(&same_port, sizeof same_port);
    same_port.listen_host = "127.0.0.1";
    same_port.port = port;
    rthub_hub* second = NULL;
    if (rthub_hub_new(&same_port, &second) != RTHUB_OK) _exit(10);
    rthub_err err = rthub_hub_start(second);
    int code = err != RTHUB_ERR_IO             ? 11
               : rthub_last_error()[0] == '\0' ? 12
               : rthub_hub_port(second) != 0   ? 13
                                               : 0;
    if (code)
      fprintf(stderr, "second hub on port %d: start returned %d (%s)\n", port, (int)err,
              rthub_strerror(err));
    fflush(NULL);
    rthub_hub_free(second);
    _exit(code);
  }
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  if (WIFSIGNALED(status))
    fprintf(stderr, "a second hub started on a taken port died of signal %d\n", WTERMSIG(status));
  CHECK(WIFEXITED(status));
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void check_stats(rthub_hub* hub) {
  rthub_stats stats;
  memset(&stats, 0xff, sizeof stats);
  stats.struct_size = sizeof stats;
  CHECK_ERR(rthub_hub_stats(hub, &stats), RTHUB_OK);
  CHECK(stats.struct_size == sizeof stats);
  /* sensors:7 seq 1-4, other seq 1-2; the asynchronous one before the last waited publish */
  CHECK(stats.messages_published == 6);
  CHECK(stats.connections_ws == 0);
  CHECK(stats.subscriptions == 0);
  CHECK(stats.slow_consumers_dropped == 0);

  /* A host built against an older, shorter struct: fields past its size are left alone. */
  rthub_stats older;
  memset(&older, 0x77, sizeof older);
  older.struct_size = (uint32_t)offsetof(rthub_stats, deliveries);
  CHECK_ERR(rthub_hub_stats(hub, &older), RTHUB_OK);
  CHECK(older.messages_published == 6);
  uint64_t sentinel;
  memset(&sentinel, 0x77, sizeof sentinel);
  CHECK(older.deliveries == sentinel);
  CHECK(older.history_bytes == sentinel);

  rthub_stats unset;
  memset(&unset, 0, sizeof unset);
  CHECK_ERR(rthub_hub_stats(hub, &unset), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_stats(hub, NULL), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_stats(NULL, &stats), RTHUB_ERR_INVALID);
}

/* Three shards on one port: publishes from this thread keep one numbering per channel, the
 * port answers (whichever shard takes the connection), and it is not free for another hub. */
static void check_shards(void) {
  rthub_hub_options options;
  rthub_hub_options_init(&options, sizeof options);
  options.listen_host = "127.0.0.1";
  options.port = 0;
  options.shards = 3;
  rthub_hub* hub = NULL;
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_OK);
  if (!hub) return;
  CHECK_ERR(rthub_hub_start(hub), RTHUB_OK);
  int port = rthub_hub_port(hub);
  CHECK(port > 0);
  static const char* const channels[] = {"shard.a", "shard.b", "shard.c", "shard.d"};
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    for (size_t c = 0; c < 4; ++c) {
      rthub_position at;
      memset(&at, 0, sizeof at);
      CHECK_ERR(rthub_hub_publish(hub, channels[c], NULL, "{}", 2, &at), RTHUB_OK);
      CHECK(at.seq == seq);
    }
  }
  char status[128] = "";
  for (int i = 0; i < 8; ++i) {
    CHECK(http_get_status(port, "/healthz", status, sizeof status) == 0);
    CHECK(strncmp(status, "HTTP/1.1 200", 12) == 0);
  }
  rthub_stats stats;
  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  CHECK_ERR(rthub_hub_stats(hub, &stats), RTHUB_OK);
  CHECK(stats.messages_published == 20);
  check_port_conflict(port);
  /* Nor for another sharded hub: its first shard finds the port taken. */
  options.port = port;
  options.shards = 2;
  rthub_hub* second = NULL;
  CHECK_ERR(rthub_hub_new(&options, &second), RTHUB_OK);
  if (second) {
    CHECK_ERR(rthub_hub_start(second), RTHUB_ERR_IO);
    CHECK(rthub_hub_port(second) == 0);
  }
  rthub_hub_free(second);
  CHECK_ERR(rthub_hub_stop(hub), RTHUB_OK);
  rthub_hub_free(hub);
}

/* ---- Auth hooks: a host refuses connections and subscriptions, now or later ---------------- */

static void* complete_later(void* check) {
  struct timespec pause = {0, 100 * 1000 * 1000};
  nanosleep(&pause, NULL);
  /* The callback has returned: what the check is about is still readable until it completes. */
  const rthub_channel_info* info = rthub_channel_check_info((rthub_channel_check*)check);
  int about_later = info && info->action == RTHUB_SUBSCRIBE &&
                    strcmp(info->channel, "later") == 0 && strcmp(info->identity, "u1") == 0;
  rthub_channel_check_complete((rthub_channel_check*)check, about_later);
  return NULL;
}

static void on_connect(const rthub_connect_info* info, rthub_connect_answer* answer,
                       void* user_data) {
  (void)user_data;
  if (info->token_len == 3 && memcmp(info->token, "bad", 3) == 0) {
    rthub_connect_refuse(answer, 401);
  } else if (info->token_len == 4 && memcmp(info->token, "good", 4) == 0) {
    const char* everything[] = {"*"};
    rthub_connect_accept(answer, "u1", everything, 1, NULL, 0);
  } /* else: the default rules decide (no secret: anonymous) */
}

static void on_channel(const rthub_channel_info* info, rthub_channel_check* check,
                       void* user_data) {
  int* seen = (int*)user_data;
  ++*seen;
  if (strcmp(info->channel, "later") == 0) { /* a host asking its database answers later */
    pthread_t thread;
    if (pthread_create(&thread, NULL, complete_later, check) == 0) {
      pthread_detach(thread);
      return;
    }
  }
  rthub_channel_check_complete(check,
                               strcmp(info->channel, "vetoed") != 0 && info->allowed_by_rules);
}

static void check_auth_hooks(void) {
  rthub_hub_options options;
  rthub_hub_options_init(&options, sizeof options);
  options.port = 0;
  rthub_hub* hub = NULL;
  int seen = 0;
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_OK);
  if (!hub) return;
  CHECK_ERR(rthub_hub_set_auth(hub, on_connect, on_channel, &seen), RTHUB_OK);
  CHECK_ERR(rthub_hub_start(hub), RTHUB_OK);
  CHECK_ERR(rthub_hub_set_auth(hub, on_connect, on_channel, &seen), RTHUB_ERR_STATE); /* too late */
  int port = rthub_hub_port(hub);
  static const struct {
    const char* path;
    const char* status;
  } cases[] = {
      {"/events?channel=open&token=bad", "HTTP/1.1 401"},    /* the connect hook refuses */
      {"/events?channel=open&token=good", "HTTP/1.1 200"},   /* accepted with rights "*" */
      {"/events?channel=vetoed&token=good", "HTTP/1.1 403"}, /* the channel hook refuses */
      {"/events?channel=vetoed", "HTTP/1.1 403"},            /* anonymous: the same hook */
      {"/events?channel=later&token=good", "HTTP/1.1 200"},  /* answered from another thread */
      {"/events?channel=open&channel=vetoed", "HTTP/1.1 403"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    char status[128] = "";
    CHECK(http_get_status(port, cases[i].path, status, sizeof status) == 0);
    if (strncmp(status, cases[i].status, strlen(cases[i].status)) != 0) {
      fprintf(stderr, "GET %s answered \"%s\", expected %s\n", cases[i].path, status,
              cases[i].status);
      ++failures;
    }
  }
  CHECK(seen >= 5);
  CHECK(rthub_channel_check_info(NULL) == NULL);
  rthub_hub_free(hub);
}

int main(void) {
  check_version_and_errors();
  check_options_and_new();

  rthub_hub_options options;
  rthub_hub_options_init(&options, sizeof options);
  options.listen_host = "127.0.0.1";
  options.port = 0;
  options.max_message_bytes = 1024;
  rthub_hub* hub = NULL;
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_OK);
  if (!hub) {
    fprintf(stderr, "cannot create a hub: %s\n", rthub_last_error());
    return 1;
  }
  CHECK_ERR(rthub_hub_start(hub), RTHUB_OK);
  int port = rthub_hub_port(hub);
  CHECK(port > 0 && port <= 65535);
  if (port <= 0) {
    rthub_hub_free(hub);
    return 1;
  }
  CHECK_ERR(rthub_hub_start(hub), RTHUB_ERR_STATE);
  CHECK(rthub_last_error()[0] != '\0');
  CHECK(rthub_hub_port(hub) == port);

  char status[128] = "";
  CHECK(http_get_status(port, "/healthz", status, sizeof status) == 0);
  CHECK(strncmp(status, "HTTP/1.1 200", 12) == 0);
  if (strncmp(status, "HTTP/1.1 200", 12) != 0)
    fprintf(stderr, "GET /healthz answered \"%s\"\n", status);

  check_publish(hub);
  check_stats(hub);
  check_publish_refuses_what_subscribers_cannot_read(hub);

  /* The port is taken: a second hub cannot bind it. */
  check_port_conflict(port);
  check_auth_hooks();
  check_shards();
  /* The first hub still serves. */
  CHECK(http_get_status(port, "/healthz", status, sizeof status) == 0);
  CHECK(strncmp(status, "HTTP/1.1 200", 12) == 0);

  CHECK_ERR(rthub_hub_stop(hub), RTHUB_OK);
  CHECK_ERR(rthub_hub_stop(hub), RTHUB_OK);
  CHECK(rthub_hub_port(hub) == 0); /* "the bound port of a started hub, or 0" */
  CHECK_ERR(rthub_hub_publish(hub, "a", NULL, "1", 1, NULL), RTHUB_ERR_STATE);
  rthub_position after_stop;
  CHECK_ERR(rthub_hub_publish(hub, "a", NULL, "1", 1, &after_stop), RTHUB_ERR_STATE);
  CHECK(http_get_status(port, "/healthz", status, sizeof status) != 0); /* nobody listens */
  rthub_hub_free(hub);

  return check_summary("capi");
}
