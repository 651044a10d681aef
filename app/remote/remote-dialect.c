/* remote-dialect.c — the servers' dialects (remote-dialect.h); each row's facts are in
 * docs/remote-servers.md under the server's name. */
#include "remote-dialect.h"

#include <string.h>

static const IvlRemoteDialectInfo dialects[] = {
    /* The OpenAI API itself: max_completion_tokens is its current name; no placeholders, no
     * video, no sampler extras beyond the documented ones. */
    {IVL_REMOTE_DIALECT_OPENAI, NULL, TRUE, NULL, NULL, IVL_REMOTE_VIDEO_IMAGES_IN_ORDER, FALSE,
     20 << 20, 0},
    /* vLLM: unknown placeholders are prepended, "<image>" ones are kept in place; video/jpeg
     * frame lists are accepted; no size limit found for data URLs. */
    {IVL_REMOTE_DIALECT_VLLM, "vllm", TRUE, "repetition_penalty", "<image>",
     IVL_REMOTE_VIDEO_JPEG_FRAMES, FALSE, 0, 0},
    /* LMDeploy: parts rendered in order; InternVL takes no video_url, its own guide sends
     * frames as images with max_dynamic_patch 1. */
    {IVL_REMOTE_DIALECT_LMDEPLOY, "lmdeploy", TRUE, "repetition_penalty", NULL,
     IVL_REMOTE_VIDEO_IMAGES_IN_ORDER, TRUE, 0, 0},
    /* llama-server: reads max_tokens only, calls the penalty repeat_penalty, refuses
     * video_url; images in part order. Its 10 MB bound is on images it downloads; a data URL
     * of that size is kept under it too. */
    {IVL_REMOTE_DIALECT_LLAMA_SERVER, "llamacpp", FALSE, "repeat_penalty", NULL,
     IVL_REMOTE_VIDEO_IMAGES_IN_ORDER, FALSE, 10 << 20, 0},
    /* ivl serve: "<image>" placeholders, video_url of a clip it samples with 8 frames, a
     * 64 MiB body: one image is kept well under it. */
    {IVL_REMOTE_DIALECT_IVL, "ivl", TRUE, "repetition_penalty", "<image>", IVL_REMOTE_VIDEO_FILE,
     FALSE, 16 << 20, 8},
};

const IvlRemoteDialectInfo *ivl_remote_dialect_info(IvlRemoteDialect dialect)
{
  for (gsize i = 0; i < G_N_ELEMENTS(dialects); i++)
    if (dialects[i].dialect == dialect)
      return &dialects[i];
  return &dialects[0];
}

IvlRemoteDialect ivl_remote_dialect_detect(const char *owned_by, const char *server_header)
{
  for (gsize i = 0; i < G_N_ELEMENTS(dialects); i++)
    if (owned_by && dialects[i].owned_by && g_ascii_strcasecmp(owned_by, dialects[i].owned_by) == 0)
      return dialects[i].dialect;
  /* llama-server names itself in Server ("llama.cpp"); vLLM and LMDeploy answer through
   * uvicorn, which says only "uvicorn". */
  if (server_header && strstr(server_header, "llama.cpp"))
    return IVL_REMOTE_DIALECT_LLAMA_SERVER;
  return IVL_REMOTE_DIALECT_OPENAI;
}

static const char *const names[] = {"auto", "openai", "vllm", "lmdeploy", "llama-server", "ivl"};

const char *ivl_remote_dialect_name(IvlRemoteDialect dialect)
{
  return (guint)dialect < G_N_ELEMENTS(names) ? names[dialect] : "openai";
}

gboolean ivl_remote_dialect_from_name(const char *name, IvlRemoteDialect *dialect)
{
  for (guint i = 0; name && i < G_N_ELEMENTS(names); i++)
    if (g_ascii_strcasecmp(name, names[i]) == 0) {
      *dialect = (IvlRemoteDialect)i;
      return TRUE;
    }
  return FALSE;
}
