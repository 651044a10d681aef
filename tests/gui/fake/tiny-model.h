/* tiny-model.h (test double) — the declaration the GUI tests' scripted engine provides in
 * place of engine/tiny-model.h, so the demo-model flow runs without the real engine. */
#pragma once

#include <glib.h>

gboolean ivl_tiny_model_write(const char *dir, GError **error);
