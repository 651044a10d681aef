/* ivl-servers-page.h — Preferences → Servers: add a server (name, base URL, API key kept in
 * the keyring, dialect detected or chosen), test it (its models, or what went wrong), remove
 * it. The list is the "servers" key of settings (ivl-servers.h). */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define IVL_TYPE_SERVERS_PAGE (ivl_servers_page_get_type())
G_DECLARE_FINAL_TYPE(IvlServersPage, ivl_servers_page, IVL, SERVERS_PAGE, AdwPreferencesPage)

GtkWidget *ivl_servers_page_new(GSettings *settings);

G_END_DECLS
