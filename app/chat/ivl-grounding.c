/* ivl-grounding.c — the boxes of a grounding answer. */
#include "ivl-grounding.h"

#include <stdlib.h>
#include <string.h>

static void box_free(IvlBox *box)
{
  g_free(box->label);
  g_free(box);
}

/* The image a ref at offset `at` belongs to: the last "Image-N" named before it. */
static int image_before(const char *text, const char *at)
{
  int image = 0;

  for (const char *p = text; (p = strstr(p, "Image-")) && p < at; p += 6) {
    long n = strtol(p + 6, NULL, 10);
    if (n >= 1 && n <= 64)
      image = (int)n - 1;
  }
  return image;
}

/* Reads the [[x1, y1, x2, y2], ...] list between <box> and </box> into boxes. */
static void parse_boxes(const char *list, const char *end, const char *label, int image,
                        int color, GPtrArray *boxes)
{
  const char *p = list;

  while (p < end && (p = strchr(p, '[')) && p < end) {
    double v[4];
    char *next;
    int i;

    if (p[1] == '[') {
      p++;
      continue;
    }
    p++;
    for (i = 0; i < 4; i++) {
      v[i] = g_ascii_strtod(p, &next);
      if (next == p)
        break;
      p = next;
      while (*p == ' ' || *p == ',')
        p++;
    }
    if (i == 4 && *p == ']' && v[0] < v[2] && v[1] < v[3]) {
      IvlBox *box = g_new0(IvlBox, 1);
      box->label = g_strdup(label);
      box->x1 = CLAMP(v[0], 0, 1000);
      box->y1 = CLAMP(v[1], 0, 1000);
      box->x2 = CLAMP(v[2], 0, 1000);
      box->y2 = CLAMP(v[3], 0, 1000);
      box->image = image;
      box->color = color;
      g_ptr_array_add(boxes, box);
    }
  }
}

GPtrArray *ivl_grounding_parse(const char *text)
{
  GPtrArray *boxes = g_ptr_array_new_with_free_func((GDestroyNotify)box_free);
  g_autofree char *label = g_strdup("");
  const char *label_at = text;
  int color = -1;

  for (const char *p = text; *p;) {
    if (g_str_has_prefix(p, "<ref>")) {
      const char *close = strstr(p + 5, "</ref>");
      if (close == NULL)
        break;
      g_free(label);
      label = g_strndup(p + 5, close - p - 5);
      label_at = p;
      color++;
      p = close + 6;
    } else if (g_str_has_prefix(p, "<box>")) {
      const char *close = strstr(p + 5, "</box>");
      if (close == NULL)
        break;
      if (color < 0)
        color = 0; /* a box with no ref before it */
      parse_boxes(p + 5, close, label, image_before(text, label_at), color, boxes);
      p = close + 6;
    } else {
      p++;
    }
  }
  return boxes;
}

GPtrArray *ivl_grounding_of_image(GPtrArray *boxes, int image)
{
  GPtrArray *mine = g_ptr_array_new_with_free_func((GDestroyNotify)box_free);

  for (guint i = 0; i < boxes->len; i++) {
    IvlBox *box = boxes->pdata[i];
    if (box->image == image) {
      IvlBox *copy = g_memdup2(box, sizeof *box);
      copy->label = g_strdup(box->label);
      g_ptr_array_add(mine, copy);
    }
  }
  return mine;
}

char *ivl_grounding_strip(const char *text)
{
  GString *out = g_string_new(NULL);

  for (const char *p = text; *p;) {
    const char *close;
    if (g_str_has_prefix(p, "<ref>") && (close = strstr(p + 5, "</ref>"))) {
      g_string_append(out, "**");
      g_string_append_len(out, p + 5, close - p - 5);
      g_string_append(out, "**");
      p = close + 6;
    } else if (g_str_has_prefix(p, "<box>") && (close = strstr(p + 5, "</box>"))) {
      p = close + 6;
    } else {
      g_string_append_c(out, *p++);
    }
  }
  return g_string_free(out, FALSE);
}

guint32 ivl_grounding_color(int index)
{
  /* GNOME palette: red, blue, green, orange, purple, teal, yellow, brown. */
  static const guint32 colors[] = {0xe01b24, 0x1c71d8, 0x2ec27e, 0xff7800,
                                   0x9141ac, 0x1a9fb5, 0xf5c211, 0x986a44};
  return colors[(guint)index % G_N_ELEMENTS(colors)];
}
