/* test-util.h — small helpers the unit tests share. */
#ifndef IVL_TEST_UTIL_H
#define IVL_TEST_UTIL_H

#include <glib.h>
#include <glib/gstdio.h>
#include <sys/wait.h>

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

/* Runs $IVL with args; returns its stdout and sets *status to its exit status. */
static inline char *ivl_test_run_ivl(int *status, const char *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer)g_getenv("IVL"));
  for (gsize i = 0; args[i]; i++)
    g_ptr_array_add(argv, (gpointer)args[i]);
  g_ptr_array_add(argv, NULL);
  char *out = NULL;
  g_autofree char *err = NULL;
  int wait_status;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                             &err, &wait_status, &error));
  g_assert_no_error(error);
  *status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  if (*status != 0)
    g_test_message("stderr: %s", err);
  return out;
}

#endif
