/* ivl make-tiny-model DIR — writes a small random InternVL3 model for tests. */
#include "ivl-config.h"

#include <glib.h>
#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "tiny-model.h"

typedef struct {
  gint64 seed;
  char *dtype, *vision_layout, *llm_layout, *tokenizer, *layout;
  int shards;
  ivl_tiny_model_params p;
} options;

static gboolean parse_choices(options *o, GError **error)
{
  if (o->seed < 0) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, _("--seed must be >= 0"));
    return FALSE;
  }
  o->p.seed = (guint64)o->seed;
  o->p.n_shards = o->shards;
  o->p.tokenizer_dir = o->tokenizer;
  if (o->dtype && strcmp(o->dtype, "bf16") == 0)
    o->p.dtype = IVL_DTYPE_BF16;
  else if (o->dtype && strcmp(o->dtype, "f32") == 0)
    o->p.dtype = IVL_DTYPE_F32;
  else if (o->dtype) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, _("--dtype must be bf16 or f32"));
    return FALSE;
  }
  if (o->vision_layout && strcmp(o->vision_layout, "300m") != 0 &&
      strcmp(o->vision_layout, "6b") != 0) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                _("--vision-layout must be 300m or 6b"));
    return FALSE;
  }
  o->p.vision_6b = o->vision_layout && strcmp(o->vision_layout, "6b") == 0;
  if (o->llm_layout && strcmp(o->llm_layout, "qwen2") != 0 &&
      strcmp(o->llm_layout, "internlm2") != 0) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                _("--llm-layout must be qwen2 or internlm2"));
    return FALSE;
  }
  o->p.llm_arch =
      o->llm_layout && strcmp(o->llm_layout, "internlm2") == 0 ? IVL_LLM_INTERNLM2 : IVL_LLM_QWEN2;
  if (o->layout && strcmp(o->layout, "original") != 0 && strcmp(o->layout, "hf") != 0) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                _("--layout must be original or hf"));
    return FALSE;
  }
  o->p.layout = o->layout && strcmp(o->layout, "hf") == 0 ? IVL_LAYOUT_HF : IVL_LAYOUT_ORIGINAL;
  return TRUE;
}

int ivl_cmd_make_tiny_model(int argc, char **argv)
{
  options o = {.p = ivl_tiny_model_default_params()};
  GOptionEntry entries[] = {
      {"seed", 0, 0, G_OPTION_ARG_INT64, &o.seed, N_("Random seed of the weights (0)"), "N"},
      {"dtype", 0, 0, G_OPTION_ARG_STRING, &o.dtype, N_("Weight type: bf16 (default) or f32"), "T"},
      {"shards", 0, 0, G_OPTION_ARG_INT, &o.shards,
       N_("Split the weights into N shards with an index (0: one model.safetensors)"), "N"},
      {"tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &o.tokenizer,
       N_("Copy the tokenizer files of DIR into the model"), "DIR"},
      {"layout", 0, 0, G_OPTION_ARG_STRING, &o.layout,
       N_("original (InternVLChatModel, default) or hf (the transformers-native -hf repos: "
          "the same weights renamed, tokenizer.json, their chat template)"),
       "L"},
      {"vision-layout", 0, 0, G_OPTION_ARG_STRING, &o.vision_layout,
       N_("300m (LayerNorm, qkv bias; default) or 6b (RMSNorm, q/k norm)"), "L"},
      {"vision-hidden", 0, 0, G_OPTION_ARG_INT, &o.p.vision_hidden, N_("Vision hidden size (64)"),
       "N"},
      {"vision-layers", 0, 0, G_OPTION_ARG_INT, &o.p.vision_layers, N_("Vision layers (2)"), "N"},
      {"vision-heads", 0, 0, G_OPTION_ARG_INT, &o.p.vision_heads, N_("Vision heads (4)"), "N"},
      {"vision-ffn", 0, 0, G_OPTION_ARG_INT, &o.p.vision_ffn, N_("Vision MLP size (128)"), "N"},
      {"llm-layout", 0, 0, G_OPTION_ARG_STRING, &o.llm_layout,
       N_("qwen2 (default) or internlm2 (as the 9B)"), "L"},
      {"llm-hidden", 0, 0, G_OPTION_ARG_INT, &o.p.llm_hidden, N_("LLM hidden size (16)"), "N"},
      {"llm-layers", 0, 0, G_OPTION_ARG_INT, &o.p.llm_layers, N_("LLM layers (2)"), "N"},
      {"llm-heads", 0, 0, G_OPTION_ARG_INT, &o.p.llm_heads, N_("LLM attention heads (4)"), "N"},
      {"llm-kv-heads", 0, 0, G_OPTION_ARG_INT, &o.p.llm_kv_heads, N_("LLM key/value heads (2)"),
       "N"},
      {"llm-ffn", 0, 0, G_OPTION_ARG_INT, &o.p.llm_ffn, N_("LLM MLP size (32)"), "N"},
      {"vocab", 0, 0, G_OPTION_ARG_INT, &o.p.llm_vocab, N_("Vocabulary size (151674)"), "N"},
      {"max-position-embeddings", 0, 0, G_OPTION_ARG_INT, &o.p.max_position_embeddings,
       N_("LLM max_position_embeddings (32768)"), "N"},
      G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GOptionContext) ctx =
      g_option_context_new(_("DIR — write a tiny random InternVL3 model"));
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  g_autoptr(GError) error = NULL;
  int status = 0;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || !parse_choices(&o, &error)) {
    fprintf(stderr, "ivl make-tiny-model: %s\n", error->message);
    status = 2;
  } else if (argc != 2) {
    fprintf(stderr, "%s", _("Usage: ivl make-tiny-model DIR [OPTIONS…]\n"));
    status = 2;
  } else if (!ivl_tiny_model_write(argv[1], &o.p, &error)) {
    fprintf(stderr, "ivl make-tiny-model: %s\n", error->message);
    status = 1;
  }
  g_free(o.dtype);
  g_free(o.vision_layout);
  g_free(o.llm_layout);
  g_free(o.tokenizer);
  g_free(o.layout);
  return status;
}
