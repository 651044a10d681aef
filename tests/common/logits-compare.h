/* logits-compare.h — comparing a backend's logits with a reference's: normalised MSE, the
 * greedy token, and whether the reference's greedy token is clear enough to demand. */
#pragma once

#include <math.h>
#include <stdio.h>

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

/* One markdown row of how far got's logits are from ref's over rows × vocab values: max and
 * mean |Δ|, mean |ref|, and in how many rows the greedy token agrees (the accuracy tables of
 * tools/int-dot-accuracy.sh and tools/bf16-dot-accuracy.sh). */
static inline void logits_diff_row(const char *model, const char *what, const float *ref,
                                   const float *got, int rows, int vocab)
{
  double max_d = 0, sum_d = 0, sum_ref = 0;
  int agree = 0;
  for (int s = 0; s < rows; s++) {
    const float *a = ref + (size_t)s * vocab, *b = got + (size_t)s * vocab;
    for (int i = 0; i < vocab; i++) {
      double d = fabs((double)b[i] - a[i]);
      max_d = d > max_d ? d : max_d;
      sum_d += d;
      sum_ref += fabs(a[i]);
    }
    agree += logits_top1(a, vocab) == logits_top1(b, vocab);
  }
  double n = (double)rows * vocab;
  printf("| %s | %s | %.4g | %.3g | %.3g | %d/%d |\n", model, what, max_d, sum_d / n, sum_ref / n,
         agree, rows);
}
