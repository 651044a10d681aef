/* Unit tests of engine/safetensors*.c: good single and sharded files, and corrupt files
 * written here byte by byte, each of which must give a clear GError (never a crash). */
#include <glib/gstdio.h>
#include <string.h>

#include "ivl.h"
#include "safetensors-write.h"
#include "safetensors.h"
#include "test-util.h"

static char *tmp_dir;

/* A fresh empty directory under tmp_dir per case. */
static char *case_dir(void)
{
  static int n;
  char *d = g_strdup_printf("%s/case%d", tmp_dir, n++);
  g_assert_cmpint(g_mkdir(d, 0755), ==, 0);
  return d;
}

static void put(const char *dir, const char *name, const void *data, gsize len)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  g_assert_true(g_file_set_contents(path, data, (gssize)len, NULL));
}

/* A safetensors image: length prefix (declared, or the header's own length when
 * declared < 0), header text, then data_len bytes of data. */
static GByteArray *image(const char *header, gint64 declared, gsize data_len)
{
  GByteArray *b = g_byte_array_new();
  guint64 len = declared < 0 ? strlen(header) : (guint64)declared;
  for (int i = 0; i < 8; i++) {
    guint8 c = (guint8)(len >> (8 * i));
    g_byte_array_append(b, &c, 1);
  }
  g_byte_array_append(b, (const guint8 *)header, (guint)strlen(header));
  for (gsize i = 0; i < data_len; i++) {
    guint8 c = (guint8)i;
    g_byte_array_append(b, &c, 1);
  }
  return b;
}

static void expect_error(const char *dir, int code, const char *needle)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_safetensors) st = ivl_safetensors_open(dir, &error);
  g_assert_null(st);
  g_assert_nonnull(error);
  g_test_message("%s", error->message);
  g_assert_error(error, IVL_ERROR, code);
  if (!strstr(error->message, needle))
    g_error("message \"%s\" lacks \"%s\"", error->message, needle);
}

/* Two bf16 [2, 3] tensors a, b and an f32 scalar c: 12 + 12 + 4 bytes. */
static const float values_c = 2.5f;
static void write_good(const char *path)
{
  static const guint16 a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
  ivl_st_write_tensor t[3] = {
      {"a", IVL_DTYPE_BF16, 2, {2, 3}, a},
      {"b", IVL_DTYPE_BF16, 2, {2, 3}, b},
      {"c", IVL_DTYPE_F32, 0, {0}, &values_c},
  };
  g_autoptr(GError) error = NULL;
  g_assert_true(ivl_safetensors_write(path, t, 3, &error));
  g_assert_no_error(error);
}

static void test_good_single(void)
{
  g_autofree char *dir = case_dir();
  g_autofree char *path = g_build_filename(dir, "model.safetensors", NULL);
  write_good(path);
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_safetensors) st = ivl_safetensors_open(dir, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(ivl_safetensors_get_n_tensors(st), ==, 3);
  g_assert_cmpuint(ivl_safetensors_get_n_files(st), ==, 1);
  g_assert_cmpuint(ivl_safetensors_get_tensor_bytes(st), ==, 28);
  const ivl_st_tensor *b = ivl_safetensors_find(st, "b");
  g_assert_nonnull(b);
  g_assert_cmpint(b->dtype, ==, IVL_DTYPE_BF16);
  g_assert_cmpint(b->ndim, ==, 2);
  g_assert_cmpint(b->shape[0], ==, 2);
  g_assert_cmpint(b->shape[1], ==, 3);
  g_assert_cmpuint(b->nbytes, ==, 12);
  g_assert_cmpstr(b->file, ==, "model.safetensors");
  g_assert_cmpuint(((const guint16 *)b->data)[5], ==, 12);
  const ivl_st_tensor *c = ivl_safetensors_find(st, "c");
  g_assert_cmpint(c->ndim, ==, 0);
  g_assert_cmpint(c->n_elements, ==, 1);
  g_assert_cmpfloat(*(const float *)c->data, ==, values_c);
  g_assert_cmpuint((guintptr)c->data % 4, ==, 0);
  g_assert_null(ivl_safetensors_find(st, "d"));
  /* Iteration is in data order. */
  g_assert_cmpstr(ivl_safetensors_get_tensor(st, 0)->name, ==, "a");
  g_assert_cmpstr(ivl_safetensors_get_tensor(st, 2)->name, ==, "c");
  g_assert_null(ivl_safetensors_get_tensor(st, 3));
  GStatBuf sb;
  g_assert_cmpint(g_stat(path, &sb), ==, 0);
  g_assert_cmpuint(ivl_safetensors_get_file_bytes(st), ==, (guint64)sb.st_size);
}

