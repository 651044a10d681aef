/* `ivl info --json` and `ivl make-tiny-model` end to end: tiny models of each layout are
 * written through tests/make-tiny-model ($IVL_MAKE_TINY_MODEL) and described by $IVL. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/wait.h>
#include "test-util.h"

static char *tmp_dir;

/* Runs argv; returns its exit status, with stdout in *out unless out is NULL (then
 * discarded) and stderr in *err. */
static int run(const char *const *argv, char **out, char **err)
{
  GError *error = NULL;
  int wait_status = 0;
  GSpawnFlags flags = out ? G_SPAWN_DEFAULT : G_SPAWN_STDOUT_TO_DEV_NULL;
  g_assert_true(
      g_spawn_sync(NULL, (char **)argv, NULL, flags, NULL, NULL, out, err, &wait_status, &error));
  g_assert_no_error(error);
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
}

static void make_model(const char *dir, const char *const *options)
{
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer)g_getenv("IVL_MAKE_TINY_MODEL"));
  g_ptr_array_add(argv, (gpointer)dir);
  for (const char *const *o = options; *o; o++)
    g_ptr_array_add(argv, (gpointer)*o);
  g_ptr_array_add(argv, NULL);
  g_autofree char *err = NULL;
  if (run((const char *const *)argv->pdata, NULL, &err) != 0)
    g_error("make-tiny-model failed: %s", err);
  g_ptr_array_free(argv, TRUE);
}

static JsonParser *info_json(const char *dir)
{
  const char *argv[] = {g_getenv("IVL"), "info", "-m", dir, "--json", NULL};
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;
  if (run(argv, &out, &err) != 0)
    g_error("ivl info failed: %s", err);
  JsonParser *parser = json_parser_new();
  g_assert_true(json_parser_load_from_data(parser, out, -1, NULL));
  return parser;
}

static gint64 get_int(JsonObject *o, const char *path)
{
  g_auto(GStrv) parts = g_strsplit(path, ".", -1);
  for (int i = 0; parts[i + 1]; i++)
    o = json_object_get_object_member(o, parts[i]);
  return json_object_get_int_member(o, parts[g_strv_length(parts) - 1]);
}

static const char *get_str(JsonObject *o, const char *sect, const char *key)
{
  return json_object_get_string_member(sect ? json_object_get_object_member(o, sect) : o, key);
}

typedef struct {
  const char *name;
  const char *options[8];
  const char *vision_layout, *arch, *dtype;
  int weight_files;
} layout_case;

static const layout_case cases[] = {
    {"300m-qwen2", {"--vocab", "1000", NULL}, "300m", "qwen2", "BF16", 1},
    {"6b-qwen2", {"--vision-layout", "6b", "--vocab", "1000", NULL}, "6b", "qwen2", "BF16", 1},
    {"300m-internlm2",
     {"--llm-layout", "internlm2", "--vocab", "1000", NULL},
     "300m",
     "internlm2",
     "BF16",
     1},
    {"sharded",
     {"--shards", "3", "--vocab", "1000", "--no-tokenizer", NULL},
     "300m",
     "qwen2",
     "BF16",
     3},
    {"f32", {"--dtype", "f32", "--vocab", "1000", "--seed", "5", NULL}, "300m", "qwen2", "F32", 1},
    {"default", {NULL}, "300m", "qwen2", "BF16", 1},
};

