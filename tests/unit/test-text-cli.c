/* `ivl tokenize` and `ivl prompt` as a user runs them ($IVL is the built tool). */
#include <glib.h>
#include <glib/gstdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "test-util.h"

static char *tokenizer_dir;

static void expect(const char *const *args, int want_status, const char *want_out)
{
  int status;
  g_autofree char *out = ivl_test_run_ivl(&status, args);
  g_assert_cmpint(status, ==, want_status);
  if (want_out)
    g_assert_cmpstr(out, ==, want_out);
}

static void test_tokenize(void)
{
  const char *const enc[] = {"tokenize", "-m", tokenizer_dir, "Hello world", NULL};
  expect(enc, 0, "[9707, 1879]\n");
  const char *const dec[] = {"tokenize", "-m", tokenizer_dir, "--decode", "9707", "1879", NULL};
  expect(dec, 0, "Hello world\n");
  const char *const json[] = {
      "tokenize", "-m", tokenizer_dir, "--decode", "--skip-special", "[151644, 8948, 198, 151645]",
      NULL};
  expect(json, 0, "system\n\n");

  g_autofree char *file = NULL;
  int fd = g_file_open_tmp("ivl-text-XXXXXX", &file, NULL);
  g_assert_cmpint(fd, >=, 0);
  close(fd);
  g_assert_true(g_file_set_contents(file, "a\xff<|im_end|>", -1, NULL));
  const char *const from_file[] = {"tokenize", "-m", tokenizer_dir, "--file", file, NULL};
  expect(from_file, 0, "[64, 5691, 151645]\n"); /* "a", U+FFFD, <|im_end|> */
  g_unlink(file);

  const char *const bad_id[] = {"tokenize", "-m", tokenizer_dir, "--decode", "12x", NULL};
  expect(bad_id, 2, "");
  const char *const no_text[] = {"tokenize", "-m", tokenizer_dir, NULL};
  expect(no_text, 2, "");
  const char *const no_model[] = {"tokenize", "-m", "/nonexistent/model", "x", NULL};
  expect(no_model, 1, "");
}

static void test_prompt(void)
{
  const char *const text[] = {"prompt",  "-m", tokenizer_dir, "--system", "S",
                              "--tiles", "2",  "Describe.",   NULL};
  expect(text, 0,
         "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT>\xC3\x97"
         "512"
         "</img>\nDescribe.<|im_end|>\n<|im_start|>assistant\n");
  const char *const separate[] = {"prompt",  "-m", tokenizer_dir, "--system", "",  "--tiles", "1",
                                  "--tiles", "3",  "--separate",  "Compare.", NULL};
  expect(separate, 0,
         "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nImage-1: <img><IMG_CONTEXT>\xC3\x97"
         "256</img>\nImage-2: <img><IMG_CONTEXT>\xC3\x97"
         "768</img>\nCompare.<|im_end|>\n"
         "<|im_start|>assistant\n");
  const char *const combined[] = {"prompt", "-m",      tokenizer_dir, "--system", "S", "--tiles",
                                  "1",      "--tiles", "3",           "Both?",    NULL};
  expect(combined, 0,
         "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT>\xC3\x97"
         "1024"
         "</img>\nBoth?<|im_end|>\n<|im_start|>assistant\n");
  const char *const video[] = {"prompt",   "-m", tokenizer_dir, "--system", "S",
                               "--frames", "2",  "Why?",        NULL};
  expect(video, 0,
         "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nFrame1: <img><IMG_CONTEXT>\xC3\x97"
         "256</img>\nFrame2: <img><IMG_CONTEXT>\xC3\x97"
         "256</img>\nWhy?<|im_end|>\n"
         "<|im_start|>assistant\n");
  const char *const ids[] = {"prompt", "-m", tokenizer_dir, "--system", "S", "--ids", "Hi", NULL};
  expect(ids, 0,
         "[151644, 8948, 198, 50, 151645, 198, 151644, 872, 198, 13048, 151645, 198, "
         "151644, 77091, 198]\n");
  const char *const mismatch[] = {"prompt",          "-m", tokenizer_dir, "--tiles", "1",
                                  "<image> <image>", NULL};
  expect(mismatch, 1, "");
  const char *const both[] = {"prompt",   "-m", tokenizer_dir, "--tiles", "1",
                              "--frames", "2",  "x",           NULL};
  expect(both, 2, "");
  const char *const zero[] = {"prompt", "-m", tokenizer_dir, "--tiles", "0", "x", NULL};
  expect(zero, 1, "");
}

