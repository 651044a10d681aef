/* cmd-media.c — the media options of the generation commands (cmd-common.h). */
#include "ivl-config.h"

#include "cmd-common.h"

#include <glib/gi18n.h>

void ivl_cli_media_options_init(ivl_cli_media_options *opts)
{
  *opts = (ivl_cli_media_options){.segments = 8, .start = IVL_CLI_UNSET_DOUBLE,
                                                .end = IVL_CLI_UNSET_DOUBLE, .max_num = 12};
}

void ivl_cli_add_media_options(GOptionContext *ctx, ivl_cli_media_options *opts)
{
  const GOptionEntry entries[] = {
      {"image", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opts->images,
       N_("An image (repeat for several)"), "FILE"},
      {"separate", 0, 0, G_OPTION_ARG_NONE, &opts->separate,
       N_("Show several images as Image-1, Image-2, … instead of combining their tiles"), NULL},
      {"video", 0, 0, G_OPTION_ARG_FILENAME, &opts->video, N_("A video"), "FILE"},
      {"segments", 0, 0, G_OPTION_ARG_INT, &opts->segments,
       N_("Video frames to sample (default 8)"), "N"},
      {"start", 0, 0, G_OPTION_ARG_DOUBLE, &opts->start, N_("Sample the video from this second"),
       "S"},
      {"end", 0, 0, G_OPTION_ARG_DOUBLE, &opts->end, N_("Sample the video up to this second"), "E"},
      {"max-num", 0, 0, G_OPTION_ARG_INT, &opts->max_num,
       N_("Most tiles per image, thumbnail not counted (default 12)"), "N"},
      {NULL},
  };
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
}

void ivl_cli_media_options_clear(ivl_cli_media_options *opts)
{
  g_clear_pointer(&opts->images, g_strfreev);
  g_clear_pointer(&opts->video, g_free);
}

GPtrArray *ivl_cli_load_media(const ivl_cli_media_options *o, const ivl_model *model,
                              GError **error)
{
  g_autoptr(GPtrArray) media = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_media_free);
  if (o->video && o->images) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("give images or a video, not both"));
    return NULL;
  }
  ivl_image_params ip = ivl_image_default_params();
  ip.max_num = o->max_num;
  for (char **f = o->images; f && *f; f++) {
    ivl_media *m = ivl_media_from_image_file(*f, &ip, error);
    if (!m)
      return NULL;
    g_ptr_array_add(media, m);
  }
  int per_frame = model ? ivl_model_get_tile_tokens(model) : 0;
  int n_ctx = model ? ivl_model_get_context_length(model) : 1;
  if (o->video && model && (gint64)o->segments * per_frame >= n_ctx) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("%d frames of %d tokens each do not fit the context of %d tokens (fewer "
                  "--segments or a larger --context)"),
                o->segments, per_frame, n_ctx);
    return NULL;
  }
  if (o->video) {
    ivl_video_params vp = ivl_video_default_params();
    vp.n_segments = o->segments;
    vp.has_bound = o->start != IVL_CLI_UNSET_DOUBLE || o->end != IVL_CLI_UNSET_DOUBLE;
    /* get_index's defaults for an open side of the bound (spec 8). */
    vp.start = o->start != IVL_CLI_UNSET_DOUBLE ? o->start : -100000;
    vp.end = o->end != IVL_CLI_UNSET_DOUBLE ? o->end : 100000;
    ivl_media *m = ivl_media_from_video_file(o->video, &vp, error);
    if (!m)
      return NULL;
    g_ptr_array_add(media, m);
  }
  return g_steal_pointer(&media);
}

ivl_image_layout ivl_cli_media_layout(const ivl_cli_media_options *opts)
{
  return opts->separate ? IVL_IMAGES_SEPARATE : IVL_IMAGES_COMBINED;
}
