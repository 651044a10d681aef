/* catalog.h — the InternVL3 models ivl offers to download: their repos, download sizes
 * (spec/HUB.md), the memory each needs per precision (model-info.h), whether that fits this
 * machine, and where each is or would be installed (model-path.h). */
#ifndef IVL_CATALOG_H
#define IVL_CATALOG_H

#include <glib.h>

#include "config.h"
#include "model-info.h"

G_BEGIN_DECLS

typedef struct {
  const char *name;       /* "InternVL3-1B", "InternVL3-1B-hf" */
  const char *repo_id;    /* "OpenGVLab/InternVL3-1B" */
  ivl_layout layout;      /* original (remote code) or the transformers-native -hf twin */
  guint64 download_bytes; /* the repo's size as the Hub lists it (-hf: estimated) */
  guint64 params;         /* parameters, from the size's dimensions */
  /* Host memory (CPU inference) per precision, IVL_DEFAULT_CONTEXT_LENGTH tokens. */
  guint64 memory[IVL_N_PRECISIONS];
  /* GPU memory (CUDA inference) per precision, the same context. */
  guint64 gpu_memory[IVL_N_PRECISIONS];
  /* What its parts cost on a GPU per precision, the same context, for a split over several
   * (gpu-placement.h). */
  ivl_split_costs split[IVL_N_PRECISIONS];
} IvlCatalogModel;

/* The fourteen repos: the seven models 1B … 78B, smallest first, then their -hf twins in
 * the same order; *n gets 14. Static, computed once. */
const IvlCatalogModel *ivl_catalog_models(guint *n);

/* The model whose name or repo id is name_or_repo (case-insensitive), else NULL. */
const IvlCatalogModel *ivl_catalog_find(const char *name_or_repo);

/* This machine's physical memory in bytes (0 if unknown). */
guint64 ivl_catalog_host_memory(void);

/* The most precise precision that fits: the first of bf16, int8, 4bit whose memory (a
 * model's memory or gpu_memory) is at most budget bytes, or -1 when none does. */
int ivl_catalog_best_precision(const guint64 memory[IVL_N_PRECISIONS], guint64 budget);

/* This machine's CUDA GPU (the first): its name (caller frees) and total memory; FALSE when
 * there is none ivl can use. */
gboolean ivl_catalog_gpu(char **name, guint64 *memory);

/* This machine's CUDA GPUs (at most IVL_MAX_GPUS; n_gpus 0 when there is none ivl can
 * use): names and total memory, asked once. Static. */
typedef struct {
  int n_gpus;
  char *names[IVL_MAX_GPUS];
  guint64 total[IVL_MAX_GPUS];
} IvlCatalogGpus;

const IvlCatalogGpus *ivl_catalog_gpus(void);

/* Where the model is installed (a folder with config.json: pretrained/, the user's models
 * folder or the Hugging Face cache), else NULL. Caller frees. */
char *ivl_catalog_installed_path(const char *name);

/* Where a download of repo_id goes: pretrained/<name> when the working directory has a
 * pretrained folder (as the upstream quick start), else $XDG_DATA_HOME/ivl/models/<name>,
 * with <name> the part after the '/'. Caller frees. */
char *ivl_catalog_download_dir(const char *repo_id);

G_END_DECLS

#endif /* IVL_CATALOG_H */
