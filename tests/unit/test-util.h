/* test-util.h — small helpers the unit tests share. */
#ifndef IVL_TEST_UTIL_H
#define IVL_TEST_UTIL_H

#include <glib.h>
#include <glib/gstdio.h>

/* rm -rf path, without following symbolic links. */
static inline void ivl_test_remove_tree(const char *path)
{
  if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    for (const char *name; d && (name = g_dir_read_name(d));) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      ivl_test_remove_tree(child);
    }
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

#endif
