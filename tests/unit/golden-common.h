/* golden-common.h — what the golden tests share: the tiny model a golden file names, and the
 * check that the generator still writes the weights the goldens were made from. */
#ifndef IVL_GOLDEN_COMMON_H
#define IVL_GOLDEN_COMMON_H

#include <json-glib/json-glib.h>

#include "tiny-model.h"

/* The golden's "model" object as generator parameters (no tokenizer). */
ivl_tiny_model_params golden_tiny_params(JsonObject *model);
/* Fails the test when a weight file of dir has another sha256 than the golden recorded. */
void golden_check_files(const char *dir, JsonObject *sha256);
/* rel under $IVL_SOURCE_ROOT. */
char *golden_source_path(const char *rel);
/* Removes a flat directory (a written tiny model). */
void golden_remove_tree(const char *dir);

#endif /* IVL_GOLDEN_COMMON_H */
