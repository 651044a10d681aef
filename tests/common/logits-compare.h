/* logits-compare.h — comparing a backend's logits with a reference's: normalised MSE, the
 * greedy token, and whether the reference's greedy token is clear enough to demand. */
#pragma once

#include <math.h>

/* Sum of squared differences over the reference's sum of squares; any NaN is infinitely far. */
static inline double logits_nmse(const float *ref, const float *x, int n)
{
  double err = 0, sum = 0;
  for (int i = 0; i < n; i++) {
    if (isnan(x[i]))
      return INFINITY;
    err += ((double)x[i] - ref[i]) * ((double)x[i] - ref[i]);
    sum += (double)ref[i] * ref[i];
  }
  return sum > 0 ? err / sum : err;
}

/* The greedy token: the first index of the largest logit. */
static inline int logits_top1(const float *l, int n)
{
  int a = 0;
  for (int i = 1; i < n; i++)
    if (l[i] > l[a])
      a = i;
  return a;
}

/* The top-1 index when it leads every other by margin of its value, else -1. */
static inline int logits_clear_top(const float *l, int n, float margin)
{
  const int a = logits_top1(l, n);
  for (int i = 0; i < n; i++)
    if (i != a && l[a] - l[i] <= margin * fabsf(l[a]))
      return -1;
  return a;
}
