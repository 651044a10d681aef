/* golden-common.c — see golden-common.h. */
#include "golden-common.h"

#include <glib/gstdio.h>

ivl_tiny_model_params golden_tiny_params(JsonObject *m)
{
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.seed = json_object_get_int_member(m, "seed");
  p.dtype = g_str_equal(json_object_get_string_member(m, "dtype"), "f32") ? IVL_DTYPE_F32
                                                                          : IVL_DTYPE_BF16;
  p.n_shards = json_object_get_int_member(m, "n_shards");
  p.llm_arch = g_str_equal(json_object_get_string_member(m, "llm_arch"), "internlm2")
                   ? IVL_LLM_INTERNLM2
                   : IVL_LLM_QWEN2;
  p.vision_6b = json_object_get_boolean_member(m, "vision_6b");
  p.vision_hidden = json_object_get_int_member(m, "vision_hidden");
  p.vision_layers = json_object_get_int_member(m, "vision_layers");
  p.vision_heads = json_object_get_int_member(m, "vision_heads");
  p.vision_ffn = json_object_get_int_member(m, "vision_ffn");
  p.llm_hidden = json_object_get_int_member(m, "llm_hidden");
  p.llm_layers = json_object_get_int_member(m, "llm_layers");
  p.llm_heads = json_object_get_int_member(m, "llm_heads");
  p.llm_kv_heads = json_object_get_int_member(m, "llm_kv_heads");
  p.llm_ffn = json_object_get_int_member(m, "llm_ffn");
  p.llm_vocab = json_object_get_int_member(m, "llm_vocab");
  p.max_position_embeddings = json_object_get_int_member(m, "max_position_embeddings");
  return p;
}

void golden_check_files(const char *dir, JsonObject *sha)
{
  GList *names = json_object_get_members(sha);
  for (GList *l = names; l; l = l->next) {
    g_autofree char *path = g_build_filename(dir, l->data, NULL);
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_autofree char *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)data, len);
    if (!g_str_equal(sum, json_object_get_string_member(sha, l->data)))
      g_error("%s: the tiny-model generator's output changed; regenerate the goldens with "
              "tests/reference/make_goldens.py",
              (char *)l->data);
  }
  g_list_free(names);
}

char *golden_source_path(const char *rel)
{
  const char *root = g_getenv("IVL_SOURCE_ROOT");
  return g_build_filename(root ? root : ".", rel, NULL);
}

void golden_remove_tree(const char *dir)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  for (const char *name; d && (name = g_dir_read_name(d));) {
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_remove(path);
  }
  g_rmdir(dir);
}