/* A good file cut at every length fails cleanly at each: inside the length prefix, the
 * header and the data section. */
static void test_truncated_everywhere(void)
{
  g_autofree char *dir = case_dir();
  g_autofree char *path = g_build_filename(dir, "model.safetensors", NULL);
  write_good(path);
  g_autofree char *full = NULL;
  gsize size;
  g_assert_true(g_file_get_contents(path, &full, &size, NULL));
  for (gsize len = 0; len < size; len++) {
    put(dir, "model.safetensors", full, len);
    g_autoptr(GError) error = NULL;
    g_autoptr(ivl_safetensors) st = ivl_safetensors_open(dir, &error);
    g_assert_null(st);
    g_assert_error(error, IVL_ERROR, IVL_ERROR_CORRUPT);
    g_assert_nonnull(strstr(error->message, "truncated") ||
                             strstr(error->message, "past the data section")
                         ? error->message
                         : NULL);
  }
}

typedef struct {
  const char *label;
  const char *header;
  gint64 declared; /* header length written in the prefix; -1 = the true one */
  gsize data_len;
  int code;
  const char *message;
} corrupt_case;

#define T1 "\"t\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}"
static const corrupt_case corrupt_cases[] = {
    {"length-zero", "{}", 0, 0, IVL_ERROR_CORRUPT, "header length 0"},
    {"length-past-end", "{" T1 "}", 1000, 4, IVL_ERROR_CORRUPT, "truncated: header length 1000"},
    {"length-huge", "{}", G_MAXINT64, 0, IVL_ERROR_CORRUPT, "is not in [2,"},
    {"length-over-limit", "{}", 200 * 1024 * 1024, 0, IVL_ERROR_CORRUPT, "is not in [2,"},
    {"not-json", "this is no json", -1, 0, IVL_ERROR_CORRUPT, "not valid JSON"},
    {"json-array", "[1, 2, 3]", -1, 0, IVL_ERROR_CORRUPT, "not a JSON object"},
    {"json-string", "\"hello\"", -1, 0, IVL_ERROR_CORRUPT, "not a JSON object"},
    {"not-utf8", "{\"\xff\xfe\":{}}", -1, 0, IVL_ERROR_CORRUPT, "not valid UTF-8"},
    {"deep-nesting", "{\"__metadata__\":{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}}", -1, 0,
     IVL_ERROR_CORRUPT, "nests deeper"},
    {"long-number",
     "{\"t\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,"
     "18446744073709551620]}}",
     -1, 4, IVL_ERROR_CORRUPT, "more than 18 digits"},
    {"overlap", "{" T1 ",\"u\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[2,6]}}", -1, 8,
     IVL_ERROR_CORRUPT, "overlap"},
    {"past-end", "{\"t\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]}}", -1, 6,
     IVL_ERROR_CORRUPT, "past the data section"},
    {"begin-after-end", "{\"t\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,0]}}", -1, 8,
     IVL_ERROR_CORRUPT, "begin 4 > end 0"},
    {"unknown-dtype", "{\"t\":{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4,
     IVL_ERROR_CORRUPT, "unknown dtype \"F99\""},
    {"unsupported-dtype", "{\"t\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", -1,
     16, IVL_ERROR_UNSUPPORTED, "tensor \"t\" has dtype I64"},
    {"dtype-not-string", "{\"t\":{\"dtype\":16,\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4,
     IVL_ERROR_CORRUPT, "\"dtype\" is missing or not a string"},
    {"bytes-mismatch", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4,
     IVL_ERROR_CORRUPT, "2 F32 elements are 8 bytes but data_offsets span 4"},
    {"negative-shape", "{\"t\":{\"dtype\":\"BF16\",\"shape\":[-2],\"data_offsets\":[0,4]}}", -1, 4,
     IVL_ERROR_CORRUPT, "shape[0] is not an integer"},
    {"float-shape", "{\"t\":{\"dtype\":\"BF16\",\"shape\":[2.0],\"data_offsets\":[0,4]}}", -1, 4,
     IVL_ERROR_CORRUPT, "shape[0] is not an integer"},
    {"overflowing-shape",
     "{\"t\":{\"dtype\":\"BF16\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,4]}}",
     -1, 4, IVL_ERROR_CORRUPT, "overflows"},
    {"too-many-dims",
     "{\"t\":{\"dtype\":\"BF16\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,4]}}", -1, 4,
     IVL_ERROR_CORRUPT, "9 dimensions"},
    {"duplicate-name", "{" T1 "," T1 "}", -1, 4, IVL_ERROR_CORRUPT, "key \"t\" appears twice"},
    {"duplicate-field",
     "{\"t\":{\"dtype\":\"BF16\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4,
     IVL_ERROR_CORRUPT, "key \"dtype\" appears twice"},
    {"offsets-missing", "{\"t\":{\"dtype\":\"BF16\",\"shape\":[2]}}", -1, 4, IVL_ERROR_CORRUPT,
     "\"data_offsets\" is not a pair"},
    {"offsets-triple", "{\"t\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", -1, 8,
     IVL_ERROR_CORRUPT, "\"data_offsets\" is not a pair"},
    {"negative-offset", "{\"t\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[-4,0]}}", -1, 4,
     IVL_ERROR_CORRUPT, "\"data_offsets\" is not a pair"},
    {"entry-not-object", "{\"t\":[1,2]}", -1, 0, IVL_ERROR_CORRUPT, "entry is not an object"},
    {"metadata-not-object", "{\"__metadata__\":5}", -1, 0, IVL_ERROR_CORRUPT,
     "__metadata__ is not an object"},
    {"shape-missing", "{\"t\":{\"dtype\":\"BF16\",\"data_offsets\":[0,4]}}", -1, 4,
     IVL_ERROR_CORRUPT, "\"shape\" is missing"},
    {"trailing-garbage", "{} x", -1, 0, IVL_ERROR_CORRUPT, "not valid JSON"},
};

