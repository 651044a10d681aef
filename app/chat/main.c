/* ivl-chat — the GTK 4 chat window for InternVL3 models. */
#include "ivl-config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "ivl-application.h"

int main(int argc, char **argv)
{
  g_autoptr(IvlApplication) app = NULL;

  setlocale(LC_ALL, "");
  bindtextdomain(GETTEXT_PACKAGE, IVL_LOCALEDIR);
  bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
  textdomain(GETTEXT_PACKAGE);
  g_set_application_name(_("ivl-chat"));

  app = ivl_application_new();
  return g_application_run(G_APPLICATION(app), argc, argv);
}
