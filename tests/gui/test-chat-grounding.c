/* InternVL3 grounding answers: boxes per ref, refs per answer, images of a multi-image turn,
 * and the text shown with labels instead of tags. */
#include "ivl-grounding.h"

static void test_refs_and_boxes(void)
{
  g_autoptr(GPtrArray) boxes = ivl_grounding_parse(
      "<ref>a dog</ref><box>[[10, 20, 300, 400], [500, 500, 900, 950]]</box> and "
      "<ref>a ball</ref><box>[[1, 2, 3, 4]]</box>");
  IvlBox *b;

  g_assert_cmpuint(boxes->len, ==, 3);
  b = boxes->pdata[0];
  g_assert_cmpstr(b->label, ==, "a dog");
  g_assert_cmpfloat(b->x1, ==, 10);
  g_assert_cmpfloat(b->y2, ==, 400);
  b = boxes->pdata[1];
  g_assert_cmpstr(b->label, ==, "a dog");
  g_assert_cmpint(b->color, ==, ((IvlBox *)boxes->pdata[0])->color);
  b = boxes->pdata[2];
  g_assert_cmpstr(b->label, ==, "a ball");
  g_assert_cmpint(b->color, !=, ((IvlBox *)boxes->pdata[0])->color);
  g_assert_cmpuint(ivl_grounding_color(0), !=, ivl_grounding_color(1));
}

static void test_images(void)
{
  g_autoptr(GPtrArray) boxes = ivl_grounding_parse(
      "Image-1: <ref>cat</ref><box>[[0, 0, 10, 10]]</box>\n"
      "Image-2: <ref>cat</ref><box>[[5, 5, 50, 50]]</box>");
  g_autoptr(GPtrArray) second = NULL;

  g_assert_cmpuint(boxes->len, ==, 2);
  g_assert_cmpint(((IvlBox *)boxes->pdata[0])->image, ==, 0);
  g_assert_cmpint(((IvlBox *)boxes->pdata[1])->image, ==, 1);
  second = ivl_grounding_of_image(boxes, 1);
  g_assert_cmpuint(second->len, ==, 1);
  g_assert_cmpfloat(((IvlBox *)second->pdata[0])->x2, ==, 50);
}

static void test_malformed(void)
{
  /* Unclosed tags, inverted or short boxes, values past 1000: no crash, nothing wrong drawn. */
  g_autoptr(GPtrArray) a = ivl_grounding_parse("<ref>x</ref><box>[[1, 2, 3");
  g_autoptr(GPtrArray) b = ivl_grounding_parse("<ref>x</ref><box>[[30, 2, 3, 40], [1, 2]]</box>");
  g_autoptr(GPtrArray) c = ivl_grounding_parse("<box>[[0, 0, 2000, 1500]]</box>");

  g_assert_cmpuint(a->len, ==, 0);
  g_assert_cmpuint(b->len, ==, 0);
  g_assert_cmpuint(c->len, ==, 1);
  g_assert_cmpfloat(((IvlBox *)c->pdata[0])->x2, ==, 1000);
  g_assert_cmpstr(((IvlBox *)c->pdata[0])->label, ==, "");
}

static void test_strip(void)
{
  g_autofree char *text =
      ivl_grounding_strip("Here: <ref>a dog</ref><box>[[1, 2, 3, 4]]</box>, done. <ref>open");

  g_assert_cmpstr(text, ==, "Here: **a dog**, done. <ref>open");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/grounding/refs-and-boxes", test_refs_and_boxes);
  g_test_add_func("/grounding/images", test_images);
  g_test_add_func("/grounding/malformed", test_malformed);
  g_test_add_func("/grounding/strip", test_strip);
  return g_test_run();
}
