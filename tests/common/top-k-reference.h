/* top-k-reference.h — what a device's sampling candidates must be (the backend's top_k op,
 * engine/backend.h), written plainly for the tests: penalty, temperature, a full sort for
 * the k-th largest, survivors in index order. */
#ifndef IVL_TEST_TOP_K_REFERENCE_H
#define IVL_TEST_TOP_K_REFERENCE_H

#include <glib.h>
#include <math.h>
#include <stdlib.h>

static int top_k_reference_desc(const void *a, const void *b)
{
  float x = *(const float *)a, y = *(const float *)b;
  return (x < y) - (x > y);
}

/* Writes the candidates of logits[n] to values/ids; returns their number. */
static inline int top_k_reference(const float *logits, int n, const int32_t *seen, int n_seen,
                                  float penalty, float temperature, int k, float *values,
                                  int32_t *ids)
{
  float *v = g_new(float, n), *sorted = g_new(float, n);
  for (int i = 0; i < n; i++)
    v[i] = logits[i];
  for (int j = 0; j < n_seen; j++) {
    float x = logits[seen[j]];
    v[seen[j]] = x < 0 ? x * penalty : x / penalty;
  }
  int finite = 0;
  for (int i = 0; i < n; i++) {
    if (temperature > 0 && temperature != 1.0f)
      v[i] = v[i] / temperature;
    if (v[i] != -INFINITY && !isnan(v[i]))
      sorted[finite++] = v[i];
  }
  qsort(sorted, finite, sizeof(float), top_k_reference_desc);
  float threshold = k <= finite ? sorted[k - 1] : -INFINITY;
  int m = 0;
  for (int i = 0; i < n; i++)
    if (v[i] != -INFINITY && !isnan(v[i]) && v[i] >= threshold) {
      values[m] = v[i];
      ids[m++] = i;
    }
  g_free(v);
  g_free(sorted);
  return m;
}

#endif /* IVL_TEST_TOP_K_REFERENCE_H */
