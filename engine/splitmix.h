/* splitmix.h — the engine's one pseudo-random generator. */
#ifndef IVL_SPLITMIX_H
#define IVL_SPLITMIX_H

#include <glib.h>

/* splitmix64 (Steele, Lea, Flood 2014; the seeding generator of xoshiro): a 64-bit state
 * advanced by the golden-ratio increment, output through two xor-shift-multiply rounds.
 * Tiny, fast, the same stream on every machine, and every seed (0 included) gives a
 * full-period stream. */
static inline guint64 ivl_splitmix64(guint64 *state)
{
  guint64 z = (*state += G_GUINT64_CONSTANT(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

#endif