/* A model directory: config.json (template, image geometry) beside the tokenizer files. */
static void test_model_dir(void)
{
  const char *root = g_getenv("IVL_SOURCE_ROOT");
  g_autofree char *dir = g_dir_make_tmp("ivl-text-model-XXXXXX", NULL);
  g_assert_nonnull(dir);
  const char *files[] = {"vocab.json",
                         "merges.txt",
                         "tokenizer_config.json",
                         "added_tokens.json",
                         "special_tokens_map.json",
                         "config.json"};
  for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
    g_autofree char *target = i + 1 < G_N_ELEMENTS(files)
                                  ? g_build_filename(tokenizer_dir, files[i], NULL)
                                  : g_build_filename(root ? root : ".", "tests", "data", "config",
                                                     "internvl3-1b.json", NULL);
    g_autofree char *link = g_build_filename(dir, files[i], NULL);
    g_assert_cmpint(symlink(target, link), ==, 0);
  }
  const char *const args[] = {"prompt", "-m", dir, "--system", "S", "--tiles", "1", "x", NULL};
  expect(args, 0,
         "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT>\xC3\x97"
         "256</img>\nx<|im_end|>\n<|im_start|>assistant\n");
  for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
    g_autofree char *link = g_build_filename(dir, files[i], NULL);
    g_unlink(link);
  }
  g_rmdir(dir);
}

/* Images and videos are cut as chat() would: image1.jpg (1000x747) is 4x3 + thumbnail. */
static void test_prompt_media(void)
{
  const char *root = g_getenv("IVL_SOURCE_ROOT");
  g_autofree char *image = g_build_filename(root, "tests", "data", "examples", "image1.jpg", NULL);
  g_autofree char *video =
      g_build_filename(root, "tests", "data", "examples", "decord", "video_0.mov", NULL);
  const char *const one[] = {"prompt", "-m", tokenizer_dir, "--system", "S", "--image", image,
                             "Describe.", NULL};
  expect(one, 0,
         "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT>\xC3\x97"
         "3328</img>\nDescribe.<|im_end|>\n<|im_start|>assistant\n");
  const char *const small[] = {"prompt", "-m", tokenizer_dir, "--system", "S", "--image", image,
                               "--max-num", "1", "Describe.", NULL};
  expect(small, 0,
         "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT>\xC3\x97"
         "256</img>\nDescribe.<|im_end|>\n<|im_start|>assistant\n");
  const char *const clip[] = {"prompt", "-m", tokenizer_dir, "--system", "S", "--video", video,
                              "--segments", "2", "What?", NULL};
  expect(clip, 0,
         "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nFrame1: <img><IMG_CONTEXT>\xC3\x97"
         "256</img>\nFrame2: <img><IMG_CONTEXT>\xC3\x97"
         "256</img>\nWhat?<|im_end|>\n<|im_start|>assistant\n");
  const char *const broken[] = {"prompt", "-m", tokenizer_dir, "--image", tokenizer_dir, "x",
                                NULL};
  expect(broken, 1, NULL);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  const char *root = g_getenv("IVL_SOURCE_ROOT");
  tokenizer_dir =
      g_build_filename(root ? root : ".", "tests", "data", "tokenizer", "qwen2.5", NULL);
  g_test_add_func("/text-cli/tokenize", test_tokenize);
  g_test_add_func("/text-cli/prompt", test_prompt);
  g_test_add_func("/text-cli/prompt-media", test_prompt_media);
  g_test_add_func("/text-cli/model-dir", test_model_dir);
  int status = g_test_run();
  g_free(tokenizer_dir);
  return status;
}
