/* remote-dialect.h — what differs between the OpenAI-compatible servers, as one table.
 * The facts and their sources are in docs/remote-servers.md. */
#ifndef IVL_REMOTE_DIALECT_H
#define IVL_REMOTE_DIALECT_H

#include "remote-client.h"

/* How a video clip (our sampler's frames) reaches the server. */
typedef enum {
  /* One video_url part "data:video/jpeg;base64,F1,F2,…": vLLM takes the frames as the
   * video's own (VideoMediaIO.load_base64). */
  IVL_REMOTE_VIDEO_JPEG_FRAMES,
  /* One video_url part with the clip's file when the server would sample the same frames
   * (`ivl serve` samples 8 with our sampler), else frames as images with placeholders. */
  IVL_REMOTE_VIDEO_FILE,
  /* Image parts in order, a "FrameN: " text part before each (the quick start's layout). */
  IVL_REMOTE_VIDEO_IMAGES_IN_ORDER,
} IvlRemoteVideoMode;

typedef struct {
  IvlRemoteDialect dialect;
  const char *owned_by;           /* its value in GET /v1/models; NULL: none of its own */
  gboolean max_completion_tokens; /* reads max_completion_tokens (sent beside max_tokens) */
  const char *repetition_penalty; /* the field's name; NULL: not sent */
  const char *image_placeholder;  /* where text parts hold one image each, else NULL */
  IvlRemoteVideoMode video;
  /* Extra members of each frame's image_url: LMDeploy tiles a frame unless told one tile. */
  gboolean frame_one_tile;
  gsize max_image_bytes; /* an image's file bytes above this are re-encoded; 0: none */
  int video_file_frames; /* IVL_REMOTE_VIDEO_FILE: the frames the server samples */
} IvlRemoteDialectInfo;

const IvlRemoteDialectInfo *ivl_remote_dialect_info(IvlRemoteDialect dialect);

/* The dialect a server is, from the owned_by of its first model and its Server header (either
 * may be NULL); OPENAI when neither says. */
IvlRemoteDialect ivl_remote_dialect_detect(const char *owned_by, const char *server_header);

#endif /* IVL_REMOTE_DIALECT_H */
