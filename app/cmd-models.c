/* ivl models [--json] — the downloadable InternVL3 models: size, memory per precision, whether
 * that fits this machine, and where each is installed; with --server URL, the models that
 * server serves. */
#include "ivl-config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <stdio.h>

#include "answerer.h"
#include "catalog.h"
#include "cmd-common.h"
#include "commands.h"

static void add_string_or_null(JsonBuilder *b, const char *member, const char *value)
{
  json_builder_set_member_name(b, member);
  if (value)
    json_builder_add_string_value(b, value);
  else
    json_builder_add_null_value(b);
}

static void add_precision_or_null(JsonBuilder *b, const char *member, int precision)
{
  add_string_or_null(b, member, precision >= 0 ? ivl_precision_name(precision) : NULL);
}

/* Closes the list and the object around it that b holds and prints them. */
static void print_list_end(JsonBuilder *b)
{
  json_builder_end_array(b);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autofree char *text = json_to_string(root, TRUE);
  printf("%s\n", text);
}

static void add_memory(JsonBuilder *b, const char *member, const guint64 memory[])
{
  json_builder_set_member_name(b, member);
  json_builder_begin_object(b);
  for (int p = 0; p < IVL_N_PRECISIONS; p++) {
    json_builder_set_member_name(b, ivl_precision_name(p));
    json_builder_add_int_value(b, (gint64)memory[p]);
  }
  json_builder_end_object(b);
}

static void print_json(guint64 ram)
{
  guint n;
  const IvlCatalogModel *models = ivl_catalog_models(&n);
  g_autofree char *gpu_name = NULL;
  guint64 gpu_memory = 0;
  gboolean gpu = ivl_catalog_gpu(&gpu_name, &gpu_memory);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "host_memory");
  json_builder_add_int_value(b, (gint64)ram);
  json_builder_set_member_name(b, "gpu");
  if (gpu) {
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, gpu_name);
    json_builder_set_member_name(b, "memory");
    json_builder_add_int_value(b, (gint64)gpu_memory);
    json_builder_end_object(b);
  } else {
    json_builder_add_null_value(b);
  }
  json_builder_set_member_name(b, "models");
  json_builder_begin_array(b);
  for (guint i = 0; i < n; i++) {
    const IvlCatalogModel *m = &models[i];
    g_autofree char *path = ivl_catalog_installed_path(m->name);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, m->name);
    json_builder_set_member_name(b, "repo_id");
    json_builder_add_string_value(b, m->repo_id);
    json_builder_set_member_name(b, "layout");
    json_builder_add_string_value(b, m->layout == IVL_LAYOUT_HF ? "hf" : "original");
    json_builder_set_member_name(b, "download_bytes");
    json_builder_add_int_value(b, (gint64)m->download_bytes);
    json_builder_set_member_name(b, "params");
    json_builder_add_int_value(b, (gint64)m->params);
    add_memory(b, "memory", m->memory);
    add_memory(b, "gpu_memory", m->gpu_memory);
    add_precision_or_null(b, "fits", ivl_catalog_best_precision(m->memory, ram));
    add_precision_or_null(b, "fits_gpu",
                          gpu ? ivl_catalog_best_precision(m->gpu_memory, gpu_memory) : -1);
    add_string_or_null(b, "installed", path);
    json_builder_end_object(b);
  }
  print_list_end(b);
}

/* g_format_size separates number and unit with a no-break space, which printf's column
 * widths would count as two characters. */
static char *format_size(guint64 bytes)
{
  g_autofree char *text = g_format_size(bytes);
  g_auto(GStrv) parts = g_strsplit(text, "\u00a0", -1);
  return g_strjoinv(" ", parts);
}

static const char *fit_name(int precision)
{
  return precision >= 0 ? ivl_precision_name(precision) : _("no");
}

