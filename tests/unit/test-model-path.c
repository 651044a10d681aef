/* Unit tests of engine/model-path.c: directories, and names found in pretrained/, the user
 * data dir and a Hugging Face cache (refs/main, else the newest snapshot). */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>
#include <utime.h>

#include "ivl.h"
#include "model-path.h"
#include "test-util.h"

static char *root;

static char *make_model_dir(const char *first, ...)
{
  va_list ap;
  va_start(ap, first);
  g_autofree char *rel = g_build_filename_valist(first, &ap);
  va_end(ap);
  char *dir = g_build_filename(root, rel, NULL);
  g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
  g_autofree char *config = g_build_filename(dir, "config.json", NULL);
  g_assert_true(g_file_set_contents(config, "{}", -1, NULL));
  return dir;
}

static void expect_resolves(const char *name, const char *want)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *got = ivl_model_path_resolve(name, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(got, ==, want);
}

static void test_directory(void)
{
  g_autofree char *dir = make_model_dir("plain", NULL);
  expect_resolves(dir, dir);
  g_autofree char *empty = g_build_filename(root, "empty", NULL);
  g_mkdir(empty, 0755);
  g_autoptr(GError) error = NULL;
  g_assert_null(ivl_model_path_resolve(empty, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "has no config.json"));
}

static void test_pretrained_first(void)
{
  g_autofree char *hub = make_model_dir("data", "ivl", "models", "Both-1B", NULL);
  g_autofree char *pre = make_model_dir("pretrained", "Both-1B", NULL);
  (void)hub;
  (void)pre;
  /* Relative, as found: the working directory is root. */
  expect_resolves("Both-1B", "pretrained/Both-1B");
}

static void test_user_data(void)
{
  g_autofree char *dir = make_model_dir("data", "ivl", "models", "User-1B", NULL);
  expect_resolves("User-1B", dir);
  g_autofree char *models = ivl_model_path_user_models_dir();
  g_autofree char *want = g_build_filename(root, "data", "ivl", "models", NULL);
  g_assert_cmpstr(models, ==, want);
}

static void test_hub_refs_main(void)
{
  g_autofree char *old =
      make_model_dir("hub", "models--OpenGVLab--Hub-1B", "snapshots", "aaa", NULL);
  g_autofree char *main_dir =
      make_model_dir("hub", "models--OpenGVLab--Hub-1B", "snapshots", "bbb", NULL);
  g_autofree char *refs = g_build_filename(root, "hub", "models--OpenGVLab--Hub-1B", "refs", NULL);
  g_mkdir(refs, 0755);
  g_autofree char *ref = g_build_filename(refs, "main", NULL);
  g_assert_true(g_file_set_contents(ref, "bbb\n", -1, NULL));
  expect_resolves("Hub-1B", main_dir);
  expect_resolves("OpenGVLab/Hub-1B", main_dir);
  /* A stale ref falls back to the newest snapshot. */
  g_assert_true(g_file_set_contents(ref, "ccc", -1, NULL));
  struct utimbuf later = {.actime = 2000000000, .modtime = 2000000000};
  g_assert_cmpint(g_utime(old, &later), ==, 0);
  expect_resolves("Hub-1B", old);
}

static void test_hub_other_org(void)
{
  g_autofree char *dir = make_model_dir("hub", "models--Someone--Fork-1B", "snapshots", "c1", NULL);
  expect_resolves("Someone/Fork-1B", dir);
}

static void test_not_found(void)
{
  g_autoptr(GError) error = NULL;
  g_assert_null(ivl_model_path_resolve("Missing-2B", &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND);
  g_test_message("%s", error->message);
  g_autofree char *hub = g_build_filename(root, "hub", "models--OpenGVLab--Missing-2B", NULL);
  g_assert_nonnull(strstr(error->message, "pretrained/Missing-2B"));
  g_assert_nonnull(strstr(error->message, "ivl/models/Missing-2B"));
  g_assert_nonnull(strstr(error->message, hub));
}

static void test_bad_names(void)
{
  static const char *const names[] = {"", "..", "a/../b", "a/b/c", "/", "x/"};
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_null(ivl_model_path_resolve(names[i], &error));
    g_assert_nonnull(error);
  }
}

static void test_hub_cache_dir(void)
{
  g_autofree char *want = g_build_filename(root, "hub", NULL);
  g_autofree char *got = ivl_model_path_hub_cache_dir();
  g_assert_cmpstr(got, ==, want);
  g_unsetenv("HF_HUB_CACHE");
  g_setenv("HF_HOME", "/opt/hf", TRUE);
  g_free(got);
  got = ivl_model_path_hub_cache_dir();
  g_assert_cmpstr(got, ==, "/opt/hf/hub");
  g_setenv("HF_HUB_CACHE", want, TRUE);
  g_autofree char *id = ivl_model_path_repo_id("InternVL3-1B");
  g_assert_cmpstr(id, ==, "OpenGVLab/InternVL3-1B");
}

int main(int argc, char **argv)
{
  root = g_dir_make_tmp("ivl-test-model-path-XXXXXX", NULL);
  g_assert_nonnull(root);
  /* Before anything asks GLib for the user data dir, which it caches. */
  g_autofree char *data = g_build_filename(root, "data", NULL);
  g_autofree char *hub = g_build_filename(root, "hub", NULL);
  g_setenv("XDG_DATA_HOME", data, TRUE);
  g_setenv("HF_HUB_CACHE", hub, TRUE);
  g_assert_cmpint(chdir(root), ==, 0);
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/model-path/directory", test_directory);
  g_test_add_func("/model-path/pretrained-first", test_pretrained_first);
  g_test_add_func("/model-path/user-data", test_user_data);
  g_test_add_func("/model-path/hub-refs-main", test_hub_refs_main);
  g_test_add_func("/model-path/hub-other-org", test_hub_other_org);
  g_test_add_func("/model-path/not-found", test_not_found);
  g_test_add_func("/model-path/bad-names", test_bad_names);
  g_test_add_func("/model-path/hub-cache-dir", test_hub_cache_dir);
  int rc = g_test_run();
  g_assert_cmpint(chdir("/"), ==, 0);
  ivl_test_remove_tree(root);
  g_free(root);
  return rc;
}
