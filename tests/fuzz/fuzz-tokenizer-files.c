/* libFuzzer target for the tokenizer files: the input is cut at each "\n@@\n" into
 * vocab.json, merges.txt, tokenizer_config.json, added_tokens.json and tokenizer.json (the
 * 9B-hf's Llama file when the config names LlamaTokenizerFast), written to a
 * folder the tokenizer then loads; a tokenizer that loads encodes and decodes a text.
 * Built only with clang (tests/meson.build); run by tests/fuzz/run-fuzzer. */
#include <stddef.h>
#include <stdint.h>
#include <glib/gstdio.h>
#include <string.h>

#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                    "added_tokens.json", "tokenizer.json"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static char *dir;
  if (!dir)
    dir = g_dir_make_tmp("ivl-fuzz-tok-XXXXXX", NULL);
  const char *p = (const char *)data, *end = p + size;
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    const char *cut = p < end ? memmem(p, (size_t)(end - p), "\n@@\n", 4) : NULL;
    const char *stop = cut ? cut : end;
    g_autofree char *path = g_build_filename(dir, names[i], NULL);
    if (p < end || i < 2)
      g_file_set_contents(path, p, stop - p, NULL);
    else
      g_unlink(path);
    p = cut ? cut + 4 : end;
  }
  GError *error = NULL;
  ivl_tokenizer *tok = ivl_tokenizer_load(dir, &error);
  if (tok) {
    static const char text[] = "Hello <|im_end|> w\xc3\xb6rld  12345 \xf0\x9f\x98\x80";
    GArray *ids = ivl_tokenizer_encode(tok, text, -1);
    char *back = ivl_tokenizer_decode(tok, (const gint32 *)ids->data, ids->len, FALSE);
    g_free(back);
    g_array_unref(ids);
    ivl_tokenizer_free(tok);
  }
  g_clear_error(&error);
  return 0;
}
