/* remote-watchdog.c — timeouts as a cancellable (remote-watchdog.h). libsoup 3 has one I/O
 * timeout for connecting and reading alike; a model's answer needs a short one for the first
 * and a long one for the second, so a thread of ours keeps both. */
#include "remote-watchdog.h"

struct _IvlRemoteWatchdog {
  GMutex lock;
  GCond cond;
  GThread *thread;
  GCancellable *cancellable; /* ours, given to I/O */
  GCancellable *user;
  gulong user_handler;
  gint64 connect_us, stall_us;
  gint64 deadline; /* monotonic µs */
  gboolean connected, done, fired, fired_connecting;
};

static gpointer watch(gpointer data)
{
  IvlRemoteWatchdog *dog = data;
  g_mutex_lock(&dog->lock);
  while (!dog->done) {
    gint64 deadline = dog->deadline;
    if (g_cond_wait_until(&dog->cond, &dog->lock, deadline) || dog->done)
      continue;
    if (g_get_monotonic_time() >= dog->deadline) {
      dog->fired = TRUE;
      dog->fired_connecting = !dog->connected;
      g_mutex_unlock(&dog->lock);
      g_cancellable_cancel(dog->cancellable);
      g_mutex_lock(&dog->lock);
      break;
    }
  }
  g_mutex_unlock(&dog->lock);
  return NULL;
}

static void on_user_cancel(GCancellable *user, gpointer data)
{
  (void)user;
  g_cancellable_cancel(data);
}

IvlRemoteWatchdog *ivl_remote_watchdog_new(GCancellable *user, double connect_s, double stall_s)
{
  IvlRemoteWatchdog *dog = g_new0(IvlRemoteWatchdog, 1);
  g_mutex_init(&dog->lock);
  g_cond_init(&dog->cond);
  dog->cancellable = g_cancellable_new();
  dog->connect_us = (gint64)(connect_s * G_USEC_PER_SEC);
  dog->stall_us = (gint64)(stall_s * G_USEC_PER_SEC);
  dog->deadline = g_get_monotonic_time() + dog->connect_us;
  if (user) {
    dog->user = g_object_ref(user);
    dog->user_handler = g_cancellable_connect(user, G_CALLBACK(on_user_cancel),
                                              g_object_ref(dog->cancellable), g_object_unref);
  }
  dog->thread = g_thread_new("ivl-remote-watchdog", watch, dog);
  return dog;
}

void ivl_remote_watchdog_free(IvlRemoteWatchdog *dog)
{
  if (!dog)
    return;
  g_mutex_lock(&dog->lock);
  dog->done = TRUE;
  g_cond_signal(&dog->cond);
  g_mutex_unlock(&dog->lock);
  g_thread_join(dog->thread);
  if (dog->user) {
    g_cancellable_disconnect(dog->user, dog->user_handler);
    g_object_unref(dog->user);
  }
  g_object_unref(dog->cancellable);
  g_mutex_clear(&dog->lock);
  g_cond_clear(&dog->cond);
  g_free(dog);
}

GCancellable *ivl_remote_watchdog_cancellable(IvlRemoteWatchdog *dog)
{
  return dog->cancellable;
}

static void push(IvlRemoteWatchdog *dog, gboolean connected)
{
  g_mutex_lock(&dog->lock);
  if (connected)
    dog->connected = TRUE;
  if (dog->connected)
    dog->deadline = g_get_monotonic_time() + dog->stall_us;
  g_cond_signal(&dog->cond);
  g_mutex_unlock(&dog->lock);
}

void ivl_remote_watchdog_connected(IvlRemoteWatchdog *dog)
{
  push(dog, TRUE);
}

void ivl_remote_watchdog_kick(gpointer dog)
{
  push(dog, FALSE);
}

gboolean ivl_remote_watchdog_fired(IvlRemoteWatchdog *dog, gboolean *while_connecting)
{
  g_mutex_lock(&dog->lock);
  gboolean fired = dog->fired;
  if (while_connecting)
    *while_connecting = dog->fired_connecting;
  g_mutex_unlock(&dog->lock);
  return fired;
}
