/* libFuzzer target for the parsers of untrusted model files: the safetensors header and
 * table (ivl_st_parse) and config.json (ivl_config_parse), fed the same bytes. Built only
 * with clang's -fsanitize=fuzzer,address (tests/meson.build); run by tests/fuzz/run-fuzzer. */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "safetensors-header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  GError *error = NULL;
  GPtrArray *tensors = ivl_st_parse(data, size, "fuzz.safetensors", &error);
  if (tensors) {
    /* Touch every byte handed out: an out-of-range tensor would trip ASan here. */
    volatile uint8_t sum = 0;
    for (guint i = 0; i < tensors->len; i++) {
      const ivl_st_tensor *t = g_ptr_array_index(tensors, i);
      for (gsize k = 0; k < t->nbytes; k++)
        sum += ((const uint8_t *)t->data)[k];
    }
    (void)sum;
    g_ptr_array_unref(tensors);
  }
  g_clear_error(&error);
  ivl_config *config = ivl_config_parse((const char *)data, (gssize)size, &error);
  ivl_config_free(config);
  g_clear_error(&error);
  return 0;
}