static void test_layout(gconstpointer data)
{
  const layout_case *c = data;
  g_autofree char *dir = g_build_filename(tmp_dir, c->name, NULL);
  make_model(dir, c->options);
  g_autoptr(JsonParser) parser = info_json(dir);
  JsonObject *o = json_node_get_object(json_parser_get_root(parser));
  g_assert_cmpstr(get_str(o, NULL, "path"), ==, dir);
  g_assert_cmpstr(get_str(o, NULL, "size"), ==, "custom");
  g_assert_cmpstr(get_str(o, "vision", "layout"), ==, c->vision_layout);
  g_assert_cmpstr(get_str(o, "vision", "norm_type"), ==,
                  g_str_equal(c->vision_layout, "6b") ? "rms_norm" : "layer_norm");
  g_assert_cmpstr(get_str(o, "llm", "arch"), ==, c->arch);
  g_assert_cmpstr(get_str(o, "disk", "dtype"), ==, c->dtype);
  g_assert_cmpint(get_int(o, "disk.weight_files"), ==, c->weight_files);
  g_assert_cmpint(get_int(o, "vision.hidden_size"), ==, 64);
  g_assert_cmpint(get_int(o, "llm.hidden_size"), ==, 16);
  g_assert_cmpint(get_int(o, "projector.in"), ==, 256);
  g_assert_cmpint(get_int(o, "num_image_token"), ==, 256);
  g_assert_cmpint(get_int(o, "parameters.total"), ==,
                  get_int(o, "parameters.vision") + get_int(o, "parameters.projector") +
                      get_int(o, "parameters.llm"));
  /* Embedding + lm_head = 2 V Dl of the language model's parameters. */
  gint64 vocab = get_int(o, "llm.vocab_size");
  g_assert_cmpint(get_int(o, "parameters.llm"), >, 2 * vocab * 16);
  gint64 bytes_per = g_str_equal(c->dtype, "F32") ? 4 : 2;
  g_assert_cmpint(get_int(o, "disk.weights_bytes"), >, get_int(o, "parameters.total") * bytes_per);
  g_assert_cmpint(get_int(o, "disk.bytes"), >=, get_int(o, "disk.weights_bytes"));
  g_assert_cmpint(get_int(o, "memory.context_length"), ==, 8192);
  g_assert_cmpint(get_int(o, "memory.gpu.bf16.total"), >, get_int(o, "memory.gpu.int8.total"));
  /* 4-bit needs whole groups of 32 per row: this 16-wide LLM keeps most matrices in bf16,
   * so 4-bit is below bf16 but not below int8 here */
  g_assert_cmpint(get_int(o, "memory.gpu.bf16.total"), >, get_int(o, "memory.gpu.4bit.total"));
  g_assert_cmpint(get_int(o, "memory.cpu.bf16.weights"), ==, 2 * get_int(o, "parameters.total"));
  g_assert_cmpint(get_int(o, "memory.cpu.bf16.overhead"), ==, 0);
  /* K and V, 2 layers, 2 KV heads of 4, 8192 tokens: bf16 on the GPU, f32 on the CPU. */
  g_assert_cmpint(get_int(o, "memory.gpu.bf16.kv_cache"), ==, 2 * 2 * 2 * 4 * 8192 * 2);
  g_assert_cmpint(get_int(o, "memory.cpu.bf16.kv_cache"), ==, 2 * 2 * 2 * 4 * 8192 * 4);
}

static void test_text_output(void)
{
  g_autofree char *dir = g_build_filename(tmp_dir, "text", NULL);
  const char *options[] = {"--vocab", "1000", "--no-tokenizer", NULL};
  make_model(dir, options);
  const char *argv[] = {g_getenv("IVL"), "info", "-m", dir, NULL};
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;
  g_assert_cmpint(run(argv, &out, &err), ==, 0);
  g_assert_nonnull(strstr(out, "Parameters:"));
  g_assert_nonnull(strstr(out, "4bit"));
}

/* A published config and index without the shards: sizes and a GPU plan for a described
 * machine, split_model's layers per device (4 layers over 2: 0-1 and 3 | 2). */
