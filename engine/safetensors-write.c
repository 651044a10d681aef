/* safetensors-write.c — the writer side of the format read by safetensors.c. */
#include "safetensors-write.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "file-io.h"
#include "ivl.h"

guint64 ivl_st_write_tensor_nbytes(const ivl_st_write_tensor *t)
{
  guint64 n = ivl_dtype_size(t->dtype);
  for (int i = 0; i < t->ndim; i++)
    n *= (guint64)t->shape[i];
  return n;
}

static char *build_header(const ivl_st_write_tensor *tensors, guint n)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "__metadata__");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "format");
  json_builder_add_string_value(b, "pt");
  json_builder_end_object(b);
  guint64 offset = 0;
  for (guint i = 0; i < n; i++) {
    const ivl_st_write_tensor *t = &tensors[i];
    json_builder_set_member_name(b, t->name);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "dtype");
    json_builder_add_string_value(b, ivl_dtype_name(t->dtype));
    json_builder_set_member_name(b, "shape");
    json_builder_begin_array(b);
    for (int d = 0; d < t->ndim; d++)
      json_builder_add_int_value(b, t->shape[d]);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "data_offsets");
    json_builder_begin_array(b);
    json_builder_add_int_value(b, (gint64)offset);
    offset += ivl_st_write_tensor_nbytes(t);
    json_builder_add_int_value(b, (gint64)offset);
    json_builder_end_array(b);
    json_builder_end_object(b);
  }
  json_builder_end_object(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  return json_generator_to_data(gen, NULL);
}

gboolean ivl_safetensors_write(const char *path, const ivl_st_write_tensor *tensors, guint n,
                               GError **error)
{
  g_autofree char *header = build_header(tensors, n);
  g_autoptr(GByteArray) out = g_byte_array_new();
  guint64 len = strlen(header);
  guint64 padded = (len + 7) / 8 * 8; /* keeps every tensor aligned for its element size */
  guint8 prefix[8];
  for (int i = 0; i < 8; i++)
    prefix[i] = (guint8)(padded >> (8 * i));
  g_byte_array_append(out, prefix, 8);
  g_byte_array_append(out, (const guint8 *)header, (guint)len);
  for (guint64 i = len; i < padded; i++)
    g_byte_array_append(out, (const guint8 *)" ", 1);
  for (guint i = 0; i < n; i++)
    g_byte_array_append(out, tensors[i].data, (guint)ivl_st_write_tensor_nbytes(&tensors[i]));
  return ivl_file_write(path, out->data, out->len, error);
}
