/* publish_test.c: publishing from a C host: rthub_hub_publish_async (its completion, the thread
 * it runs on, calls from many threads, the hub stopping under it) and per-publish options.
 *
 * Run with the argument "idempotency" it checks instead that an idempotency key reaches the hub:
 * a repeat with the same key answers the first publish's position. */
#define _POSIX_C_SOURCE 200809L

#include "rthub/rthub.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "http_status.h"

/* What the completions of one batch of publishes saw. */
typedef struct batch {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  int done;               /* completions so far */
  int ok;                 /* of which RTHUB_OK */
  int state;              /* of which RTHUB_ERR_STATE */
  int other;              /* of which anything else */
  uint64_t seq_seen[512]; /* seq_seen[seq]: completions that reported seq */
  pthread_t thread;       /* the thread of the latest completion */
  int threads_differ;     /* completions ran on more than one thread */
  rthub_position last;
} batch;

static void batch_init(batch* b) {
  memset(b, 0, sizeof *b);
  pthread_mutex_init(&b->lock, NULL);
  pthread_cond_init(&b->changed, NULL);
}

static void batch_destroy(batch* b) {
  pthread_mutex_destroy(&b->lock);
  pthread_cond_destroy(&b->changed);
}

static void on_done(rthub_err err, const rthub_position* position, void* user_data) {
  batch* b = (batch*)user_data;
  pthread_mutex_lock(&b->lock);
  if (b->done > 0 && !pthread_equal(b->thread, pthread_self())) b->threads_differ = 1;
  b->thread = pthread_self();
  ++b->done;
  if (err == RTHUB_OK && position) {
    ++b->ok;
    if (position->seq < 512) ++b->seq_seen[position->seq];
    b->last = *position;
  } else if (err == RTHUB_ERR_STATE && !position) {
    ++b->state;
  } else {
    ++b->other;
  }
  pthread_cond_broadcast(&b->changed);
  pthread_mutex_unlock(&b->lock);
}

/* Waits until `count` completions came. The bound is generous: a completion follows its publish
 * within one turn of an idle in-memory hub's loop; 20 s covers a loaded test machine. */
static int wait_done(batch* b, int count) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 20;
  pthread_mutex_lock(&b->lock);
  int err = 0;
  while (b->done < count && err != ETIMEDOUT)
    err = pthread_cond_timedwait(&b->changed, &b->lock, &until);
  int reached = b->done >= count;
  pthread_mutex_unlock(&b->lock);
  return reached;
}

static rthub_hub* started_hub(void) {
  rthub_hub_options options;
  CHECK_ERR(rthub_hub_options_init(&options, sizeof options), RTHUB_OK);
  options.port = 0;
  rthub_hub* hub = NULL;
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_OK);
  if (hub) CHECK_ERR(rthub_hub_start(hub), RTHUB_OK);
  return hub;
}

/* ---- Per-publish options ------------------------------------------------------------------ */

