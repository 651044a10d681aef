#include "threadpool.h"

#include "ivl.h"

#include <pthread.h>
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

  pthread_mutex_t lock;     /* pthread rather than GMutex: ThreadSanitizer sees through it */
  pthread_cond_t work_cond; /* a new loop was published, or quit */
  pthread_cond_t done_cond; /* the last task of the loop finished */
  atomic_uint generation;
  gboolean quit;

  /* the current loop; written under lock before generation moves */
  ivl_task_fn fn;
  void *ctx;
  int64_t n_tasks;
  /* (generation << 32) | next task index: a worker that wakes late, after its loop ended and
   * the next began, cannot claim a task of the new loop with the old loop's function */
  atomic_uint_fast64_t claim;
  atomic_int_fast64_t done_tasks;
};

typedef struct {
  ivl_threadpool *pool;
  int index;
} worker_arg;

/* Claims and runs tasks of loop `gen` until none is left. The caller never waits for a worker
 * that has not started: it waits for claimed tasks only, so a worker descheduled on a busy
 * machine costs nothing (the others take its share). */
static void run_tasks(ivl_threadpool *pool, unsigned gen, ivl_task_fn fn, void *ctx,
                      int64_t n_tasks, int thread)
{
  for (;;) {
    uint_fast64_t cur = atomic_load(&pool->claim);
    if ((unsigned)(cur >> 32) != gen || (int64_t)(cur & 0xffffffffu) >= n_tasks)
      return;
    if (!atomic_compare_exchange_weak(&pool->claim, &cur, cur + 1))
      continue;
    fn(ctx, (int64_t)(cur & 0xffffffffu), thread);
    if (atomic_fetch_add(&pool->done_tasks, 1) + 1 == n_tasks) {
      pthread_mutex_lock(&pool->lock);
      pthread_cond_signal(&pool->done_cond);
      pthread_mutex_unlock(&pool->lock);
    }
  }
}

static gpointer worker_main(gpointer data)
{
  worker_arg *arg = data;
  ivl_threadpool *pool = arg->pool;
  int index = arg->index;
  unsigned seen = 0;
  g_free(arg);

  for (;;) {
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&pool->generation) == seen; i++)
      cpu_relax();
    pthread_mutex_lock(&pool->lock);
    while (atomic_load(&pool->generation) == seen && !pool->quit)
      pthread_cond_wait(&pool->work_cond, &pool->lock);
    if (pool->quit) {
      pthread_mutex_unlock(&pool->lock);
      return NULL;
    }
    seen = atomic_load(&pool->generation);
    ivl_task_fn fn = pool->fn;
    void *ctx = pool->ctx;
    int64_t n_tasks = pool->n_tasks;
    pthread_mutex_unlock(&pool->lock);
    run_tasks(pool, seen, fn, ctx, n_tasks, index);
  }
}

ivl_threadpool *ivl_threadpool_new(int n_threads, GError **error)
{
  if (n_threads <= 0) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    n_threads = online > 0 ? (int)MIN(online, 256) : 1;
  }
  if (n_threads > IVL_MAX_THREADS) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "%d threads asked for; at most %d", n_threads, IVL_MAX_THREADS);
    return NULL;
  }
  ivl_threadpool *pool = g_new0(ivl_threadpool, 1);
  pool->n_threads = 1;
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->work_cond, NULL);
  pthread_cond_init(&pool->done_cond, NULL);
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
  pthread_mutex_lock(&pool->lock);
  pool->quit = TRUE;
  pthread_cond_broadcast(&pool->work_cond);
  pthread_mutex_unlock(&pool->lock);
  for (int i = 0; i < pool->n_threads - 1; i++)
    g_thread_join(pool->workers[i]);
  g_free(pool->workers);
  pthread_mutex_destroy(&pool->lock);
  pthread_cond_destroy(&pool->work_cond);
  pthread_cond_destroy(&pool->done_cond);
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
  if (pool->n_threads == 1 || n_tasks == 1 || n_tasks > (int64_t)G_MAXUINT32) {
    for (int64_t i = 0; i < n_tasks; i++)
      fn(ctx, i, 0);
    return;
  }
  pthread_mutex_lock(&pool->lock);
  pool->fn = fn;
  pool->ctx = ctx;
  pool->n_tasks = n_tasks;
  atomic_store(&pool->done_tasks, 0);
  unsigned gen = atomic_load(&pool->generation) + 1;
  atomic_store(&pool->claim, (uint_fast64_t)gen << 32);
  atomic_store(&pool->generation, gen);
  pthread_cond_broadcast(&pool->work_cond);
  pthread_mutex_unlock(&pool->lock);

  run_tasks(pool, gen, fn, ctx, n_tasks, 0);

  for (int i = 0; i < SPIN_ROUNDS && atomic_load(&pool->done_tasks) < n_tasks; i++)
    cpu_relax();
  pthread_mutex_lock(&pool->lock);
  while (atomic_load(&pool->done_tasks) < n_tasks)
    pthread_cond_wait(&pool->done_cond, &pool->lock);
  pthread_mutex_unlock(&pool->lock);
}
