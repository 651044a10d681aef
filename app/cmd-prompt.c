/* cmd-prompt.c — `ivl prompt`: the exact prompt chat() would give the model for a question. */
#include "ivl-config.h"

#include <glib.h>
#include <glib/gi18n.h>
#include <stdio.h>

#include "commands.h"
#include "ivl.h"
#include "prompt.h"
#include "text-model.h"

typedef struct {
  char *system;
  char **images; /* image files, cut into tiles as chat() would */
  int max_num;
  char **tiles; /* one tile count per image */
  gboolean separate;
  char *video;
  int frames;
  gboolean ids;
} prompt_options;

/* The first turn of chat() for the images the options describe: combined images share one
 * <image> (their tiles summed), separate ones get "Image-i: ", video frames "Framei: ". */
static char *first_turn(const prompt_options *o, const ivl_template *tpl, const char *question,
                        GArray *counts, GError **error)
{
  ivl_image_params params = ivl_image_default_params();
  params.max_num = o->max_num;
  for (guint i = 0; o->images && o->images[i]; i++) {
    ivl_media *media = ivl_media_from_image_file(o->images[i], &params, error);
    if (media == NULL)
      return NULL;
    int n = ivl_media_get_n_tiles(media);
    g_array_append_val(counts, n);
    ivl_media_free(media);
  }
  if (o->video) {
    ivl_video_params vp = ivl_video_default_params();
    vp.n_segments = o->frames > 0 ? o->frames : vp.n_segments;
    ivl_media *media = ivl_media_from_video_file(o->video, &vp, error);
    if (media == NULL)
      return NULL;
    ivl_media_free(media);
    for (int i = 0; i < vp.n_segments; i++) {
      int one = 1;
      g_array_append_val(counts, one);
    }
    return ivl_prompt_video_question(question, (gsize)vp.n_segments);
  }
  for (guint i = 0; o->tiles && o->tiles[i]; i++) {
    gint64 v;
    if (!g_ascii_string_to_signed(o->tiles[i], 10, 1, G_MAXINT / 4096, &v, NULL)) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                  _("--tiles takes a positive count, not '%s'"), o->tiles[i]);
      return NULL;
    }
    int n = (int)v;
    g_array_append_val(counts, n);
  }
  if (o->frames > 0) {
    for (int i = 0; i < o->frames; i++) {
      int one = 1;
      g_array_append_val(counts, one);
    }
    return ivl_prompt_video_question(question, (gsize)o->frames);
  }
  if (o->separate)
    return ivl_prompt_separate_images_question(tpl, question, counts->len);
  int total = 0;
  for (guint i = 0; i < counts->len; i++)
    total += g_array_index(counts, int, i);
  g_array_set_size(counts, total > 0 ? 1 : 0);
  if (total > 0)
    g_array_index(counts, int, 0) = total;
  return ivl_prompt_chat_question(question, counts->len, TRUE);
}

static gboolean print_prompt(const prompt_options *o, const char *model, const char *question,
                             GError **error)
{
  g_auto(ivl_text_model) m = {0};
  if (!ivl_text_model_open(&m, model, error))
    return FALSE;
  g_autoptr(GArray) counts = g_array_new(FALSE, FALSE, sizeof(int));
  g_autofree char *q = first_turn(o, m.tpl, question, counts, error);
  if (!q)
    return FALSE;
  ivl_prompt_turn turn = {q, NULL, (const int *)counts->data, counts->len};
  if (o->ids) {
    g_autoptr(ivl_prompt) p =
        ivl_prompt_build(m.tok, m.tpl, o->system, &turn, 1, m.num_image_token, error);
    if (p)
      ivl_text_print_ids((const gint32 *)p->ids->data, p->ids->len);
    return p != NULL;
  }
  g_autofree char *text =
      ivl_prompt_render(m.tpl, o->system, &turn, 1, m.num_image_token, TRUE, error);
  if (text)
    fputs(text, stdout);
  return text != NULL;
}

int ivl_cmd_prompt(int argc, char **argv)
{
  g_autofree char *model = NULL;
  prompt_options o = {.max_num = 12};
  g_auto(GStrv) args = NULL;
  GOptionEntry entries[] = {
      {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model, N_("Model directory or name"), N_("MODEL")},
      {"system", 0, 0, G_OPTION_ARG_STRING, &o.system,
       N_("System message (default: the template's)"), N_("TEXT")},
      {"image", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o.images,
       N_("An image file (repeat for more images)"), N_("FILE")},
      {"max-num", 0, 0, G_OPTION_ARG_INT, &o.max_num, N_("Most tiles per image (default 12)"),
       N_("N")},
      {"video", 0, 0, G_OPTION_ARG_FILENAME, &o.video,
       N_("A video file, sampled into --segments frames"), N_("FILE")},
      {"segments", 0, 0, G_OPTION_ARG_INT, &o.frames, N_("Frames to sample from --video"),
       N_("N")},
      {"tiles", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.tiles,
       N_("An image of N tiles (repeat for more images)"), N_("N")},
      {"separate", 0, 0, G_OPTION_ARG_NONE, &o.separate,
       N_("Show the images separately (Image-1: …) instead of combined"), NULL},
      {"frames", 0, 0, G_OPTION_ARG_INT, &o.frames, N_("A video of N frames"), N_("N")},
      {"ids", 0, 0, G_OPTION_ARG_NONE, &o.ids, N_("Print the token ids instead"), NULL},
      {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &args, NULL, N_("QUESTION")},
      G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_summary(ctx, _("Print the prompt chat() builds for QUESTION, with image "
                                      "tokens written <IMG_CONTEXT>×N, or its token ids."));
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    fprintf(stderr, "ivl prompt: %s\n", error->message);
    return 2;
  }
  gboolean has_images = o.tiles || o.images;
  gboolean usage_ok = model && args && g_strv_length(args) == 1 && o.frames >= 0 &&
                      !((o.frames > 0 || o.video) && (has_images || o.separate));
  int status = 2;
  if (!usage_ok)
    fprintf(stderr, "%s",
            _("Usage: ivl prompt -m MODEL [--system TEXT] [--image FILE]… [--max-num N] "
              "[--tiles N]… [--separate] [--video FILE [--segments N] | --frames N] [--ids] "
              "QUESTION\n"));
  else if (print_prompt(&o, model, args[0], &error))
    status = 0;
  else {
    fprintf(stderr, "ivl prompt: %s\n", error->message);
    status = 1;
  }
  g_free(o.system);
  g_strfreev(o.tiles);
  g_strfreev(o.images);
  g_free(o.video);
  return status;
}