static void print_table(guint64 ram)
{
  guint n;
  const IvlCatalogModel *models = ivl_catalog_models(&n);
  g_autofree char *ram_text = g_format_size(ram);
  g_autofree char *gpu_name = NULL;
  guint64 gpu_memory = 0;
  gboolean gpu = ivl_catalog_gpu(&gpu_name, &gpu_memory);
  printf(_("Memory of this machine: %s\n"), ram_text);
  if (gpu) {
    g_autofree char *gpu_text = g_format_size(gpu_memory);
    printf(_("GPU: %s, %s\n\n"), gpu_name, gpu_text);
  } else {
    printf("%s\n\n", _("GPU: none that ivl can use"));
  }
  printf("%-17s %9s %9s %9s %9s  %-6s %-6s %s\n", _("MODEL"), _("DOWNLOAD"), "bf16", "int8", "4bit",
         _("FITS"), _("GPU"), _("INSTALLED"));
  for (guint i = 0; i < n; i++) {
    const IvlCatalogModel *m = &models[i];
    g_autofree char *path = ivl_catalog_installed_path(m->name);
    g_autofree char *size = format_size(m->download_bytes);
    char *mem[IVL_N_PRECISIONS];
    for (int p = 0; p < IVL_N_PRECISIONS; p++)
      mem[p] = format_size(m->memory[p]);
    printf("%-17s %9s %9s %9s %9s  %-6s %-6s %s\n", m->name, size, mem[0], mem[1], mem[2],
           fit_name(ivl_catalog_best_precision(m->memory, ram)),
           gpu ? fit_name(ivl_catalog_best_precision(m->gpu_memory, gpu_memory)) : "-",
           path ? path : "-");
    for (int p = 0; p < IVL_N_PRECISIONS; p++)
      g_free(mem[p]);
  }
  printf("\n%s\n", _("Memory: host memory for CPU inference with an 8192-token context. FITS: the "
                     "most precise weights that fit this machine's memory, GPU: its GPU (load "
                     "with --precision)."));
  printf("%s\n", _("Download one with: ivl download NAME"));
}

/* What GET /v1/models of the server says: the names to give -m. */
static int print_server_models(const ivl_cli_remote_options *ro, gboolean json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(IvlRemoteClient) client = ivl_cli_remote_client(ro, &error);
  g_autoptr(GPtrArray) models = client ? ivl_cli_remote_models(client, &error) : NULL;
  if (!models) {
    fprintf(stderr, "ivl models: %s\n", error->message);
    return 1;
  }
  const char *dialect = ivl_remote_dialect_name(ivl_remote_client_get_dialect(client));
  if (json) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "server");
    json_builder_add_string_value(b, ivl_remote_client_get_base_url(client));
    json_builder_set_member_name(b, "dialect");
    json_builder_add_string_value(b, dialect);
    json_builder_set_member_name(b, "models");
    json_builder_begin_array(b);
    for (guint i = 0; i < models->len; i++) {
      const IvlRemoteModel *m = models->pdata[i];
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "id");
      json_builder_add_string_value(b, m->id);
      add_string_or_null(b, "owned_by", m->owned_by);
      json_builder_set_member_name(b, "context_length");
      if (m->context_length > 0)
        json_builder_add_int_value(b, m->context_length);
      else
        json_builder_add_null_value(b);
      json_builder_end_object(b);
    }
    print_list_end(b);
    return 0;
  }
  printf(_("Server: %s (%s)\n\n"), ivl_remote_client_get_base_url(client), dialect);
  printf("%-40s %-10s %s\n", _("MODEL"), _("OWNED BY"), _("CONTEXT"));
  for (guint i = 0; i < models->len; i++) {
    const IvlRemoteModel *m = models->pdata[i];
    g_autofree char *context = m->context_length > 0
                                   ? g_strdup_printf("%" G_GINT64_FORMAT, m->context_length)
                                   : g_strdup("-");
    printf("%-40s %-10s %s\n", m->id, m->owned_by ? m->owned_by : "-", context);
  }
  printf("\n%s\n", _("Ask one with: ivl run --server URL -m MODEL QUESTION"));
  return 0;
}

int ivl_cmd_models(int argc, char **argv)
{
  gboolean json = FALSE;
  GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL},
                            {NULL}};
  ivl_cli_remote_options ro = {0};
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_summary(ctx, _("List the InternVL3 models ivl can download, the memory "
                                      "each needs and which are installed; with --server, the "
                                      "models that server serves."));
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  ivl_cli_add_remote_options(ctx, &ro);
  g_option_context_set_translation_domain(ctx, GETTEXT_PACKAGE);
  if (!ivl_cli_parse(ctx, &argc, &argv)) {
    ivl_cli_remote_options_clear(&ro);
    return 2;
  }
  if (argc != 1) {
    fprintf(stderr, _("ivl models: takes no arguments\n"));
    ivl_cli_remote_options_clear(&ro);
    return 2;
  }
  if (ro.server) {
    int rc = print_server_models(&ro, json);
    ivl_cli_remote_options_clear(&ro);
    return rc;
  }
  guint64 ram = ivl_catalog_host_memory();
  if (json)
    print_json(ram);
  else
    print_table(ram);
  return 0;
}