static void test_corrupt(gconstpointer data)
{
  const corrupt_case *c = data;
  g_autofree char *dir = case_dir();
  g_autoptr(GByteArray) b = image(c->header, c->declared, c->data_len);
  put(dir, "model.safetensors", b->data, b->len);
  expect_error(dir, c->code, c->message);
}

/* A NUL inside the header cannot be a string literal: the header is refused. */
static void test_nul_in_header(void)
{
  g_autofree char *dir = case_dir();
  static const char header[] = "{\"a\0\":{}}";
  g_autoptr(GByteArray) b = image("", sizeof header - 1, 0);
  g_byte_array_append(b, (const guint8 *)header, sizeof header - 1);
  put(dir, "model.safetensors", b->data, b->len);
  expect_error(dir, IVL_ERROR_CORRUPT, "UTF-8");
}

static void test_metadata_and_padding(void)
{
  g_autofree char *dir = case_dir();
  g_autoptr(GByteArray) b = image("{\"__metadata__\":{\"format\":\"pt\"}," T1 "}      ", -1, 4);
  put(dir, "model.safetensors", b->data, b->len);
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_safetensors) st = ivl_safetensors_open(dir, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(ivl_safetensors_get_n_tensors(st), ==, 1);
}

static void test_no_weights(void)
{
  g_autofree char *dir = case_dir();
  expect_error(dir, IVL_ERROR_NOT_FOUND, "no model.safetensors");
}

