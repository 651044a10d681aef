/* catalog.c — the InternVL3 family as a download catalog. */
#include "catalog.h"

#include <string.h>
#include <unistd.h>

#include "config.h"
#include "model-path.h"
#include "tiny-model.h"

#define GB 1000000000ull

/* spec/HUB.md, "The InternVL3 repos", in the order of ivl_model_sizes(). */
static const guint64 download_bytes[] = {
    1800000000ull, 4200000000ull, 15900000000ull, 18300000000ull,
    30200000000ull, 76800000000ull, 152 * GB,
};

#define N_SIZES G_N_ELEMENTS(download_bytes)

/* Each size twice: the original repo, then (after all seven) its "-hf" twin. */
static IvlCatalogModel models[2 * N_SIZES];

/* The tokenizer and config files of an -hf repo beside its weights (tokenizer.json of
 * Qwen2.5 alone is about 11 MB). */
#define HF_FILES_BYTES 12000000ull

/* A full-size config.json for a published size, written by the tiny-model writer with the
 * real dimensions (spec section 1) in the layout asked, so the memory estimate uses the
 * engine's own formula. The 9B vocabulary (InternLM3 base, 128512) is UNCONFIRMED in the
 * spec. */
static ivl_config *size_config(const ivl_model_size *s, ivl_layout layout)
{
  ivl_tiny_model_params p = ivl_tiny_model_params_for_size(s);
  p.layout = layout;
  g_autofree char *json = ivl_tiny_model_config_json(&p);
  return ivl_config_parse(json, -1, NULL);
}

static void fill(IvlCatalogModel *m, const ivl_model_size *s, guint64 bytes, ivl_layout layout)
{
  gboolean hf = layout == IVL_LAYOUT_HF;
  g_autofree char *name = g_strconcat(s->name, hf ? "-hf" : "", NULL);
  g_autofree char *repo_id = g_strconcat(IVL_MODEL_DEFAULT_ORG "/", name, NULL);
  m->name = g_intern_string(name);
  m->repo_id = g_intern_string(repo_id);
  m->layout = layout;
  m->download_bytes = bytes;
  g_autoptr(ivl_config) config = size_config(s, layout);
  if (!config)
    return; /* a dimension the parser refuses: shown without memory figures */
  m->params = ivl_model_count_params(config).total;
  /* The -hf repos' sizes are not in spec/HUB.md: their bf16 weights and the tokenizer files,
   * an estimate until the download's listing gives the exact figure. */
  if (hf)
    m->download_bytes = 2 * m->params + HF_FILES_BYTES;
  for (int p = 0; p < IVL_N_PRECISIONS; p++) {
    m->memory[p] = ivl_model_estimate_memory(config, p, FALSE, 0).total;
    m->gpu_memory[p] = ivl_model_estimate_memory(config, p, TRUE, 0).total;
    m->split[p] = ivl_model_split_costs(config, p, 0);
  }
}

static gpointer build(gpointer data)
{
  (void)data;
  guint n;
  const ivl_model_size *sizes = ivl_model_sizes(&n);
  for (guint i = 0; i < n && i < N_SIZES; i++) {
    fill(&models[i], &sizes[i], download_bytes[i], IVL_LAYOUT_ORIGINAL);
    fill(&models[N_SIZES + i], &sizes[i], 0, IVL_LAYOUT_HF);
  }
  return NULL;
}

const IvlCatalogModel *ivl_catalog_models(guint *n)
{
  static GOnce once = G_ONCE_INIT;
  g_once(&once, build, NULL);
  *n = G_N_ELEMENTS(models);
  return models;
}

const IvlCatalogModel *ivl_catalog_find(const char *name_or_repo)
{
  guint n;
  const IvlCatalogModel *all = ivl_catalog_models(&n);
  for (guint i = 0; name_or_repo && i < n; i++) {
    if (g_ascii_strcasecmp(all[i].name, name_or_repo) == 0 ||
        g_ascii_strcasecmp(all[i].repo_id, name_or_repo) == 0)
      return &all[i];
  }
  return NULL;
}

guint64 ivl_catalog_host_memory(void)
{
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (guint64)pages * (guint64)page : 0;
}

int ivl_catalog_best_precision(const guint64 memory[IVL_N_PRECISIONS], guint64 budget)
{
  for (int p = 0; p < IVL_N_PRECISIONS; p++) {
    if (memory[p] > 0 && memory[p] <= budget)
      return p;
  }
  return -1;
}

static gpointer probe_gpus(gpointer data)
{
  IvlCatalogGpus *gpus = data;
  const int count = MIN(ivl_gpu_count(NULL), IVL_MAX_GPUS);
  for (int d = 0; d < count; d++) {
    guint64 free_bytes;
    if (!ivl_gpu_get_memory(d, &gpus->names[d], &free_bytes, &gpus->total[d], NULL))
      break;
    gpus->n_gpus = d + 1;
  }
  return NULL;
}

const IvlCatalogGpus *ivl_catalog_gpus(void)
{
  /* asked once: starting the CUDA runtime takes a moment, and the cards do not change */
  static IvlCatalogGpus gpus;
  static GOnce once = G_ONCE_INIT;
  g_once(&once, probe_gpus, &gpus);
  return &gpus;
}

gboolean ivl_catalog_gpu(char **name, guint64 *memory)
{
  const IvlCatalogGpus *gpus = ivl_catalog_gpus();
  if (gpus->n_gpus > 0) {
    *name = g_strdup(gpus->names[0]);
    *memory = gpus->total[0];
  }
  return gpus->n_gpus > 0;
}

char *ivl_catalog_installed_path(const char *name)
{
  return ivl_model_path_resolve(name, NULL);
}

char *ivl_catalog_download_dir(const char *repo_id)
{
  const char *slash = strrchr(repo_id, '/');
  const char *name = slash ? slash + 1 : repo_id;
  if (g_file_test("pretrained", G_FILE_TEST_IS_DIR)) {
    g_autofree char *cwd = g_get_current_dir();
    return g_build_filename(cwd, "pretrained", name, NULL);
  }
  g_autofree char *models_dir = ivl_model_path_user_models_dir();
  return g_build_filename(models_dir, name, NULL);
}
