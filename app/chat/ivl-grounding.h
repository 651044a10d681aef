/* ivl-grounding.h — the boxes of a grounding answer.
 *
 * InternVL3 answers grounding questions with <ref>label</ref><box>[[x1, y1, x2, y2], ...]</box>,
 * coordinates normalized to 0-1000 of the image. Several refs may follow each other, each with
 * one or more boxes; in a turn with several images, a ref belongs to the image the answer last
 * named ("Image-2"), else to the first. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *label;            /* the ref's text; "" for a box without one */
  double x1, y1, x2, y2;  /* 0-1000 of the image's width and height */
  int image;              /* 0-based index among the turn's images */
  int color;              /* the same for every box of one ref, distinct between refs */
} IvlBox;

/* The boxes in text (IvlBox, owned by the array); empty when there are none. */
GPtrArray *ivl_grounding_parse(const char *text);
/* A copy of the boxes that are on image (0-based). */
GPtrArray *ivl_grounding_of_image(GPtrArray *boxes, int image);
/* text with each <ref>label</ref> as **label** and the <box> tags removed. */
char *ivl_grounding_strip(const char *text);
/* An RGB colour (0xRRGGBB) for a box colour index, distinct for the first eight. */
guint32 ivl_grounding_color(int index);

G_END_DECLS