static void test_plan_without_weights(void)
{
  g_autofree char *dir = g_build_filename(tmp_dir, "published", NULL);
  const char *options[] = {"--vocab", "1000", "--no-tokenizer", "--shards", "2", "--llm-layers",
                           "4",       NULL};
  make_model(dir, options);
  for (int i = 1; i <= 2; i++) {
    g_autofree char *name = g_strdup_printf("model-%05d-of-00002.safetensors", i);
    g_autofree char *shard = g_build_filename(dir, name, NULL);
    g_assert_cmpint(g_unlink(shard), ==, 0);
  }
  const char *argv[] = {g_getenv("IVL"), "info", "-m", dir, "--json", "--devices", "2x1GiB", NULL};
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(run(argv, &out, &err), ==, 0);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_data(parser, out, -1, NULL));
  JsonObject *o = json_node_get_object(json_parser_get_root(parser));
  g_assert_nonnull(strstr(get_str(o, "disk", "weights_missing"), "names the shard"));
  JsonObject *plan = json_object_get_object_member(o, "placement");
  g_assert_true(json_object_get_boolean_member(plan, "fits"));
  JsonArray *devices = json_object_get_array_member(plan, "devices");
  g_assert_cmpint(json_array_get_length(devices), ==, 2);
  JsonObject *d0 = json_array_get_object_element(devices, 0);
  JsonObject *d1 = json_array_get_object_element(devices, 1);
  g_assert_cmpstr(json_object_get_string_member(d0, "layers"), ==, "0-1, 3");
  g_assert_cmpstr(json_object_get_string_member(d1, "layers"), ==, "2");
  g_assert_cmpint(json_object_get_int_member(d0, "free"), ==, 1 << 30);

  /* a machine too small: the plan is shown with what is missing */
  const char *argv2[] = {g_getenv("IVL"), "info", "-m", dir, "--devices", "2x100MiB", NULL};
  g_autofree char *out2 = NULL, *err2 = NULL;
  g_assert_cmpint(run(argv2, &out2, &err2), ==, 0);
  g_assert_nonnull(strstr(out2, "without the weights"));
  g_assert_nonnull(strstr(out2, "Does not fit: Split over 2 GPUs"));
  g_assert_nonnull(strstr(out2, "GiB are missing"));
}

/* Errors reach the user as one line and exit status 1. */
static void test_errors(void)
{
  g_autofree char *dir = g_build_filename(tmp_dir, "broken", NULL);
  const char *options[] = {"--vocab", "1000", "--no-tokenizer", NULL};
  make_model(dir, options);
  g_autofree char *weights = g_build_filename(dir, "model.safetensors", NULL);
  g_assert_true(g_file_set_contents(weights, "\x10\0\0\0\0\0\0\0{}", 10, NULL));
  const char *argv[] = {g_getenv("IVL"), "info", "-m", dir, NULL};
  g_autofree char *err = NULL;
  g_assert_cmpint(run(argv, NULL, &err), ==, 1);
  g_assert_nonnull(strstr(err, "model.safetensors: truncated"));

  g_autofree char *err2 = NULL;
  const char *argv2[] = {g_getenv("IVL"), "info", "-m", "NoSuchModel-1B", NULL};
  g_assert_cmpint(run(argv2, NULL, &err2), ==, 1);
  g_assert_nonnull(strstr(err2, "model \"NoSuchModel-1B\" not found"));

  g_autofree char *err3 = NULL;
  const char *argv3[] = {g_getenv("IVL"), "make-tiny-model", dir, "--dtype", "f64", NULL};
  g_assert_cmpint(run(argv3, NULL, &err3), ==, 2);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  if (!g_getenv("IVL") || !g_getenv("IVL_MAKE_TINY_MODEL")) {
    g_printerr("IVL and IVL_MAKE_TINY_MODEL must be set (meson test sets them)\n");
    return 1;
  }
  tmp_dir = g_dir_make_tmp("ivl-test-info-XXXXXX", NULL);
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *path = g_strconcat("/info/layout/", cases[i].name, NULL);
    g_test_add_data_func(path, &cases[i], test_layout);
  }
  g_test_add_func("/info/text", test_text_output);
  g_test_add_func("/info/errors", test_errors);
  g_test_add_func("/info/plan-without-weights", test_plan_without_weights);
  int rc = g_test_run();
  ivl_test_remove_tree(tmp_dir);
  g_free(tmp_dir);
  return rc;
}