static void check_publish_options(rthub_hub* hub) {
  rthub_publish_options options;
  memset(&options, 0x5a, sizeof options);
  CHECK_ERR(rthub_publish_options_init(&options, sizeof options), RTHUB_OK);
  CHECK(options.struct_size == sizeof options);
  CHECK(options.idempotency_key == NULL);
  CHECK_ERR(rthub_publish_options_init(NULL, sizeof options), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_publish_options_init(&options, 0), RTHUB_ERR_INVALID);
  CHECK(strstr(rthub_last_error(), "sizeof") != NULL);
  CHECK_ERR(rthub_publish_options_init(&options, sizeof options), RTHUB_OK);

  rthub_position at;
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts", NULL, "1", 1, &options, &at), RTHUB_OK);
  CHECK(at.seq == 1);
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts", NULL, "2", 1, NULL, &at), RTHUB_OK);
  CHECK(at.seq == 2);

  char key[130];
  memset(key, 'k', sizeof key);
  key[128] = '\0'; /* 128 bytes: the most a key may be */
  options.idempotency_key = key;
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts", NULL, "3", 1, &options, &at), RTHUB_OK);
  CHECK(at.seq == 3);
  key[128] = 'k';
  key[129] = '\0'; /* 129 bytes */
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts", NULL, "4", 1, &options, &at),
            RTHUB_ERR_INVALID);
  CHECK(strstr(rthub_last_error(), "128") != NULL);
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts", NULL, "4", 1, &options, NULL),
            RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish_async(hub, "opts", NULL, "4", 1, &options, NULL, NULL),
            RTHUB_ERR_INVALID);
  options.idempotency_key = "\xff\xfe";
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts", NULL, "4", 1, &options, &at),
            RTHUB_ERR_INVALID);
  options.idempotency_key = NULL;

  /* Keyed messages: key (at most 256 bytes) and RTHUB_PUBLISH_DELETE_KEY; unknown flags refused. */
  CHECK(options.key == NULL && options.flags == 0);
  char long_key[258];
  memset(long_key, 'z', sizeof long_key);
  long_key[256] = '\0';
  options.key = long_key;
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts.keyed", NULL, "1", 1, &options, &at),
            RTHUB_OK);
  long_key[256] = 'z';
  long_key[257] = '\0'; /* 257 bytes */
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts.keyed", NULL, "1", 1, &options, &at),
            RTHUB_ERR_INVALID);
  CHECK(strstr(rthub_last_error(), "256") != NULL);
  options.key = "zone-1";
  options.flags = RTHUB_PUBLISH_DELETE_KEY;
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts.keyed", NULL, "null", 4, &options, &at),
            RTHUB_OK);
  options.flags = 2;
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts.keyed", NULL, "1", 1, &options, &at),
            RTHUB_ERR_INVALID);
  options.key = NULL;
  options.flags = RTHUB_PUBLISH_DELETE_KEY; /* a delete needs a key */
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts.keyed", NULL, "1", 1, &options, &at),
            RTHUB_ERR_INVALID);
  options.flags = 0;
  options.struct_size = 0; /* never initialised */
  CHECK_ERR(rthub_hub_publish_with_options(hub, "opts", NULL, "4", 1, &options, &at),
            RTHUB_ERR_INVALID);
}

/* ---- rthub_hub_publish_async -------------------------------------------------------------- */

static pthread_t hook_thread;
static int hook_ran = 0;

/* Records the thread of the hub's auth hooks: its service thread. */
static void record_service_thread(const rthub_connect_info* info, rthub_connect_answer* answer,
                                  void* user_data) {
  (void)info;
  (void)answer;
  (void)user_data;
  hook_thread = pthread_self();
  hook_ran = 1;
}

static void check_async_arguments(rthub_hub* hub) {
  batch b;
  batch_init(&b);
  CHECK_ERR(rthub_hub_publish_async(NULL, "a", NULL, "1", 1, NULL, on_done, &b), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish_async(hub, NULL, NULL, "1", 1, NULL, on_done, &b), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish_async(hub, "a", NULL, NULL, 0, NULL, on_done, &b), RTHUB_ERR_INVALID);
  CHECK_ERR(rthub_hub_publish_async(hub, "bad channel", NULL, "1", 1, NULL, on_done, &b),
            RTHUB_ERR_INVALID);
  CHECK(strstr(rthub_last_error(), "bad channel name") != NULL);
  CHECK_ERR(rthub_hub_publish_async(hub, "a", NULL, "{", 1, NULL, on_done, &b), RTHUB_ERR_INVALID);
  /* A NULL completion: the message is published all the same. */
  CHECK_ERR(rthub_hub_publish_async(hub, "nulldone", NULL, "1", 1, NULL, NULL, NULL), RTHUB_OK);
  rthub_position at;
  CHECK_ERR(rthub_hub_publish(hub, "nulldone", NULL, "2", 1, &at), RTHUB_OK);
  CHECK(at.seq == 2);
  /* A refused call never calls its completion. */
  CHECK(b.done == 0);
  batch_destroy(&b);
}

