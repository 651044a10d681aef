/* libFuzzer target for the body of an `ivl serve` request (app/serve/serve-request.c): the
 * bytes any local web page or client can send. Each input is read as a chat and as a
 * completion request. */
#include <stddef.h>
#include <stdint.h>

#include "serve-request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const IvlServeKind kinds[] = {IVL_SERVE_CHAT, IVL_SERVE_COMPLETION};

  for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
    GError *error = NULL;
    IvlServeRequest *request = ivl_serve_request_parse(kinds[i], (const char *)data, size, &error);
    if (request) {
      ivl_serve_request_count_media(request);
      g_free(ivl_serve_history_key(request->system, request->turns));
      ivl_serve_request_free(request);
    }
    g_clear_error(&error);
  }
  return 0;
}
