/* cmd-demo.c — `ivl demo`: the whole pipeline on any machine, no download, no display.
 *
 * Makes sure a tiny demo model exists ($XDG_DATA_HOME/ivl/models/ivl-demo-tiny, written by
 * engine/tiny-model with RANDOM weights and the real Qwen2.5 tokenizer) and asks it one
 * question about the example image, streaming. The answer is noise by construction; the
 * point is that image preprocessing, InternViT, the projector, the language model,
 * sampling and streaming all run. -m runs the same question on a real model.
 */
#include "ivl-config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "cmd-common.h"
#include "commands.h"
#include "model-path.h"
#include "tiny-model.h"

#define DEMO_MODEL "ivl-demo-tiny"
#define DEMO_QUESTION "Please describe the image shortly."

/* An installed data file, else the source tree's (for runs from the build directory). */
static char *data_file(const char *installed, const char *in_source)
{
  g_autofree char *a = g_build_filename(IVL_DATADIR, installed, NULL);
  if (g_file_test(a, G_FILE_TEST_EXISTS))
    return g_steal_pointer(&a);
  return g_build_filename(IVL_SOURCE_DIR, in_source, NULL);
}

static char *ensure_demo_model(GError **error)
{
  g_autofree char *models = ivl_model_path_user_models_dir();
  g_autofree char *dir = g_build_filename(models, DEMO_MODEL, NULL);
  g_autofree char *config = g_build_filename(dir, "config.json", NULL);
  if (g_file_test(config, G_FILE_TEST_EXISTS))
    return g_steal_pointer(&dir);
  g_autofree char *tokenizer = data_file("tokenizer/qwen2.5", "tests/data/tokenizer/qwen2.5");
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.tokenizer_dir = tokenizer;
  fprintf(stderr, _("ivl demo: writing a tiny model with RANDOM weights to %s\n"), dir);
  if (!ivl_tiny_model_write(dir, &p, error))
    return NULL;
  return g_steal_pointer(&dir);
}

static gboolean demo(ivl_cli_model_options *mo, const char *image, GError **error)
{
  gboolean random = mo->model == NULL;
  if (random && !(mo->model = ensure_demo_model(error)))
    return FALSE;
  g_autofree char *path =
      image ? g_strdup(image) : data_file("demo/red-panda.jpg", "data/demo/red-panda.jpg");
  ivl_image_params ip = ivl_image_default_params();
  ivl_media *media = ivl_media_from_image_file(path, &ip, error);
  if (!media)
    return FALSE;
  ivl_model *model = ivl_cli_load_model(mo, error);
  ivl_session *session = model ? ivl_session_new(model, NULL, error) : NULL;
  g_autofree char *answer = NULL;
  if (session) {
    ivl_generation_params gp = ivl_generation_default_params();
    gp.max_new_tokens = 48;
    printf(_("Image: %s (%d tiles)\nQuestion: %s\n"), path, ivl_media_get_n_tiles(media),
           DEMO_QUESTION);
    if (random)
      printf("%s\n", _("(The demo model has random weights: its answer is noise. Pass -m with "
                       "a real InternVL3 model for a real answer.)"));
    printf("%s ", _("Answer:"));
    ivl_cli_flush_stdout();
    ivl_cli_catch_interrupt();
    answer = ivl_session_ask(session, DEMO_QUESTION, &media, 1, IVL_IMAGES_COMBINED, &gp,
                             ivl_cli_print_piece, NULL, NULL, error);
    printf("\n");
  }
  ivl_session_free(session);
  ivl_model_free(model);
  ivl_media_free(media);
  return answer != NULL;
}

int ivl_cmd_demo(int argc, char **argv)
{
  ivl_cli_model_options mo = {0};
  char *image = NULL;
  const GOptionEntry entries[] = {
      {"image", 0, 0, G_OPTION_ARG_FILENAME, &image,
       N_("Image to ask about (default: the bundled example)"), "FILE"},
      {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_summary(
      ctx, _("Run the whole pipeline once: without -m on a tiny random-weight model that "
             "is created on first use."));
  ivl_cli_add_model_options(ctx, &mo);
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  int status = 2;
  if (ivl_cli_parse(ctx, &argc, &argv)) {
    g_autoptr(GError) error = NULL;
    status = demo(&mo, image, &error) ? 0 : 1;
    if (status)
      fprintf(stderr, "ivl demo: %s\n", error->message);
  }
  ivl_cli_model_options_clear(&mo);
  g_free(image);
  return status;
}
