/* safetensors-header.c — one safetensors file image → validated tensor table.
 * Everything a later read depends on is checked here: header bounds, JSON shape, dtypes,
 * shape products against byte ranges, ranges inside the data section and disjoint. */
#include "safetensors-header.h"

#include <string.h>

#include "ivl.h"
#include "json-check.h"

/* Larger dimensions are certainly corrupt and would risk overflow in products. */
#define MAX_DIM_EXTENT (G_GINT64_CONSTANT(1) << 40)

void ivl_st_tensor_free(gpointer p)
{
  ivl_st_tensor *t = p;
  g_free((char *)t->name);
  g_free(t);
}

static gboolean dtype_from_name(const char *s, ivl_dtype *out)
{
  static const struct {
    const char *name;
    ivl_dtype dtype;
  } table[] = {{"F32", IVL_DTYPE_F32}, {"F16", IVL_DTYPE_F16}, {"BF16", IVL_DTYPE_BF16}};
  for (gsize i = 0; i < G_N_ELEMENTS(table); i++) {
    if (strcmp(s, table[i].name) == 0) {
      *out = table[i].dtype;
      return TRUE;
    }
  }
  return FALSE;
}

/* The other dtypes the safetensors format defines: well formed, but not ours to run. */
static gboolean is_known_dtype(const char *s)
{
  static const char *const known[] = {"F64",     "I64",     "U64",     "I32",  "U32",     "I16",
                                      "U16",     "I8",      "U8",      "BOOL", "F8_E4M3", "F8_E5M2",
                                      "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4",   "C64"};
  for (gsize i = 0; i < G_N_ELEMENTS(known); i++)
    if (strcmp(s, known[i]) == 0)
      return TRUE;
  return FALSE;
}

static gboolean bad(GError **error, const char *label, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static gboolean bad(GError **error, const char *label, const char *name, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *what = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: tensor \"%s\": %s", label, name, what);
  return FALSE;
}

static gboolean is_uint(JsonNode *n)
{
  return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64 &&
         json_node_get_int(n) >= 0;
}

static gboolean parse_dtype(JsonObject *o, const char *label, const char *name, ivl_st_tensor *t,
                            GError **error)
{
  JsonNode *n = json_object_get_member(o, "dtype");
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return bad(error, label, name, "\"dtype\" is missing or not a string");
  const char *s = json_node_get_string(n);
  if (dtype_from_name(s, &t->dtype))
    return TRUE;
  if (is_known_dtype(s)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "%s: tensor \"%s\" has dtype %s; ivl reads only BF16, F16 and F32", label, name, s);
    return FALSE;
  }
  return bad(error, label, name, "unknown dtype \"%s\"", s);
}

static gboolean parse_shape(JsonObject *o, const char *label, const char *name, ivl_st_tensor *t,
                            GError **error)
{
  JsonNode *n = json_object_get_member(o, "shape");
  if (!n || !JSON_NODE_HOLDS_ARRAY(n))
    return bad(error, label, name, "\"shape\" is missing or not an array");
  JsonArray *a = json_node_get_array(n);
  guint ndim = json_array_get_length(a);
  if (ndim > IVL_ST_MAX_DIMS)
    return bad(error, label, name, "%u dimensions, more than %d", ndim, IVL_ST_MAX_DIMS);
  guint64 count = 1;
  for (guint i = 0; i < ndim; i++) {
    JsonNode *d = json_array_get_element(a, i);
    if (!is_uint(d) || json_node_get_int(d) > MAX_DIM_EXTENT)
      return bad(error, label, name, "shape[%u] is not an integer in [0, 2^40]", i);
    t->shape[i] = json_node_get_int(d);
    if (!g_uint64_checked_mul(&count, count, (guint64)t->shape[i]) || count > G_MAXINT64 / 8)
      return bad(error, label, name, "the shape's element count overflows");
  }
  t->ndim = (int)ndim;
  t->n_elements = (int64_t)count;
  t->nbytes = (gsize)(count * ivl_dtype_size(t->dtype));
  return TRUE;
}

