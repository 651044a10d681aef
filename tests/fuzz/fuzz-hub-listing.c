/* libFuzzer target for a page of the Hub's file listing, read as hub-client.c reads it:
 * checked JSON, then ivl_hub_listing_add. */
#include <stddef.h>
#include <stdint.h>

#include "hub-client.h"
#include "json-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  GError *error = NULL;
  JsonParser *parser = ivl_json_parse_checked((const char *)data, size, "fuzz", &error);
  if (parser) {
    GPtrArray *files = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_hub_file_free);
    ivl_hub_listing_add(json_parser_get_root(parser), "fuzz", files, &error);
    g_ptr_array_unref(files);
    g_object_unref(parser);
  }
  g_clear_error(&error);
  return 0;
}
