/* tiling.c — the grid choice of dynamic_preprocess (InternVL train/dataset.py).
 *
 * The reference builds its candidates as a Python set of (i, j) tuples and sorts them by
 * i*j with a stable sort, so among grids of equal area the order is the set's iteration
 * order — and that order decides exact ties in the aspect-ratio search. We reproduce it by
 * running CPython's own algorithms: the tuple hash (xxHash-based, CPython >= 3.8) and the
 * set's open addressing (10 slots probed linearly, then perturbed jumps; the table grows to
 * the power of two above 4 x used when 5 x fill reaches 3 x mask). Tests compare the
 * result with the interpreter for many (min, max). */
#include "tiling.h"

#include <math.h>
#include <stdint.h>

#define XXPRIME_1 11400714785074694791ULL
#define XXPRIME_2 14029467366897019727ULL
#define XXPRIME_5 2870177450012600261ULL
#define LINEAR_PROBES 9
#define PERTURB_SHIFT 5

static uint64_t rotl31(uint64_t x)
{
  return (x << 31) | (x >> 33);
}

/* hash((a, b)) for small non-negative ints, whose own hash is their value. */
static int64_t tuple_hash(int a, int b)
{
  uint64_t acc = XXPRIME_5;
  const uint64_t lanes[2] = {(uint64_t)a, (uint64_t)b};
  for (int k = 0; k < 2; k++) {
    acc += lanes[k] * XXPRIME_2;
    acc = rotl31(acc);
    acc *= XXPRIME_1;
  }
  acc += 2 ^ (XXPRIME_5 ^ 3527539ULL);
  if (acc == UINT64_MAX)
    return 1546275796;
  return (int64_t)acc;
}

typedef struct {
  gboolean used;
  int64_t hash;
  ivl_grid key;
} set_slot;

typedef struct {
  set_slot *table;
  size_t mask, fill;
} py_set;

/* CPython's set_insert_clean: the slot a fresh key lands in. */
static set_slot *set_find_free(set_slot *table, size_t mask, int64_t hash)
{
  size_t perturb = (size_t)hash;
  size_t i = (size_t)hash & mask;
  for (;;) {
    set_slot *entry = &table[i];
    size_t probes = (i + LINEAR_PROBES <= mask) ? LINEAR_PROBES : 0;
    for (size_t j = 0; j <= probes; j++) {
      if (!entry[j].used)
        return &entry[j];
    }
    perturb >>= PERTURB_SHIFT;
    i = (i * 5 + 1 + perturb) & mask;
  }
}

static void set_resize(py_set *s, size_t minused)
{
  size_t newsize = 8;
  while (newsize <= minused)
    newsize <<= 1;
  set_slot *old = s->table;
  size_t old_n = s->mask + 1;
  s->table = g_new0(set_slot, newsize);
  s->mask = newsize - 1;
  for (size_t k = 0; k < old_n; k++) {
    if (old[k].used)
      *set_find_free(s->table, s->mask, old[k].hash) = old[k];
  }
  g_free(old);
}

static void set_add(py_set *s, ivl_grid key)
{
  int64_t hash = tuple_hash(key.cols, key.rows);
  size_t perturb = (size_t)hash;
  size_t i = (size_t)hash & s->mask;
  for (;;) {
    set_slot *entry = &s->table[i];
    size_t probes = (i + LINEAR_PROBES <= s->mask) ? LINEAR_PROBES : 0;
    for (size_t j = 0; j <= probes; j++) {
      if (!entry[j].used) {
        entry[j] = (set_slot){TRUE, hash, key};
        s->fill++;
        if (s->fill * 5 >= s->mask * 3)
          set_resize(s, s->fill * 4);
        return;
      }
      if (entry[j].hash == hash && entry[j].key.cols == key.cols && entry[j].key.rows == key.rows)
        return;
    }
    perturb >>= PERTURB_SHIFT;
    i = (i * 5 + 1 + perturb) & s->mask;
  }
}

int ivl_tiling_candidates(int min_num, int max_num, ivl_grid **out)
{
  py_set s = {g_new0(set_slot, 8), 7, 0};
  /* set((i, j) for n in range(min, max+1) for i in 1..n for j in 1..n if min <= i*j <= max) */
  for (int n = min_num; n <= max_num; n++)
    for (int i = 1; i <= n; i++)
      for (int j = 1; j <= n; j++)
        if (i * j <= max_num && i * j >= min_num)
          set_add(&s, (ivl_grid){i, j});

  ivl_grid *list = g_new(ivl_grid, s.fill > 0 ? s.fill : 1);
  int n = 0;
  for (size_t k = 0; k <= s.mask; k++)
    if (s.table[k].used)
      list[n++] = s.table[k].key;
  g_free(s.table);

  /* sorted(..., key=lambda x: x[0] * x[1]) is stable: insertion sort keeps equal keys. */
  for (int a = 1; a < n; a++) {
    ivl_grid g = list[a];
    int b = a - 1;
    while (b >= 0 && list[b].cols * list[b].rows > g.cols * g.rows) {
      list[b + 1] = list[b];
      b--;
    }
    list[b + 1] = g;
  }
  *out = list;
  return n;
}

ivl_grid ivl_tiling_choose_grid(int width, int height, int min_num, int max_num, int image_size)
{
  g_autofree ivl_grid *cands = NULL;
  int n = ivl_tiling_candidates(min_num, max_num, &cands);
  double aspect = (double)width / (double)height;
  double area = (double)width * (double)height;
  double best_diff = INFINITY;
  ivl_grid best = {1, 1};
  for (int k = 0; k < n; k++) {
    double diff = fabs(aspect - (double)cands[k].cols / (double)cands[k].rows);
    if (diff < best_diff) {
      best_diff = diff;
      best = cands[k];
    } else if (diff == best_diff &&
               area > 0.5 * image_size * image_size * cands[k].cols * cands[k].rows) {
      best = cands[k];
    }
  }
  return best;
}
