/* ivl-preferences.h — the preferences window, bound to the GSettings of the app. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define IVL_TYPE_PREFERENCES (ivl_preferences_get_type())
G_DECLARE_FINAL_TYPE(IvlPreferences, ivl_preferences, IVL, PREFERENCES, AdwPreferencesWindow)

IvlPreferences *ivl_preferences_new(GtkWindow *parent, GSettings *settings);

G_END_DECLS
