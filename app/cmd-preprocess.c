/* ivl preprocess IMAGE — the tiles the model would see for an image. */
#include "ivl-config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "commands.h"
#include "ivl.h"
#include "media-output.h"

int ivl_cmd_preprocess(int argc, char **argv)
{
  int max_num = 12;
  g_autofree char *out = NULL, *png = NULL;
  GOptionEntry entries[] = {
      {"max-num", 0, 0, G_OPTION_ARG_INT, &max_num, N_("Most tiles of the grid (default 12)"), "N"},
      {"out", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Write the tiles as raw float32 here"),
       "FILE"},
      {"png", 0, 0, G_OPTION_ARG_FILENAME, &png, N_("Write each tile as a PNG into this folder"),
       "DIR"},
      {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(_("IMAGE — cut an image into model tiles"));
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2) {
    fprintf(stderr, "ivl preprocess: %s\n", error ? error->message : _("name one image"));
    return 2;
  }
  ivl_image_params params = ivl_image_default_params();
  params.max_num = max_num;
  ivl_media *media = ivl_media_from_image_file(argv[1], &params, &error);
  if (media == NULL || !ivl_cli_write_tiles(media, out, png, &error)) {
    fprintf(stderr, "ivl preprocess: %s\n", error->message);
    ivl_media_free(media);
    return 1;
  }
  int cols, rows, n = ivl_media_get_n_tiles(media);
  ivl_media_get_grid(media, &cols, &rows);
  printf("{\"grid\":[%d,%d],\"tiles\":%d,\"shape\":[%d,3,448,448]}\n", cols, rows, n, n);
  ivl_media_free(media);
  return 0;
}