/* Validates one entry; data_size = bytes in the data section. */
static ivl_st_tensor *parse_entry(const char *name, JsonNode *node, const guint8 *data_start,
                                  guint64 data_size, const char *label, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT(node)) {
    bad(error, label, name, "entry is not an object");
    return NULL;
  }
  JsonObject *o = json_node_get_object(node);
  ivl_st_tensor *t = g_new0(ivl_st_tensor, 1);
  t->name = g_strdup(name);
  t->file = g_intern_string(label);
  if (!parse_dtype(o, label, name, t, error) || !parse_shape(o, label, name, t, error))
    goto fail;
  JsonNode *n = json_object_get_member(o, "data_offsets");
  JsonArray *a = n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
  if (!a || json_array_get_length(a) != 2 || !is_uint(json_array_get_element(a, 0)) ||
      !is_uint(json_array_get_element(a, 1))) {
    bad(error, label, name, "\"data_offsets\" is not a pair of non-negative integers");
    goto fail;
  }
  guint64 begin = (guint64)json_array_get_int_element(a, 0);
  guint64 end = (guint64)json_array_get_int_element(a, 1);
  if (begin > end) {
    bad(error, label, name, "data_offsets begin %" G_GUINT64_FORMAT " > end %" G_GUINT64_FORMAT,
        begin, end);
    goto fail;
  }
  if (end > data_size) {
    bad(error, label, name,
        "data_offsets end %" G_GUINT64_FORMAT " is past the data section (%" G_GUINT64_FORMAT
        " bytes): file truncated?",
        end, data_size);
    goto fail;
  }
  if (end - begin != t->nbytes) {
    bad(error, label, name,
        "%" G_GINT64_FORMAT " %s elements are %" G_GSIZE_FORMAT
        " bytes but data_offsets span %" G_GUINT64_FORMAT,
        (gint64)t->n_elements, ivl_dtype_name(t->dtype), t->nbytes, end - begin);
    goto fail;
  }
  t->data = data_start + begin;
  return t;
fail:
  ivl_st_tensor_free(t);
  return NULL;
}

static gint by_data(gconstpointer a, gconstpointer b)
{
  const ivl_st_tensor *x = *(ivl_st_tensor *const *)a, *y = *(ivl_st_tensor *const *)b;
  const guint8 *px = x->data, *py = y->data;
  if (px != py)
    return px < py ? -1 : 1;
  return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static gboolean check_disjoint(GPtrArray *tensors, const char *label, GError **error)
{
  g_ptr_array_sort(tensors, by_data);
  const ivl_st_tensor *prev = NULL;
  for (guint i = 0; i < tensors->len; i++) {
    const ivl_st_tensor *t = g_ptr_array_index(tensors, i);
    if (t->nbytes == 0)
      continue;
    if (prev && (const guint8 *)t->data < (const guint8 *)prev->data + prev->nbytes) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                  "%s: tensors \"%s\" and \"%s\" overlap in the data section", label, prev->name,
                  t->name);
      return FALSE;
    }
    prev = t;
  }
  return TRUE;
}

/* Reads the 8-byte little-endian header length into *n and checks it fits the file. */
static gboolean read_prefix(const guint8 *data, gsize size, const char *label, guint64 *n,
                            GError **error)
{
  if (size < 8) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "%s: truncated: %" G_GSIZE_FORMAT " bytes, less than the 8-byte header length",
                label, size);
    return FALSE;
  }
  guint64 len = 0;
  for (int i = 7; i >= 0; i--)
    len = (len << 8) | data[i];
  if (len < 2 || len > IVL_ST_MAX_HEADER_BYTES) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "%s: header length %" G_GUINT64_FORMAT " is not in [2, %u]", label, len,
                IVL_ST_MAX_HEADER_BYTES);
    return FALSE;
  }
  if (len > size - 8) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "%s: truncated: header length %" G_GUINT64_FORMAT " but only %" G_GSIZE_FORMAT
                " bytes follow",
                label, len, size - 8);
    return FALSE;
  }
  *n = len;
  return TRUE;
}

GPtrArray *ivl_st_parse(const guint8 *data, gsize size, const char *label, GError **error)
{
  guint64 header_len;
  if (!read_prefix(data, size, label, &header_len, error))
    return NULL;
  g_autoptr(JsonParser) parser =
      ivl_json_parse_checked((const char *)data + 8, (gsize)header_len, label, error);
  if (!parser)
    return NULL;
  JsonNode *root = json_parser_get_root(parser);
  if (!JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: the header is not a JSON object", label);
    return NULL;
  }
  const guint8 *data_start = data + 8 + header_len;
  guint64 data_size = size - 8 - header_len;
  g_autoptr(GPtrArray) tensors = g_ptr_array_new_with_free_func(ivl_st_tensor_free);
  JsonObject *obj = json_node_get_object(root);
  g_autoptr(GList) names = json_object_get_members(obj);
  for (GList *l = names; l; l = l->next) {
    const char *name = l->data;
    JsonNode *node = json_object_get_member(obj, name);
    if (strcmp(name, "__metadata__") == 0) {
      if (!JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: __metadata__ is not an object",
                    label);
        return NULL;
      }
      continue;
    }
    ivl_st_tensor *t = parse_entry(name, node, data_start, data_size, label, error);
    if (!t)
      return NULL;
    g_ptr_array_add(tensors, t);
  }
  if (!check_disjoint(tensors, label, error))
    return NULL;
  return g_steal_pointer(&tensors);
}