static void check_async_completion_thread(rthub_hub* hub) {
  batch b;
  batch_init(&b);
  for (int i = 0; i < 10; ++i)
    CHECK_ERR(rthub_hub_publish_async(hub, "async", "t", "{\"n\":1}", 7, NULL, on_done, &b),
              RTHUB_OK);
  CHECK(wait_done(&b, 10));
  pthread_mutex_lock(&b.lock);
  CHECK(b.ok == 10);
  for (int seq = 1; seq <= 10; ++seq) CHECK(b.seq_seen[seq] == 1);
  CHECK(!b.threads_differ);
  CHECK(!pthread_equal(b.thread, pthread_self()));
  CHECK(hook_ran && pthread_equal(b.thread, hook_thread)); /* the service thread */
  pthread_mutex_unlock(&b.lock);
  batch_destroy(&b);
}

typedef struct publisher {
  rthub_hub* hub;
  batch* b;
  int count;
  int refused;
} publisher;

static void* publish_from_thread(void* arg) {
  publisher* p = (publisher*)arg;
  for (int i = 0; i < p->count; ++i)
    if (rthub_hub_publish_async(p->hub, "many", NULL, "[]", 2, NULL, on_done, p->b) != RTHUB_OK)
      ++p->refused;
  return NULL;
}

/* Four threads at once: every publish is numbered once, every completion comes once. */
static void check_async_from_threads(rthub_hub* hub) {
  batch b;
  batch_init(&b);
  enum { kThreads = 4, kEach = 100 };
  publisher publishers[kThreads];
  pthread_t threads[kThreads];
  for (int t = 0; t < kThreads; ++t) {
    publishers[t] = (publisher){hub, &b, kEach, 0};
    CHECK(pthread_create(&threads[t], NULL, publish_from_thread, &publishers[t]) == 0);
  }
  for (int t = 0; t < kThreads; ++t) {
    pthread_join(threads[t], NULL);
    CHECK(publishers[t].refused == 0);
  }
  CHECK(wait_done(&b, kThreads * kEach));
  pthread_mutex_lock(&b.lock);
  CHECK(b.ok == kThreads * kEach);
  for (int seq = 1; seq <= kThreads * kEach; ++seq) CHECK(b.seq_seen[seq] == 1);
  pthread_mutex_unlock(&b.lock);
  batch_destroy(&b);
}

/* A completion may publish again (it runs on the service thread, where waiting is not allowed). */
typedef struct chain {
  rthub_hub* hub;
  batch* b;
  rthub_err again;
} chain;

static void publish_again(rthub_err err, const rthub_position* position, void* user_data) {
  chain* c = (chain*)user_data;
  rthub_position waited;
  c->again = err == RTHUB_OK ? rthub_hub_publish(c->hub, "chain", NULL, "1", 1, &waited) : err;
  /* the waiting form refuses on the service thread; the asynchronous form works there */
  if (c->again == RTHUB_ERR_STATE)
    rthub_hub_publish_async(c->hub, "chain", NULL, "2", 1, NULL, on_done, c->b);
  (void)position;
}

static void check_async_from_completion(rthub_hub* hub) {
  batch b;
  batch_init(&b);
  chain c = {hub, &b, RTHUB_OK};
  CHECK_ERR(rthub_hub_publish_async(hub, "chain", NULL, "0", 1, NULL, publish_again, &c), RTHUB_OK);
  CHECK(wait_done(&b, 1));
  CHECK(c.again == RTHUB_ERR_STATE);
  CHECK(b.ok == 1 && b.last.seq == 2);
  batch_destroy(&b);
}

/* Publishes queued while the hub stops each get their completion once, before stop returns: with
 * the outcome, or RTHUB_ERR_STATE. After the stop, the call itself refuses. */
