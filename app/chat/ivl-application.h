/* ivl-application.h — ivl-chat: settings, the conversation store and the inference worker,
 * shared by its window. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define IVL_TYPE_APPLICATION (ivl_application_get_type())
G_DECLARE_FINAL_TYPE(IvlApplication, ivl_application, IVL, APPLICATION, AdwApplication)

IvlApplication *ivl_application_new(void);

G_END_DECLS
