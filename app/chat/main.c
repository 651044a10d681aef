/* ivl-chat — the GTK 4 chat window for InternVL3 models. */
#include "ivl-config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdlib.h>

#include "ivl-application.h"

/* Run from the build tree (as tools/start.sh and the README do), the app uses what the build
 * made instead of installed files it may not have: the compiled GSettings schema (without
 * which GSettings aborts), the translations and the tokenizer the demo model copies. */
static const char *build_tree_locale_dir(void)
{
  g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
  g_autofree char *dir = exe ? g_path_get_dirname(exe) : NULL;
  g_autofree char *build_dir = realpath(IVL_CHAT_BUILD_DIR, NULL);
  const char *schemas = g_getenv("GSETTINGS_SCHEMA_DIR");

  if (dir == NULL || build_dir == NULL || !g_str_equal(dir, build_dir))
    return IVL_LOCALEDIR;
  if (schemas && *schemas) {
    g_autofree char *both = g_strconcat(IVL_BUILD_ROOT "/data:", schemas, NULL);
    g_setenv("GSETTINGS_SCHEMA_DIR", both, TRUE);
  } else {
    g_setenv("GSETTINGS_SCHEMA_DIR", IVL_BUILD_ROOT "/data", TRUE);
  }
  g_setenv("IVL_TOKENIZER_DIR", IVL_SOURCE_ROOT "/tests/data/tokenizer/qwen2.5", FALSE);
  return IVL_BUILD_ROOT "/po";
}

int main(int argc, char **argv)
{
  g_autoptr(IvlApplication) app = NULL;

  setlocale(LC_ALL, "");
  bindtextdomain(GETTEXT_PACKAGE, build_tree_locale_dir());
  bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
  textdomain(GETTEXT_PACKAGE);
  g_set_application_name(_("ivl-chat"));

  app = ivl_application_new();
  return g_application_run(G_APPLICATION(app), argc, argv);
}
