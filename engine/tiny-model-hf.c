/* tiny-model-hf.c — the files an "-hf" repo has beside its weights: tokenizer.json in place of
 * vocab.json + merges.txt or tokenizer.model (tiny-model-llama.c), the chat template, and the
 * processor's two small configs, as transformers' convert_internvl_weights_to_hf.py saves them
 * (tiny-model.h). */
#include "tiny-model-hf.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "file-io.h"
#include "ivl.h"
#include "json-check.h"
#include "json-write.h"
#include "template.h"
#include "tiny-model-llama.h"

#define MAX_FILE ((gsize)64 << 20)

static JsonObject *load_object(const char *path, JsonParser **keep, GError **error)
{
  *keep = ivl_json_load_file(path, MAX_FILE, path, error);
  if (!*keep)
    return NULL;
  JsonNode *root = json_parser_get_root(*keep);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: not a JSON object", path);
    return NULL;
  }
  return json_node_get_object(root);
}

static gboolean write_json(const char *dir, const char *name, JsonNode *root, GError **error)
{
  g_autofree char *text = ivl_json_write_pretty(root, FALSE);
  g_autofree char *path = g_build_filename(dir, name, NULL);
  return ivl_file_write(path, text, strlen(text), error);
}

static gboolean write_object(const char *dir, const char *name, JsonObject *obj, GError **error)
{
  g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), obj);
  return write_json(dir, name, root, error);
}

/* Qwen2TokenizerFast's pipeline: NFC, the Qwen2 regex split, byte-level mapping. */
static JsonObject *pre_tokenizer(void)
{
  JsonObject *split = json_object_new();
  json_object_set_string_member(split, "type", "Split");
  JsonObject *pattern = json_object_new();
  json_object_set_string_member(
      pattern, "Regex",
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
      "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
  json_object_set_object_member(split, "pattern", pattern);
  json_object_set_string_member(split, "behavior", "Isolated");
  json_object_set_boolean_member(split, "invert", FALSE);
  JsonObject *byte_level = json_object_new();
  json_object_set_string_member(byte_level, "type", "ByteLevel");
  json_object_set_boolean_member(byte_level, "add_prefix_space", FALSE);
  json_object_set_boolean_member(byte_level, "trim_offsets", FALSE);
  json_object_set_boolean_member(byte_level, "use_regex", FALSE);
  JsonArray *seq = json_array_new();
  json_array_add_object_element(seq, split);
  json_array_add_object_element(seq, byte_level);
  JsonObject *p = json_object_new();
  json_object_set_string_member(p, "type", "Sequence");
  json_object_set_array_member(p, "pretokenizers", seq);
  return p;
}

static JsonObject *byte_level(void)
{
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "type", "ByteLevel");
  json_object_set_boolean_member(o, "add_prefix_space", FALSE);
  json_object_set_boolean_member(o, "trim_offsets", FALSE);
  json_object_set_boolean_member(o, "use_regex", FALSE);
  return o;
}

/* tokenizer_config.json's added_tokens_decoder as tokenizer.json's added_tokens list. */
static JsonArray *added_tokens(JsonObject *config)
{
  JsonArray *out = json_array_new();
  JsonNode *n = json_object_get_member(config, "added_tokens_decoder");
  if (!n || !JSON_NODE_HOLDS_OBJECT(n))
    return out;
  JsonObject *dec = json_node_get_object(n);
  g_autoptr(GList) ids = json_object_get_members(dec);
  for (GList *l = ids; l; l = l->next) {
    JsonNode *e = json_object_get_member(dec, l->data);
    if (!JSON_NODE_HOLDS_OBJECT(e))
      continue;
    JsonObject *src = json_node_get_object(e);
    JsonObject *t = json_object_new();
    json_object_set_int_member(t, "id", g_ascii_strtoll(l->data, NULL, 10));
    json_object_set_string_member(t, "content", ivl_json_string_or(src, "content", ""));
    json_object_set_boolean_member(t, "single_word", FALSE);
    json_object_set_boolean_member(t, "lstrip", FALSE);
    json_object_set_boolean_member(t, "rstrip", FALSE);
    json_object_set_boolean_member(t, "normalized", FALSE);
    json_object_set_boolean_member(t, "special", ivl_json_bool_or(src, "special", FALSE));
    json_array_add_object_element(out, t);
  }
  return out;
}

