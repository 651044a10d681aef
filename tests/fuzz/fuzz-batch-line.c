/* libFuzzer target for a line of `ivl batch`'s JSONL input (app/batch-line.c). */
#include <stddef.h>
#include <stdint.h>

#include "batch-line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* cmd-batch.c hands over NUL-terminated lines. */
  char *line = g_strndup((const char *)data, size);
  char *question = NULL, *image = NULL;
  GError *error = NULL;
  ivl_batch_line_parse(line, "fuzz.jsonl:1", &question, &image, &error);
  g_clear_error(&error);
  g_free(question);
  g_free(image);
  g_free(line);
  return 0;
}
