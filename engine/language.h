/* language.h — the Qwen2 (and InternLM2) decoder with its KV cache over the backend ops. */
#ifndef IVL_LANGUAGE_H
#define IVL_LANGUAGE_H

#include "backend.h"
#include "config.h"
#include "model-loader.h"
#include "sampling.h"

typedef struct ivl_language ivl_language;
/* The K and V of one sequence, all layers: positions [0, n_past) filled, n_ctx at most. */
typedef struct ivl_kv_cache ivl_kv_cache;

/* A language model split over backends of one kind (devices): backends[0] is the model's
 * own, holding the embeddings, the final norm and lm_head; layer l and its KV cache go to
 * backends[backend_of_layer[l]]. */
typedef struct {
  int n_backends;
  ivl_backend *backends[IVL_MAX_GPUS];
  const int *backend_of_layer; /* [num_layers] */
} ivl_language_split;

/* Takes language_model.* from the loader and allocates the run state: the model's own KV
 * cache of n_ctx positions and activations for prefill chunks; split NULL: everything on be. */
ivl_language *ivl_language_new(ivl_backend *be, const ivl_llm_config *cfg, ivl_loader *ld,
                               int n_ctx, const ivl_language_split *split, GError **error);
void ivl_language_free(ivl_language *lm);

int ivl_language_get_n_ctx(const ivl_language *lm);
/* The model's own KV cache (ivl_language_forward's), for a batch to run one sequence in. */
ivl_kv_cache *ivl_language_get_kv(ivl_language *lm);
/* Positions held in the model's own KV cache. */
int64_t ivl_language_get_n_past(const ivl_language *lm);

/* The most rows one ivl_language_forward_batch step takes, all sequences together. */
int ivl_language_get_max_rows(const ivl_language *lm);

/* Bytes of a cache of n_ctx positions on lm's backend. */
guint64 ivl_language_kv_bytes(const ivl_language *lm, int n_ctx);
/* A cache of n_ctx positions for one sequence of a batch (the model's own is for
 * ivl_language_forward). Errors: OUT_OF_MEMORY, the backend's. */
ivl_kv_cache *ivl_kv_cache_new(ivl_language *lm, int n_ctx, GError **error);
void ivl_kv_cache_free(ivl_kv_cache *kv);
int ivl_kv_cache_get_n_ctx(const ivl_kv_cache *kv);
int64_t ivl_kv_cache_get_n_past(const ivl_kv_cache *kv);

/* One sequence's rows of a step: ids[0..n) at positions pos0.. of kv (pos0 <= its n_past;
 * beyond pos0 is dropped). Where ids[i] == image_token, the next row of image_embeds from
 * image_row on replaces the token embedding. theta: the RoPE base (ivl_language_rope_theta of
 * the whole prompt's length for a prefill, of pos0 + 1 for a decode step). */
typedef struct {
  ivl_kv_cache *kv;
  const int32_t *ids;
  int64_t n, pos0;
  int32_t image_token;
  const ivl_tensor *image_embeds;
  int64_t image_row;
  double theta;
  gboolean logits; /* this step gives the logits of the sequence's last row */
} ivl_lm_rows;

/* One forward pass over several sequences, each with its own cache and positions: the
 * products run over all rows at once, attention per sequence. The sequences that ask for
 * logits get rows 0, 1, … of the logits in their order (ivl_language_get_logits_row).
 * At most ivl_language_get_max_rows rows in all. Errors: INVALID_ARGUMENT for rows that do
 * not fit their cache or the step, the backend's failures. */
gboolean ivl_language_forward_batch(ivl_language *lm, const ivl_lm_rows *seqs, int n_seqs,
                                    GError **error);

/* Runs tokens ids[0..n) at positions pos0.. (pos0 <= n_past: the cache beyond pos0 is
 * dropped, which is how a session reuses a common prefix). Where ids[i] == image_token,
 * the next unused row of image_embeds (rows in order, [n_images_rows, D]) replaces the
 * token embedding; the caller guarantees the counts match. Leaves the logits of the last
 * position for ivl_language_get_logits / ivl_language_argmax. Errors: INVALID_ARGUMENT when
 * the context would overflow, the backend's failures. */
gboolean ivl_language_forward(ivl_language *lm, const int32_t *ids, int64_t n, int64_t pos0,
                              int32_t image_token, const ivl_tensor *image_embeds, GError **error);

/* Row `row` of the last forward's logits as f32 into logits[vocab_size]. */
gboolean ivl_language_get_logits_row(ivl_language *lm, int row, float *logits, GError **error);
/* The argmax of row `row` of the last forward's logits, computed where they live. */
int32_t ivl_language_argmax_row(ivl_language *lm, int row);
/* The sampling candidates of row `row` of the last forward's logits, chosen where they live
 * (the backend's top_k); IVL_ERROR_UNSUPPORTED when the backend has no such op. */
gboolean ivl_language_top_k_row(ivl_language *lm, int row, const ivl_sampler_device_part *part,
                                float *values, int32_t *ids, int cap, int *n, GError **error);
/* Row 0: the logits of ivl_language_forward. */
gboolean ivl_language_get_logits(ivl_language *lm, float *logits, GError **error);
int32_t ivl_language_argmax(ivl_language *lm);

/* Dynamic NTK (spec 7c): the RoPE base for a forward whose last position is seq_len - 1. */
double ivl_language_rope_theta(const ivl_llm_config *cfg, int64_t seq_len);

#endif /* IVL_LANGUAGE_H */
