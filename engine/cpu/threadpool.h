/* threadpool.h — a fixed set of worker threads that run one parallel loop at a time.
 *
 * The CPU backend splits each op into independent tasks (panels of output columns, attention
 * heads); the calling thread takes tasks too, so a pool of n threads starts n - 1 workers.
 */
#ifndef IVL_THREADPOOL_H
#define IVL_THREADPOOL_H

#include <glib.h>
#include <stdint.h>

typedef struct ivl_threadpool ivl_threadpool;

/* One task of a parallel loop; thread is in [0, n_threads) and names a per-thread scratch. */
typedef void (*ivl_task_fn)(void *ctx, int64_t task, int thread);

/* n_threads <= 0 means one per online CPU. */
ivl_threadpool *ivl_threadpool_new(int n_threads, GError **error);
void ivl_threadpool_free(ivl_threadpool *pool);
int ivl_threadpool_n_threads(const ivl_threadpool *pool);
/* Runs fn(ctx, i, thread) once for every i in [0, n_tasks) and returns when all are done.
 * One caller at a time, and not from inside a task (a backend belongs to one thread).
 * Tasks are handed out in order, one at a time, so uneven tasks balance across threads. */
void ivl_threadpool_run(ivl_threadpool *pool, int64_t n_tasks, ivl_task_fn fn, void *ctx);

#endif /* IVL_THREADPOOL_H */