/* Two shards: s1 holds a, s2 holds b. */
static char *sharded_dir(const char *index)
{
  char *dir = case_dir();
  g_autoptr(GByteArray) s1 =
      image("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4);
  g_autoptr(GByteArray) s2 =
      image("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", -1, 4);
  put(dir, "s1.safetensors", s1->data, s1->len);
  put(dir, "s2.safetensors", s2->data, s2->len);
  put(dir, "model.safetensors.index.json", index, strlen(index));
  return dir;
}

static void test_good_sharded(void)
{
  g_autofree char *dir = sharded_dir("{\"metadata\":{\"total_size\":8},\"weight_map\":"
                                     "{\"b\":\"s2.safetensors\",\"a\":\"s1.safetensors\"}}");
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_safetensors) st = ivl_safetensors_open(dir, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(ivl_safetensors_get_n_files(st), ==, 2);
  g_assert_cmpuint(ivl_safetensors_get_n_tensors(st), ==, 2);
  g_assert_cmpstr(ivl_safetensors_find(st, "a")->file, ==, "s1.safetensors");
  g_assert_cmpstr(ivl_safetensors_find(st, "b")->file, ==, "s2.safetensors");
  /* Shards in name order. */
  g_assert_cmpstr(ivl_safetensors_get_tensor(st, 0)->name, ==, "a");
}

typedef struct {
  const char *label, *index;
  int code;
  const char *message;
} index_case;

static const index_case index_cases[] = {
    {"not-json", "{weight_map", IVL_ERROR_CORRUPT, "not valid JSON"},
    {"no-weight-map", "{\"metadata\":{}}", IVL_ERROR_CORRUPT, "no \"weight_map\" object"},
    {"missing-shard", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"c\":\"s3.safetensors\"}}",
     IVL_ERROR_NOT_FOUND, "names the shard s3.safetensors"},
    {"path-escape", "{\"weight_map\":{\"a\":\"../s1.safetensors\"}}", IVL_ERROR_CORRUPT,
     "weight_map[\"a\"] is not a file name"},
    {"not-string", "{\"weight_map\":{\"a\":1}}", IVL_ERROR_CORRUPT, "weight_map[\"a\"]"},
    {"wrong-shard", "{\"weight_map\":{\"a\":\"s2.safetensors\",\"b\":\"s1.safetensors\"}}",
     IVL_ERROR_CORRUPT, "maps tensor \"a\" to s2.safetensors, which lacks it"},
    {"duplicate-key", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"a\":\"s2.safetensors\"}}",
     IVL_ERROR_CORRUPT, "appears twice"},
};

static void test_bad_index(gconstpointer data)
{
  const index_case *c = data;
  g_autofree char *dir = sharded_dir(c->index);
  expect_error(dir, c->code, c->message);
}

static void test_tensor_in_two_shards(void)
{
  g_autofree char *dir =
      sharded_dir("{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}");
  g_autoptr(GByteArray) s2 =
      image("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4);
  put(dir, "s2.safetensors", s2->data, s2->len);
  expect_error(dir, IVL_ERROR_CORRUPT, "tensor \"a\" is also in another shard");
}

static void test_corrupt_shard(void)
{
  g_autofree char *dir =
      sharded_dir("{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}");
  put(dir, "s2.safetensors", "xy", 2);
  expect_error(dir, IVL_ERROR_CORRUPT, "s2.safetensors: truncated");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  tmp_dir = g_dir_make_tmp("ivl-test-safetensors-XXXXXX", NULL);
  g_assert_nonnull(tmp_dir);
  g_test_add_func("/safetensors/good-single", test_good_single);
  g_test_add_func("/safetensors/good-sharded", test_good_sharded);
  g_test_add_func("/safetensors/metadata-and-padding", test_metadata_and_padding);
  g_test_add_func("/safetensors/truncated-everywhere", test_truncated_everywhere);
  g_test_add_func("/safetensors/nul-in-header", test_nul_in_header);
  g_test_add_func("/safetensors/no-weights", test_no_weights);
  g_test_add_func("/safetensors/tensor-in-two-shards", test_tensor_in_two_shards);
  g_test_add_func("/safetensors/corrupt-shard", test_corrupt_shard);
  for (gsize i = 0; i < G_N_ELEMENTS(corrupt_cases); i++) {
    g_autofree char *path = g_strconcat("/safetensors/corrupt/", corrupt_cases[i].label, NULL);
    g_test_add_data_func(path, &corrupt_cases[i], test_corrupt);
  }
  for (gsize i = 0; i < G_N_ELEMENTS(index_cases); i++) {
    g_autofree char *path = g_strconcat("/safetensors/index/", index_cases[i].label, NULL);
    g_test_add_data_func(path, &index_cases[i], test_bad_index);
  }
  int rc = g_test_run();
  ivl_test_remove_tree(tmp_dir);
  g_free(tmp_dir);
  return rc;
}