static void check_async_across_stop(void) {
  rthub_hub* hub = started_hub();
  if (!hub) return;
  batch b;
  batch_init(&b);
  enum { kCount = 300 };
  int queued = 0;
  for (int i = 0; i < kCount; ++i)
    if (rthub_hub_publish_async(hub, "stopping", NULL, "1", 1, NULL, on_done, &b) == RTHUB_OK)
      ++queued;
  CHECK(queued == kCount);
  CHECK_ERR(rthub_hub_stop(hub), RTHUB_OK);
  pthread_mutex_lock(&b.lock);
  CHECK(b.done == queued);
  CHECK(b.ok + b.state == b.done);
  CHECK(b.other == 0);
  pthread_mutex_unlock(&b.lock);
  CHECK_ERR(rthub_hub_publish_async(hub, "stopping", NULL, "1", 1, NULL, on_done, &b),
            RTHUB_ERR_STATE);
  CHECK(b.done == queued);
  rthub_hub_free(hub);
  batch_destroy(&b);
}

/* ---- The idempotency key reaches the hub -------------------------------------------------- */

static void check_idempotency_key_reaches_hub(void) {
  rthub_hub* hub = started_hub();
  if (!hub) return;
  rthub_publish_options options;
  CHECK_ERR(rthub_publish_options_init(&options, sizeof options), RTHUB_OK);
  options.idempotency_key = "order-17";
  rthub_position first, repeat, other;
  CHECK_ERR(rthub_hub_publish_with_options(hub, "orders", NULL, "{\"n\":1}", 7, &options, &first),
            RTHUB_OK);
  CHECK_ERR(rthub_hub_publish_with_options(hub, "orders", NULL, "{\"n\":1}", 7, &options, &repeat),
            RTHUB_OK);
  CHECK(repeat.seq == first.seq && strcmp(repeat.epoch, first.epoch) == 0);
  /* the asynchronous form carries it too */
  batch b;
  batch_init(&b);
  CHECK_ERR(rthub_hub_publish_async(hub, "orders", NULL, "{\"n\":1}", 7, &options, on_done, &b),
            RTHUB_OK);
  CHECK(wait_done(&b, 1));
  CHECK(b.ok == 1 && b.last.seq == first.seq);
  /* another key is another message */
  options.idempotency_key = "order-18";
  CHECK_ERR(rthub_hub_publish_with_options(hub, "orders", NULL, "{\"n\":2}", 7, &options, &other),
            RTHUB_OK);
  CHECK(other.seq == first.seq + 1);
  rthub_hub_free(hub);
  batch_destroy(&b);
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "idempotency") == 0) {
    check_idempotency_key_reaches_hub();
    return check_summary("capi-idempotency");
  }
  rthub_hub_options options;
  CHECK_ERR(rthub_hub_options_init(&options, sizeof options), RTHUB_OK);
  options.port = 0;
  rthub_hub* hub = NULL;
  CHECK_ERR(rthub_hub_new(&options, &hub), RTHUB_OK);
  if (!hub) return check_summary("capi-publish");
  batch unstarted;
  batch_init(&unstarted);
  CHECK_ERR(rthub_hub_publish_async(hub, "a", NULL, "1", 1, NULL, on_done, &unstarted),
            RTHUB_ERR_STATE);
  CHECK(unstarted.done == 0);
  batch_destroy(&unstarted);
  CHECK_ERR(rthub_hub_set_auth(hub, record_service_thread, NULL, NULL), RTHUB_OK);
  CHECK_ERR(rthub_hub_start(hub), RTHUB_OK);

  /* A connection runs the connect hook: it shows which thread is the service thread. The
   * WebSocket handshake is not needed: an SSE request with a channel is enough. */
  char status[128] = "";
  CHECK(http_get_status(rthub_hub_port(hub), "/events?channel=x", status, sizeof status) == 0);
  CHECK(strncmp(status, "HTTP/1.1 200", 12) == 0);

  check_publish_options(hub);
  check_async_arguments(hub);
  check_async_completion_thread(hub);
  check_async_from_threads(hub);
  check_async_from_completion(hub);
  rthub_hub_free(hub);
  check_async_across_stop();
  return check_summary("capi-publish");
}
