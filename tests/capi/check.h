/* check.h: the check macros of the C ABI tests. Every check runs even after one fails, so that
 * one run reports every broken promise; a test's exit status is its number of failed checks. */
#ifndef RTHUB_TESTS_CHECK_H
#define RTHUB_TESTS_CHECK_H

#include <stdio.h>

#include "rthub/rthub.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ++failures;                                                              \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

/* Checks that a call returned `want`, and prints the library's detail when it did not. */
#define CHECK_ERR(call, want)                                                             \
  do {                                                                                    \
    rthub_err got_ = (call);                                                              \
    if (got_ != (want)) {                                                                 \
      ++failures;                                                                         \
      fprintf(stderr, "%s:%d: %s returned %d (%s), wanted %d (%s); last error: \"%s\"\n", \
              __FILE__, __LINE__, #call, (int)got_, rthub_strerror(got_), (int)(want),    \
              rthub_strerror(want), rthub_last_error());                                  \
    }                                                                                     \
  } while (0)

/* The exit status of a test: its failed checks (capped), after a summary line. */
static int check_summary(const char* name) {
  if (failures)
    fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
  else
    printf("%s: all checks passed\n", name);
  return failures > 100 ? 100 : failures;
}

#endif
