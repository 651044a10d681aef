#include "threadpool.h"

#include "ivl.h"

#include <stdatomic.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Workers poll for a new loop this many times before sleeping: a decode step issues a few
 * hundred short ops, and a condition-variable wake-up per op would cost more than the op. The
 * machine may be shared, so the spin stays short (tens of microseconds). */
#define SPIN_ROUNDS 20000

struct ivl_threadpool {
  int n_threads;
  GThread **workers; /* n_threads - 1 */

  GMutex lock;
  GCond work_cond; /* a new loop was published, or quit */
  GCond done_cond; /* the last worker finished its share */
  atomic_uint generation;
  gboolean quit;

  /* the current loop */
  ivl_task_fn fn;
  void *ctx;
  int64_t n_tasks;
  atomic_int_fast64_t next_task;
  atomic_int busy_workers;
};

typedef struct {
  ivl_threadpool *pool;
  int index;
} worker_arg;

static void run_tasks(ivl_threadpool *pool, int thread)
{
  for (;;) {
    int64_t task = atomic_fetch_add(&pool->next_task, 1);
    if (task >= pool->n_tasks)
      break;
    pool->fn(pool->ctx, task, thread);
  }
}

static gboolean wait_for_work(ivl_threadpool *pool, unsigned *seen)
{
  for (int i = 0; i < SPIN_ROUNDS; i++) {
    if (atomic_load(&pool->generation) != *seen)
      break;
    cpu_relax();
  }
  g_mutex_lock(&pool->lock);
  while (atomic_load(&pool->generation) == *seen && !pool->quit)
    g_cond_wait(&pool->work_cond, &pool->lock);
  gboolean quit = pool->quit;
  *seen = atomic_load(&pool->generation);
  g_mutex_unlock(&pool->lock);
  return !quit;
}

static gpointer worker_main(gpointer data)
{
  worker_arg *arg = data;
  ivl_threadpool *pool = arg->pool;
  int index = arg->index;
  unsigned seen = 0;
  g_free(arg);

  while (wait_for_work(pool, &seen)) {
    run_tasks(pool, index);
    if (atomic_fetch_sub(&pool->busy_workers, 1) == 1) {
      g_mutex_lock(&pool->lock);
      g_cond_signal(&pool->done_cond);
      g_mutex_unlock(&pool->lock);
    }
  }
  return NULL;
}

ivl_threadpool *ivl_threadpool_new(int n_threads, GError **error)
{
  if (n_threads <= 0) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    n_threads = online > 0 ? (int)MIN(online, 256) : 1;
  }
  ivl_threadpool *pool = g_new0(ivl_threadpool, 1);
  pool->n_threads = 1;
  g_mutex_init(&pool->lock);
  g_cond_init(&pool->work_cond);
  g_cond_init(&pool->done_cond);
  pool->workers = g_new0(GThread *, n_threads);
  for (int i = 1; i < n_threads; i++) {
    worker_arg *arg = g_new(worker_arg, 1);
    *arg = (worker_arg){pool, i};
    GError *local = NULL;
    pool->workers[i - 1] = g_thread_try_new("ivl-cpu", worker_main, arg, &local);
    if (pool->workers[i - 1] == NULL) {
      g_free(arg);
      g_set_error(error, IVL_ERROR, IVL_ERROR_BACKEND, "cannot start a compute thread: %s",
                  local->message);
      g_error_free(local);
      ivl_threadpool_free(pool);
      return NULL;
    }
    pool->n_threads++;
  }
  return pool;
}

void ivl_threadpool_free(ivl_threadpool *pool)
{
  if (pool == NULL)
    return;
  g_mutex_lock(&pool->lock);
  pool->quit = TRUE;
  g_cond_broadcast(&pool->work_cond);
  g_mutex_unlock(&pool->lock);
  for (int i = 0; i < pool->n_threads - 1; i++)
    g_thread_join(pool->workers[i]);
  g_free(pool->workers);
  g_mutex_clear(&pool->lock);
  g_cond_clear(&pool->work_cond);
  g_cond_clear(&pool->done_cond);
  g_free(pool);
}

int ivl_threadpool_n_threads(const ivl_threadpool *pool)
{
  return pool->n_threads;
}

void ivl_threadpool_run(ivl_threadpool *pool, int64_t n_tasks, ivl_task_fn fn, void *ctx)
{
  if (n_tasks <= 0)
    return;
  if (pool->n_threads == 1 || n_tasks == 1) {
    for (int64_t i = 0; i < n_tasks; i++)
      fn(ctx, i, 0);
    return;
  }
  g_mutex_lock(&pool->lock);
  pool->fn = fn;
  pool->ctx = ctx;
  pool->n_tasks = n_tasks;
  atomic_store(&pool->next_task, 0);
  atomic_store(&pool->busy_workers, pool->n_threads - 1);
  atomic_fetch_add(&pool->generation, 1);
  g_cond_broadcast(&pool->work_cond);
  g_mutex_unlock(&pool->lock);

  run_tasks(pool, 0);

  for (int i = 0; i < SPIN_ROUNDS && atomic_load(&pool->busy_workers) > 0; i++)
    cpu_relax();
  g_mutex_lock(&pool->lock);
  while (atomic_load(&pool->busy_workers) > 0)
    g_cond_wait(&pool->done_cond, &pool->lock);
  g_mutex_unlock(&pool->lock);
}
