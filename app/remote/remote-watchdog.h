/* remote-watchdog.h — the connect and stall timeouts of one request: a cancellable that fires
 * when the connection takes longer than connect_s, or, once connected, when nothing has come
 * or gone for stall_s; or when the caller's cancellable fires. */
#ifndef IVL_REMOTE_WATCHDOG_H
#define IVL_REMOTE_WATCHDOG_H

#include <gio/gio.h>

typedef struct _IvlRemoteWatchdog IvlRemoteWatchdog;

/* Starts the connect timer. user may be NULL. */
IvlRemoteWatchdog *ivl_remote_watchdog_new(GCancellable *user, double connect_s, double stall_s);
void ivl_remote_watchdog_free(IvlRemoteWatchdog *dog);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IvlRemoteWatchdog, ivl_remote_watchdog_free)

/* The cancellable to give every I/O call of the request. */
GCancellable *ivl_remote_watchdog_cancellable(IvlRemoteWatchdog *dog);
/* The connection is open: from now on the stall timer runs. */
void ivl_remote_watchdog_connected(IvlRemoteWatchdog *dog);
/* Bytes came or went: the stall timer starts again. Takes a gpointer for callbacks. */
void ivl_remote_watchdog_kick(gpointer dog);
/* Whether a timer fired (rather than the caller cancelling), and which. */
gboolean ivl_remote_watchdog_fired(IvlRemoteWatchdog *dog, gboolean *while_connecting);

#endif /* IVL_REMOTE_WATCHDOG_H */
