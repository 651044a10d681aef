/* host-memory.h — how much memory this process can have, to refuse a size before allocating. */
#ifndef IVL_HOST_MEMORY_H
#define IVL_HOST_MEMORY_H

#include <glib.h>

G_BEGIN_DECLS

/* The smaller of the machine's RAM and the process's address-space limit (ulimit -v), in
 * bytes; G_MAXUINT64 when neither is known. */
guint64 ivl_host_memory_bytes(void);

G_END_DECLS

#endif /* IVL_HOST_MEMORY_H */
