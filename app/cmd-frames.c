/* ivl frames VIDEO — the frames load_video samples from a video, as model tiles. */
#include "ivl-config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "cmd-common.h"
#include "commands.h"
#include "ivl.h"
#include "media-output.h"

int ivl_cmd_frames(int argc, char **argv)
{
  int segments = 8;
  double start = IVL_CLI_UNSET_DOUBLE, end = IVL_CLI_UNSET_DOUBLE;
  g_autofree char *out = NULL, *png = NULL;
  GOptionEntry entries[] = {
      {"segments", 0, 0, G_OPTION_ARG_INT, &segments, N_("Frames to sample (default 8)"), "N"},
      {"start", 0, 0, G_OPTION_ARG_DOUBLE, &start, N_("Start of the clip in seconds"), "S"},
      {"end", 0, 0, G_OPTION_ARG_DOUBLE, &end, N_("End of the clip in seconds"), "E"},
      {"out", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Write the tiles as raw float32 here"),
       "FILE"},
      {"png", 0, 0, G_OPTION_ARG_FILENAME, &png, N_("Write each tile as a PNG into this folder"),
       "DIR"},
      {NULL},
  };
  g_autoptr(GOptionContext) ctx =
      g_option_context_new(_("VIDEO — sample a video's frames as model tiles"));
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2 ||
      ((start == IVL_CLI_UNSET_DOUBLE) != (end == IVL_CLI_UNSET_DOUBLE))) {
    fprintf(stderr, "ivl frames: %s\n",
            error       ? error->message
            : argc != 2 ? _("name one video")
                        : _("--start and --end go together"));
    return 2;
  }
  ivl_video_params params = ivl_video_default_params();
  params.n_segments = segments;
  params.has_bound = start != IVL_CLI_UNSET_DOUBLE;
  params.start = start;
  params.end = end;
  ivl_media *media = ivl_media_from_video_file(argv[1], &params, &error);
  if (media == NULL || !ivl_cli_write_tiles(media, out, png, &error)) {
    fprintf(stderr, "ivl frames: %s\n", error->message);
    ivl_media_free(media);
    return 1;
  }
  double fps;
  gint64 frame_count;
  const gint64 *indices;
  ivl_media_get_video_info(media, &fps, &frame_count, &indices);
  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "{\"fps\":%.17g,\"frame_count\":%" G_GINT64_FORMAT ",\"indices\":[",
                         fps, frame_count);
  for (int i = 0; i < ivl_media_get_n_tiles(media); i++)
    g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? "," : "", indices[i]);
  g_string_append(s, "]}");
  puts(s->str);
  g_string_free(s, TRUE);
  ivl_media_free(media);
  return 0;
}
