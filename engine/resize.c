/* resize.c — bicubic resampling bit-identical to Pillow's (src/libImaging/Resample.c).
 *
 * Pillow resamples separably: a horizontal pass into an 8-bit intermediate, then a vertical
 * pass, each only when that dimension changes. Per output sample it takes the filter
 * (Keys cubic, a = -0.5) over support 2 * max(scale, 1) around center = (i + 0.5) * scale,
 * normalises the weights to sum 1 in double precision, rounds them half away from zero to
 * fixed point with 22 fractional bits, accumulates pixel * weight from 2^21 (rounding) and
 * shifts right by 22 with a clamp to [0, 255]. The horizontal pass covers only the rows
 * the vertical pass reads. */
#include "resize.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

typedef struct {
  int ksize;   /* weights per output sample */
  int *bounds; /* [out][2]: first input index, number of inputs */
  int32_t *kk; /* [out][ksize] fixed-point weights */
} coeffs;

static double bicubic_filter(double x)
{
  const double a = -0.5;
  if (x < 0.0)
    x = -x;
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0)
    return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

static gboolean precompute_coeffs(int in_size, int out_size, coeffs *c)
{
  const double support_base = 2.0;
  double scale = (double)in_size / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = support_base * filterscale;
  int ksize = (int)ceil(support) * 2 + 1;

  c->ksize = ksize;
  c->bounds = g_try_new(int, (gsize)out_size * 2);
  c->kk = g_try_new0(int32_t, (gsize)out_size * ksize);
  double *k = g_try_new(double, ksize);
  if (!c->bounds || !c->kk || !k) {
    g_free(k);
    return FALSE;
  }
  double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; xx++) {
    double center = (xx + 0.5) * scale;
    double ww = 0.0;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0)
      xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size)
      xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; x++) {
      double w = bicubic_filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; x++) {
      double w = ww != 0.0 ? k[x] / ww : k[x];
      c->kk[(gsize)xx * ksize + x] =
          (int32_t)(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
    }
    c->bounds[xx * 2] = xmin;
    c->bounds[xx * 2 + 1] = xmax;
  }
  g_free(k);
  return TRUE;
}

static void coeffs_clear(coeffs *c)
{
  g_free(c->bounds);
  g_free(c->kk);
}

static inline guint8 clip8(int32_t v)
{
  v >>= PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : (guint8)v;
}

/* Rows [row0, row0 + n_rows) of src, resampled horizontally into dst (dw wide). */
static void resample_horizontal(const guint8 *src, size_t src_stride, int row0, int n_rows,
                                guint8 *dst, int dw, const coeffs *c)
{
  for (int y = 0; y < n_rows; y++) {
    const guint8 *in = src + (size_t)(row0 + y) * src_stride;
    guint8 *out = dst + (size_t)y * dw * 3;
    for (int xx = 0; xx < dw; xx++) {
      int xmin = c->bounds[xx * 2], xmax = c->bounds[xx * 2 + 1];
      const int32_t *k = c->kk + (gsize)xx * c->ksize;
      int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < xmax; x++) {
        const guint8 *p = in + (size_t)(x + xmin) * 3;
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      out[xx * 3] = clip8(s0);
      out[xx * 3 + 1] = clip8(s1);
      out[xx * 3 + 2] = clip8(s2);
    }
  }
}

/* Vertical pass; the coefficient bounds are relative to row_offset of src. */
static void resample_vertical(const guint8 *src, size_t src_stride, int row_offset, guint8 *dst,
                              int w, int dh, const coeffs *c)
{
  size_t row_bytes = (size_t)w * 3;
  int32_t *acc = g_new(int32_t, row_bytes);
  for (int yy = 0; yy < dh; yy++) {
    int ymin = c->bounds[yy * 2] - row_offset, ymax = c->bounds[yy * 2 + 1];
    const int32_t *k = c->kk + (gsize)yy * c->ksize;
    for (size_t i = 0; i < row_bytes; i++)
      acc[i] = 1 << (PRECISION_BITS - 1);
    for (int y = 0; y < ymax; y++) {
      const guint8 *in = src + (size_t)(y + ymin) * src_stride;
      int32_t ky = k[y];
      for (size_t i = 0; i < row_bytes; i++)
        acc[i] += in[i] * ky;
    }
    guint8 *out = dst + (size_t)yy * row_bytes;
    for (size_t i = 0; i < row_bytes; i++)
      out[i] = clip8(acc[i]);
  }
  g_free(acc);
}

gboolean ivl_resize_bicubic_rgb(const guint8 *src, int sw, int sh, size_t src_stride, guint8 *dst,
                                int dw, int dh)
{
  gboolean need_h = dw != sw, need_v = dh != sh;
  if (!need_h && !need_v) {
    for (int y = 0; y < sh; y++)
      memcpy(dst + (size_t)y * dw * 3, src + (size_t)y * src_stride, (size_t)sw * 3);
    return TRUE;
  }
  coeffs ch = {0}, cv = {0};
  gboolean ok = TRUE;
  if (need_h && !precompute_coeffs(sw, dw, &ch))
    ok = FALSE;
  if (ok && need_v && !precompute_coeffs(sh, dh, &cv))
    ok = FALSE;
  if (ok && need_h && need_v) {
    /* Only the rows the vertical pass reads: from the first window's start to the last
     * window's end. */
    int ybox_first = cv.bounds[0];
    int ybox_last = cv.bounds[(dh - 1) * 2] + cv.bounds[(dh - 1) * 2 + 1];
    int n_rows = ybox_last - ybox_first;
    guint8 *mid = g_try_malloc((size_t)n_rows * dw * 3);
    if (mid) {
      resample_horizontal(src, src_stride, ybox_first, n_rows, mid, dw, &ch);
      resample_vertical(mid, (size_t)dw * 3, ybox_first, dst, dw, dh, &cv);
      g_free(mid);
    } else {
      ok = FALSE;
    }
  } else if (ok && need_h) {
    resample_horizontal(src, src_stride, 0, sh, dst, dw, &ch);
  } else if (ok) {
    resample_vertical(src, src_stride, 0, dst, dw, dh, &cv);
  }
  coeffs_clear(&ch);
  coeffs_clear(&cv);
  return ok;
}
