/* image-gif.c — the colour Pillow gives a GIF's transparent pixels.
 *
 * gdk-pixbuf decodes the first frame composited over transparency (alpha 0), but Pillow keeps
 * the first frame as palette indices: convert('RGB') shows a transparent pixel in its index's
 * palette colour, and fills the screen outside the first frame with the transparent index (or
 * index 0 without one). So those pixels take the palette colour of that index: the first
 * image's local palette, else the global one, else Pillow's grayscale ramp. */
#include "image-decode-private.h"

#include <string.h>

/* Skips a run of GIF data sub-blocks; returns the position after the terminator. */
static gsize skip_sub_blocks(const guint8 *data, gsize size, gsize pos)
{
  while (pos < size && data[pos] != 0)
    pos += (gsize)data[pos] + 1;
  return pos + 1;
}

void ivl_gif_fill_color(const guint8 *data, gsize size, guint8 rgb[3])
{
  const guint8 *palette = NULL;
  gsize palette_n = 0, pos = 13;
  int index = 0;
  if (size < 13)
    return;
  if (data[10] & 0x80) {
    palette = data + 13;
    palette_n = (gsize)2 << (data[10] & 7);
    pos += 3 * palette_n;
  }
  while (pos + 1 < size) {
    if (data[pos] == 0x21) {
      /* The graphic control extension before the first image: its transparent index. */
      if (data[pos + 1] == 0xF9 && pos + 6 < size && data[pos + 2] == 4)
        index = (data[pos + 3] & 1) ? data[pos + 6] : 0;
      pos = skip_sub_blocks(data, size, pos + 2);
    } else if (data[pos] == 0x2C && pos + 10 <= size) {
      if (data[pos + 9] & 0x80) {
        palette = data + pos + 10;
        palette_n = (gsize)2 << (data[pos + 9] & 7);
      }
      break;
    } else {
      break;
    }
  }
  if (palette == NULL) {
    rgb[0] = rgb[1] = rgb[2] = (guint8)index;
  } else if ((gsize)index < palette_n && palette + 3 * index + 3 <= data + size) {
    memcpy(rgb, palette + 3 * index, 3);
  } else {
    rgb[0] = rgb[1] = rgb[2] = 0;
  }
}
