/* json-write.h — JSON text as Python's json.dumps(obj, indent=2) writes it, which is how
 * Hugging Face saves config.json and model.safetensors.index.json. (json-glib 1.6's generator
 * prints 1e-10 as the invalid "1e-10.0", and floats with 17 digits.) */
#ifndef IVL_JSON_WRITE_H
#define IVL_JSON_WRITE_H

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Members in the objects' own order, or sorted when sort_keys (sort_keys=True); floats in the
 * shortest form that reads back exactly, as Python's repr(); non-ASCII as \uXXXX; a final
 * newline. Caller frees. */
char *ivl_json_write_pretty(JsonNode *root, gboolean sort_keys);

G_END_DECLS

#endif /* IVL_JSON_WRITE_H */
