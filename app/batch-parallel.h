/* batch-parallel.h — `ivl batch` on a local model: several lines answered at once. */
#ifndef IVL_BATCH_PARALLEL_H
#define IVL_BATCH_PARALLEL_H

#include "ivl.h"

G_BEGIN_DECLS

/* Answers lines[] (the JSONL file's, labelled "path:N"; blank ones skipped), up to parallel
 * at once in one ivl_batch (0: as many as the KV caches' memory admits), each in a fresh
 * conversation with system, and prints the answer lines in input order. A line that fails is
 * reported in its answer line and on stderr and counted in *n_failed; FALSE only when the
 * answers cannot be written. */
gboolean ivl_batch_run_parallel(ivl_model *model, const char *system, const char *path,
                                char **lines, int max_num, const ivl_generation_params *gp,
                                int parallel, int *n_failed, GError **error);

G_END_DECLS

#endif /* IVL_BATCH_PARALLEL_H */