static gboolean write_tokenizer_json(const char *from, const char *dir, JsonObject *config,
                                     GError **error)
{
  g_autofree char *vocab_path = g_build_filename(from, "vocab.json", NULL);
  g_autofree char *merges_path = g_build_filename(from, "merges.txt", NULL);
  g_autoptr(JsonParser) vocab_parser = NULL;
  JsonObject *vocab = load_object(vocab_path, &vocab_parser, error);
  g_autofree char *merges_text = NULL;
  gsize len;
  if (!vocab || !ivl_file_read(merges_path, MAX_FILE, &merges_text, &len, error))
    return FALSE;
  JsonArray *merges = json_array_new();
  g_auto(GStrv) lines = g_strsplit(merges_text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (*lines[i] && !(i == 0 && g_str_has_prefix(lines[i], "#version:")))
      json_array_add_string_element(merges, lines[i]);
  }
  JsonObject *model = json_object_new();
  json_object_set_string_member(model, "type", "BPE");
  json_object_set_null_member(model, "dropout");
  json_object_set_null_member(model, "unk_token");
  json_object_set_string_member(model, "continuing_subword_prefix", "");
  json_object_set_string_member(model, "end_of_word_suffix", "");
  json_object_set_boolean_member(model, "fuse_unk", FALSE);
  json_object_set_boolean_member(model, "byte_fallback", FALSE);
  json_object_set_boolean_member(model, "ignore_merges", FALSE);
  json_object_set_object_member(model, "vocab", json_object_ref(vocab));
  json_object_set_array_member(model, "merges", merges);
  JsonObject *top = json_object_new();
  json_object_set_string_member(top, "version", "1.0");
  json_object_set_null_member(top, "truncation");
  json_object_set_null_member(top, "padding");
  json_object_set_array_member(top, "added_tokens", added_tokens(config));
  JsonObject *nfc = json_object_new();
  json_object_set_string_member(nfc, "type", "NFC");
  json_object_set_object_member(top, "normalizer", nfc);
  json_object_set_object_member(top, "pre_tokenizer", pre_tokenizer());
  json_object_set_object_member(top, "post_processor", byte_level());
  json_object_set_object_member(top, "decoder", byte_level());
  json_object_set_object_member(top, "model", model);
  return write_object(dir, "tokenizer.json", top, error);
}

static gboolean write_processor_files(const char *dir, GError **error)
{
  /* write_image_processor() of the conversion script: GotOcr2ImageProcessorFast. */
  JsonObject *pre = json_object_new();
  json_object_set_boolean_member(pre, "crop_to_patches", FALSE);
  json_object_set_boolean_member(pre, "do_convert_rgb", TRUE);
  json_object_set_boolean_member(pre, "do_normalize", TRUE);
  json_object_set_boolean_member(pre, "do_rescale", TRUE);
  json_object_set_boolean_member(pre, "do_resize", TRUE);
  JsonArray *mean = json_array_new(), *std = json_array_new();
  const double m[] = {0.485, 0.456, 0.406}, sd[] = {0.229, 0.224, 0.225};
  for (int i = 0; i < 3; i++) {
    json_array_add_double_element(mean, m[i]);
    json_array_add_double_element(std, sd[i]);
  }
  json_object_set_array_member(pre, "image_mean", mean);
  json_object_set_array_member(pre, "image_std", std);
  json_object_set_string_member(pre, "image_processor_type", "GotOcr2ImageProcessorFast");
  json_object_set_int_member(pre, "max_patches", 12);
  json_object_set_int_member(pre, "min_patches", 1);
  json_object_set_string_member(pre, "processor_class", "InternVLProcessor");
  json_object_set_double_member(pre, "rescale_factor", 1.0 / 255.0);
  JsonObject *size = json_object_new();
  json_object_set_int_member(size, "height", 448);
  json_object_set_int_member(size, "width", 448);
  json_object_set_object_member(pre, "size", size);
  JsonObject *proc = json_object_new();
  json_object_set_int_member(proc, "image_seq_length", 256);
  json_object_set_string_member(proc, "processor_class", "InternVLProcessor");
  JsonObject *chat = json_object_new();
  const ivl_template *tpl = ivl_template_lookup("internvl_hf", NULL);
  json_object_set_string_member(chat, "chat_template", ivl_template_get_jinja(tpl));
  return write_object(dir, "preprocessor_config.json", pre, error) &&
         write_object(dir, "processor_config.json", proc, error) &&
         write_object(dir, "chat_template.json", chat, error);
}

gboolean ivl_tiny_model_write_hf_files(const char *from, const char *dir, GError **error)
{
  g_autofree char *config_path = g_build_filename(from, "tokenizer_config.json", NULL);
  g_autofree char *vocab_path = g_build_filename(from, "vocab.json", NULL);
  g_autoptr(JsonParser) parser = NULL;
  JsonObject *config = load_object(config_path, &parser, error);
  if (!config)
    return FALSE;
  g_autofree char *spm_path = g_build_filename(from, "tokenizer.model", NULL);
  if (g_file_test(vocab_path, G_FILE_TEST_EXISTS)) {
    if (!write_tokenizer_json(from, dir, config, error))
      return FALSE;
  } else if (g_file_test(spm_path, G_FILE_TEST_EXISTS)) {
    /* The 9B-hf: the SentencePiece model converted by LlamaConverter, saved as
     * LlamaTokenizerFast. */
    if (!ivl_tiny_model_write_llama_tokenizer(from, dir, added_tokens(config), error))
      return FALSE;
    json_object_set_string_member(config, "tokenizer_class", "LlamaTokenizerFast");
    json_object_remove_member(config, "auto_map");
  }
  const ivl_template *tpl = ivl_template_lookup("internvl_hf", NULL);
  json_object_set_string_member(config, "chat_template", ivl_template_get_jinja(tpl));
  return write_json(dir, "tokenizer_config.json", json_parser_get_root(parser), error) &&
         write_processor_files(dir, error);
}
