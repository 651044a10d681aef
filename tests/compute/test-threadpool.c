/* The thread pool runs every task of every loop exactly once, with thread indices in range,
 * also when there are more threads than cores (workers then wake late, after their loop has
 * ended and the next begun: the case the generation-tagged task claim exists for). */
#include "threadpool.h"

#include <stdatomic.h>
#include <stdio.h>

#define MAX_TASKS 64

typedef struct {
  atomic_int runs[MAX_TASKS];
  atomic_int bad_thread;
  atomic_int worker_tasks;
  int n_threads;
  int loop;
} counter;

static void count_task(void *ctx, int64_t task, int thread)
{
  counter *c = ctx;
  /* about a microsecond of work, so that workers take part rather than the caller alone */
  for (volatile int spin = 0; spin < 500; spin++)
    ;
  /* a task run under another loop's context would add the wrong amount */
  atomic_fetch_add(&c->runs[task], 1 + c->loop);
  if (thread < 0 || thread >= c->n_threads)
    atomic_store(&c->bad_thread, 1);
  else if (thread > 0)
    atomic_fetch_add(&c->worker_tasks, 1);
}

/* Workers count themselves; the caller waits (up to 10 s) until one has. */
static void wait_for_a_worker(void *ctx, int64_t task, int thread)
{
  counter *c = ctx;
  (void)task;
  if (thread > 0) {
    atomic_fetch_add(&c->worker_tasks, 1);
    return;
  }
  gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (atomic_load(&c->worker_tasks) == 0 && g_get_monotonic_time() < end)
    g_usleep(100);
}

static int run_loops(int n_threads, int n_loops)
{
  g_autoptr(GError) error = NULL;
  ivl_threadpool *pool = ivl_threadpool_new(n_threads, &error);
  if (pool == NULL) {
    fprintf(stderr, "pool of %d: %s\n", n_threads, error->message);
    return 1;
  }
  int failures = 0;
  counter c = {.n_threads = ivl_threadpool_n_threads(pool)};
  for (int loop = 0; loop < n_loops && failures == 0; loop++) {
    int n_tasks = 1 + (loop * 7) % MAX_TASKS;
    c.loop = loop;
    for (int i = 0; i < MAX_TASKS; i++)
      atomic_store(&c.runs[i], 0);
    ivl_threadpool_run(pool, n_tasks, count_task, &c);
    for (int i = 0; i < MAX_TASKS; i++)
      if (atomic_load(&c.runs[i]) != (i < n_tasks ? 1 + loop : 0)) {
        fprintf(stderr, "FAIL %d threads, loop %d of %d tasks: task %d ran %d/%d times\n",
                n_threads, loop, n_tasks, i, atomic_load(&c.runs[i]), 1 + loop);
        failures++;
        break;
      }
  }
  /* On a loaded machine the caller may finish every short loop before a worker wakes: then
   * one more loop whose first task holds the caller until a worker has taken a task. */
  if (c.n_threads > 1 && atomic_load(&c.worker_tasks) == 0)
    ivl_threadpool_run(pool, MAX_TASKS, wait_for_a_worker, &c);
  if (c.n_threads > 1 && atomic_load(&c.worker_tasks) == 0) {
    fprintf(stderr, "FAIL %d threads: the workers never ran a task\n", n_threads);
    failures++;
  }
  if (atomic_load(&c.bad_thread)) {
    fprintf(stderr, "FAIL %d threads: a thread index out of range\n", n_threads);
    failures++;
  }
  ivl_threadpool_free(pool);
  return failures;
}

int main(void)
{
  int failures = run_loops(1, 100) + run_loops(2, 3000) + run_loops(5, 3000) + run_loops(0, 1000);
  ivl_threadpool_free(NULL);
  printf("%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
