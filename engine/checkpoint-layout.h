/* checkpoint-layout.h — where a tensor of the original InternVL3 layout is stored in the
 * layout a checkpoint actually has.
 *
 * The model code names its weights as the original "remote code" checkpoints do
 * (model-tensors.h, spec/INTERNVL3.md section 2). The transformers-native "-hf" repos
 * (InternVLForConditionalGeneration) hold the same numbers under other names, and split two
 * fused matrices: the vision attention's qkv into q_proj, k_proj, v_proj, and InternLM2's
 * interleaved wqkv (9B) into Llama's q_proj, k_proj, v_proj. This module maps one onto the
 * other, row by row, so every layout runs through the one model code path. The renames follow
 * transformers' convert_internvl_weights_to_hf.py (docs/model-coverage.md).
 */
#ifndef IVL_CHECKPOINT_LAYOUT_H
#define IVL_CHECKPOINT_LAYOUT_H

#include <glib.h>
#include <stdint.h>

#include "config.h"
#include "safetensors.h"

G_BEGIN_DECLS

/* Rows [orig_row0, orig_row0 + n_rows) of an original tensor are rows [row0, row0 + n_rows)
 * of the stored tensor name, which has total_rows rows. */
typedef struct {
  char *name;
  int64_t total_rows;
  int64_t row0;
  int64_t orig_row0;
  int64_t n_rows;
} ivl_layout_piece;

/* The pieces, in original row order, that store the original tensor name (total_rows rows;
 * a vector counts its elements as rows) in config's layout: one piece for a tensor stored
 * whole (renamed or not), several for a fused matrix stored split. A GArray of
 * ivl_layout_piece whose names it frees. */
GArray *ivl_layout_pieces(const ivl_config *config, const char *name, int64_t total_rows);

/* The stored tensor name in st: the layout's name, or for "-hf" files written by newer
 * transformers its "model."-prefixed form (model.vision_tower.…, model.language_model.…,
 * lm_head.weight). NULL when st has neither. */
const ivl_st_tensor *ivl_layout_find(const ivl_safetensors *st, const char *name);

/* "original" or "hf" (static). */
const char *ivl_layout_name(ivl_layout layout);

G_END_DECLS

#endif /* IVL_CHECKPOINT_LAYOUT_H */
