/* expect.h — the compute tests' soft check: a failed EXPECT prints where and why and counts
 * in the test's own `static int failures`, and the test goes on to report every failure. */
#pragma once

#include <stdio.h>

#define EXPECT(cond, ...)                                                                          \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                         \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fprintf(stderr, "\n");                                                                       \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)
