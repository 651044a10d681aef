/* remote-chat-private.h — what an IvlRemoteChat holds, for remote-request.c to write out. */
#ifndef IVL_REMOTE_CHAT_PRIVATE_H
#define IVL_REMOTE_CHAT_PRIVATE_H

#include "remote-client.h"

typedef struct {
  gboolean video;
  GBytes *bytes;     /* an image's file bytes; a clip's file bytes, or NULL */
  char *mime;        /* of bytes */
  char *label;       /* the file, for messages */
  GPtrArray *frames; /* a clip's frames: GBytes of 448*448*3 RGB each */
  int frame_size;    /* their width and height */
} IvlRemoteMediaItem;

typedef struct {
  char *role; /* "user" or "assistant" */
  char *text;
  GPtrArray *media; /* IvlRemoteMediaItem*, user messages only */
} IvlRemoteMessage;

struct _IvlRemoteChat {
  char *model;
  char *system;
  GPtrArray *messages; /* IvlRemoteMessage* */
  ivl_generation_params params;
};

#endif /* IVL_REMOTE_CHAT_PRIVATE_H */
