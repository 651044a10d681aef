/* host-memory.c — see host-memory.h. */
#include "host-memory.h"

#include <sys/resource.h>
#include <unistd.h>

guint64 ivl_host_memory_bytes(void)
{
  guint64 bytes = G_MAXUINT64;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0)
    bytes = (guint64)pages * (guint64)page;
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    bytes = MIN(bytes, (guint64)rl.rlim_cur);
  return bytes;
}
