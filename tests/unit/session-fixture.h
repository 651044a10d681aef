/* session-fixture.h — a tiny random model with the real Qwen2.5 tokenizer, loaded once per
 * test program, and helpers the session tests share. */
#ifndef IVL_SESSION_FIXTURE_H
#define IVL_SESSION_FIXTURE_H

#include "ivl.h"

#define IMG_CONTEXT 151667 /* <IMG_CONTEXT> of the Qwen2.5 + InternVL3 vocabulary */

extern ivl_model *fixture_model;
/* The backend fixture_setup loads on (the CPU unless a test sets another before; another
 * gets a model shaped for the CUDA kernels). */
extern ivl_backend_kind fixture_backend;

/* Writes and loads the model (4096 positions); the teardown removes it. */
void fixture_setup(void);
void fixture_teardown(void);

char *fixture_source_path(const char *rel);
ivl_generation_params fixture_greedy(int max_new_tokens);
/* Asks greedily, asserting success; returns the answer. */
char *fixture_ask(ivl_session *s, const char *question, ivl_media **media, int n_media,
                  ivl_image_layout layout, int max_new_tokens);
int fixture_count_image_tokens(const ivl_session *s);
float *fixture_copy_logits(const ivl_session *s);
/* A token callback that cancels the GCancellable in user_data every second token. */
gboolean fixture_cancel_every_two(const char *piece, int token_id, void *user_data);

#endif /* IVL_SESSION_FIXTURE_H */
