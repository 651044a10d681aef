/* fake-ivl.c — a scripted stand-in for libivl, for the GUI tests only.
 *
 * It implements the inference part of engine/ivl.h that the app's worker uses (models,
 * media, sessions; the rest comes from libivl, e.g. the tiny-model writer) with predictable
 * behaviour, so the window's flows (streaming, stop, follow-ups, restore, media errors) are
 * tested without model weights: images are checked and cut into the InternVL grid, videos
 * are recognised by their container magic, answers are a fixed markdown text streamed word by
 * word that states the turn number, how many turns the session already held, and the system
 * message when there is one.
 * IVL_FAKE_TOKEN_US sets the delay per word (default 2000 µs). A batch steps every ask a word
 * per delay; IVL_FAKE_KV_ASKS=N makes its KV budget hold N asks. fake_ivl_turns_added counts the
 * turns put back into sessions with ivl_session_add_turn, so a test sees what was rebuilt.
 * ivl_model_encode_ahead takes IVL_FAKE_ENCODE_US (default 0), checking its cancellable every
 * 10 ms; the fake_ivl_encodes_ counters count those started, finished, cancelled, forgotten
 * and taken by an ask (which reports their tiles as n_cached_tiles). A model runs on every
 * GPU fake-gpus.c makes up ("cuda"), unless the CPU is asked for, else on the CPU. */
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "ivl.h"

#define TILE 448

int fake_ivl_turns_added;
/* Written on the worker thread, read by the test on the main thread. */
gint fake_ivl_encodes_started, fake_ivl_encodes_done, fake_ivl_encodes_cancelled,
    fake_ivl_encodes_forgotten, fake_ivl_encodes_taken;
/* media ids encoded ahead and not yet taken by an ask or forgotten (worker thread only) */
static GHashTable *fake_ahead;

extern int fake_ivl_n_gpus; /* fake-gpus.c */

struct ivl_model {
  char *dir;
  ivl_precision precision;
  int n_gpus;
};

struct ivl_media {
  gboolean video;
  int cols, rows, n_tiles;
  float *tiles; /* video frames only */
  guint8 *rgb;  /* the frames as 8-bit RGB, made when first asked for */
  char *id;
};

struct ivl_session {
  ivl_model *model;
  char *system_message;
  int turns;
  ivl_generation_stats stats; /* of the last ask */
};

ivl_model_params ivl_model_default_params(void)
{
  return (ivl_model_params){.backend = IVL_BACKEND_AUTO};
}

ivl_image_params ivl_image_default_params(void)
{
  return (ivl_image_params){.min_num = 1, .max_num = 12, .use_thumbnail = TRUE};
}

ivl_video_params ivl_video_default_params(void)
{
  return (ivl_video_params){.n_segments = 8};
}

ivl_generation_params ivl_generation_default_params(void)
{
  return (ivl_generation_params){
      .max_new_tokens = 1024, .temperature = 1, .top_k = 50, .top_p = 1, .repetition_penalty = 1};
}

ivl_model *ivl_model_load(const char *dir, const ivl_model_params *params,
                          GCancellable *cancellable, GError **error)
{
  g_autofree char *config = g_build_filename(dir, "config.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  ivl_model *model;

  if (!g_file_test(config, G_FILE_TEST_IS_REGULAR)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND, "%s has no config.json", dir);
    return NULL;
  }
  if (!json_parser_load_from_file(parser, config, NULL)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "config.json is not JSON");
    return NULL;
  }
  for (int step = 0; step <= 4; step++) {
    if (g_cancellable_is_cancelled(cancellable)) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CANCELLED, "cancelled");
      return NULL;
    }
    if (params->progress)
      params->progress(step / 4.0, "model.safetensors", params->progress_data);
    g_usleep(5000);
  }
  model = g_new0(ivl_model, 1);
  model->dir = g_strdup(dir);
  model->precision = params->precision;
  model->n_gpus = params->backend == IVL_BACKEND_CPU ? 0 : fake_ivl_n_gpus;
  return model;
}

void ivl_model_free(ivl_model *model)
{
  if (model == NULL)
    return;
  g_free(model->dir);
  g_free(model);
}

const char *ivl_model_get_backend_name(const ivl_model *model)
{
  return model->n_gpus > 0 ? "cuda" : "cpu";
}

int ivl_model_get_n_gpus(const ivl_model *model)
{
  return model->n_gpus;
}

ivl_precision ivl_model_get_precision(const ivl_model *model)
{
  return model->precision;
}

/* InternVL's dynamic_preprocess: the grid whose aspect ratio is closest to the image's. */
static void choose_grid(int w, int h, const ivl_image_params *p, int *cols, int *rows)
{
  double ar = (double)w / h, best = INFINITY;

  *cols = *rows = 1;
  for (int n = p->min_num; n <= p->max_num; n++)
    for (int i = 1; i <= n; i++) {
      int j = n / i;
      if (i * j != n)
        continue;
      double diff = fabs(ar - (double)i / j);
      if (diff < best) {
        best = diff;
        *cols = i, *rows = j;
      } else if (diff == best && (double)w * h > 0.5 * TILE * TILE * i * j) {
        *cols = i, *rows = j;
      }
    }
}

static char *file_id(const char *path, GError **error)
{
  g_autofree char *data = NULL;
  gsize len;

  if (!g_file_get_contents(path, &data, &len, error))
    return NULL;
  return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
}

ivl_media *ivl_media_from_image_file(const char *path, const ivl_image_params *params,
                                     GError **error)
{
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file(path, NULL);
  ivl_media *m;

  if (pixbuf == NULL) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "not a readable image");
    return NULL;
  }
  m = g_new0(ivl_media, 1);
  choose_grid(gdk_pixbuf_get_width(pixbuf), gdk_pixbuf_get_height(pixbuf), params, &m->cols,
              &m->rows);
  m->n_tiles = m->cols * m->rows + (m->cols * m->rows > 1 && params->use_thumbnail);
  m->id = file_id(path, NULL);
  return m;
}

ivl_media *ivl_media_from_video_file(const char *path, const ivl_video_params *params,
                                     GError **error)
{
  static const guchar webm[4] = {0x1a, 0x45, 0xdf, 0xa3};
  g_autofree char *data = NULL;
  gsize len = 0;
  ivl_media *m;
  const size_t plane = TILE * TILE;

  if (!g_file_get_contents(path, &data, &len, NULL) || len < 12 ||
      (memcmp(data, webm, 4) != 0 && memcmp(data + 4, "ftyp", 4) != 0)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "no video stream found");
    return NULL;
  }
  m = g_new0(ivl_media, 1);
  m->video = TRUE;
  m->cols = m->rows = 1;
  m->n_tiles = params->n_segments;
  m->tiles = g_new(float, (size_t)m->n_tiles * 3 * plane);
  /* Frames fade from blue to orange, so a strip of them is visibly in order. */
  for (int f = 0; f < m->n_tiles; f++) {
    float t = m->n_tiles > 1 ? (float)f / (m->n_tiles - 1) : 0;
    float rgb[3] = {0.2f + 0.7f * t, 0.4f, 0.9f - 0.7f * t};
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    for (int c = 0; c < 3; c++)
      for (size_t i = 0; i < plane; i++)
        m->tiles[((size_t)f * 3 + c) * plane + i] = (rgb[c] - mean[c]) / std[c];
  }
  m->id = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
  return m;
}

void ivl_media_free(ivl_media *media)
{
  if (media == NULL)
    return;
  g_free(media->tiles);
  g_free(media->rgb);
  g_free(media->id);
  g_free(media);
}

gboolean ivl_media_is_video(const ivl_media *media)
{
  return media->video;
}

int ivl_media_get_n_tiles(const ivl_media *media)
{
  return media->n_tiles;
}

void ivl_media_get_grid(const ivl_media *media, int *cols, int *rows)
{
  *cols = media->cols;
  *rows = media->rows;
}

const float *ivl_media_get_tile(const ivl_media *media, int i)
{
  return media->tiles ? media->tiles + (size_t)i * 3 * TILE * TILE : NULL;
}

/* The remote client sends a clip's frames as pictures. */
const guint8 *ivl_media_get_tile_rgb(const ivl_media *media, int i)
{
  static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  const size_t plane = (size_t)TILE * TILE;
  ivl_media *m = (ivl_media *)media;

  if (m->tiles == NULL || i < 0 || i >= m->n_tiles)
    return NULL;
  if (m->rgb == NULL) {
    m->rgb = g_malloc((size_t)m->n_tiles * 3 * plane);
    for (int f = 0; f < m->n_tiles; f++)
      for (int c = 0; c < 3; c++)
        for (size_t p = 0; p < plane; p++) {
          float v = (m->tiles[((size_t)f * 3 + c) * plane + p] * std[c] + mean[c]) * 255.0f;
          m->rgb[((size_t)f * plane + p) * 3 + c] = (guint8)CLAMP(v + 0.5f, 0.0f, 255.0f);
        }
  }
  return m->rgb + (size_t)i * 3 * plane;
}

const char *ivl_media_get_id(const ivl_media *media)
{
  return media->id;
}

gboolean ivl_model_encode_ahead(ivl_model *model, ivl_media *media, GCancellable *cancellable,
                                GError **error)
{
  const char *delay = g_getenv("IVL_FAKE_ENCODE_US");
  gulong us = delay ? strtoul(delay, NULL, 10) : 0;

  (void)model;
  g_atomic_int_inc(&fake_ivl_encodes_started);
  for (gulong waited = 0;; waited += 10000) {
    if (g_cancellable_is_cancelled(cancellable)) {
      g_atomic_int_inc(&fake_ivl_encodes_cancelled);
      g_set_error(error, IVL_ERROR, IVL_ERROR_CANCELLED, "cancelled");
      return FALSE;
    }
    if (waited >= us)
      break;
    g_usleep(10000);
  }
  if (fake_ahead == NULL)
    fake_ahead = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  if (media->id)
    g_hash_table_add(fake_ahead, g_strdup(media->id));
  g_atomic_int_inc(&fake_ivl_encodes_done);
  return TRUE;
}

void ivl_model_forget_encoded(ivl_model *model, ivl_media *media)
{
  (void)model;
  if (fake_ahead && media->id && g_hash_table_remove(fake_ahead, media->id))
    g_atomic_int_inc(&fake_ivl_encodes_forgotten);
}

ivl_session *ivl_session_new(ivl_model *model, const char *system_message, GError **error)
{
  ivl_session *s = g_new0(ivl_session, 1);

  (void)error;
  s->model = model;
  s->system_message = g_strdup(system_message);
  return s;
}

void ivl_session_free(ivl_session *session)
{
  if (session == NULL)
    return;
  g_free(session->system_message);
  g_free(session);
}

void ivl_session_reset(ivl_session *session)
{
  session->turns = 0;
}

gboolean ivl_session_add_turn(ivl_session *session, const char *question, ivl_media *const *media,
                              int n_media, ivl_image_layout layout, const char *answer,
                              GError **error)
{
  (void)question, (void)media, (void)n_media, (void)layout, (void)answer, (void)error;
  session->turns++;
  fake_ivl_turns_added++;
  return TRUE;
}

void ivl_session_truncate(ivl_session *session, int n_turns)
{
  session->turns = MIN(session->turns, n_turns);
}

/* The scripted answer to question, as words. */
static char **answer_words(ivl_session *session, const char *question, int n_media,
                           ivl_image_layout layout, const ivl_generation_params *params)
{
  const char *ref = strstr(question, "<ref>");
  const char *ref_end = ref ? strstr(ref, "</ref>") : NULL;
  /* A grounding question gets InternVL's grounding answer: two boxes for what it names on
   * the first image, one for "a cloud" on the second when there is one. */
  g_autofree char *thing = ref_end ? g_strndup(ref + 5, ref_end - ref - 5) : NULL;
  g_autofree char *text =
      thing ? g_strdup_printf(
                  "Image-1: <ref>%s</ref><box>[[100, 200, 400, 800], [600, 100, 900, 500]]</box>%s",
                  thing,
                  n_media > 1 ? " Image-2: <ref>a cloud</ref><box>[[0, 0, 500, 500]]</box>" : "")
            : g_strdup_printf("**Turn %d** (history: %d turns) about “%s” with %d media, %s%s.\n\n"
                              "- the picture is *clear*\n- see `tile 1` and [the "
                              "guide](https://internvl.github.io/)\n\n"
                              "| Part | Tiles |\n|:--|--:|\n| wide | 2 |\n| photo_small | 1 |\n\n"
                              "```python\nprint(\"hello\")\n```\nDone.%s%s",
                              session->turns + 1, session->turns, question, n_media,
                              layout == IVL_IMAGES_COMBINED ? "combined" : "separate",
                              params->do_sample ? ", sampled" : "",
                              session->system_message ? " System: " : "",
                              session->system_message ? session->system_message : "");
  return g_strsplit(text, " ", -1);
}

static gulong token_us(void)
{
  const char *delay = g_getenv("IVL_FAKE_TOKEN_US");

  return delay ? strtoul(delay, NULL, 10) : 2000;
}

/* The stats of an ask's media: its tiles, and those encoded ahead that it takes. */
static void count_media(ivl_session *session, ivl_media *const *media, int n_media)
{
  memset(&session->stats, 0, sizeof session->stats);
  for (int k = 0; k < n_media; k++) {
    session->stats.n_image_tiles += media[k]->n_tiles;
    if (fake_ahead && media[k]->id && g_hash_table_remove(fake_ahead, media[k]->id)) {
      session->stats.n_cached_tiles += media[k]->n_tiles;
      g_atomic_int_inc(&fake_ivl_encodes_taken);
    }
  }
}

/* A word is a token here; the times are made up but plausible. */
static void set_times(ivl_session *session, int n_generated)
{
  session->stats.n_generated = n_generated;
  session->stats.first_token_ms = 120;
  session->stats.decode_ms = 50.0 * (n_generated > 1 ? n_generated - 1 : 0);
}

char *ivl_session_ask(ivl_session *session, const char *question, ivl_media *const *media,
                      int n_media, ivl_image_layout layout, const ivl_generation_params *params,
                      ivl_token_cb callback, void *user_data, GCancellable *cancellable,
                      GError **error)
{
  /* A question that asks for it fails, as a backend error would. */
  if (g_str_has_prefix(question, "[fail]")) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_BACKEND, "the compute device failed");
    return NULL;
  }
  gulong us = token_us();
  g_auto(GStrv) words = answer_words(session, question, n_media, layout, params);
  GString *answer = g_string_new(NULL);
  int i = 0;

  count_media(session, media, n_media);
  /* As the engine does: a callback that says stop ends the answer, which is kept. */
  for (; words[i] && i < params->max_new_tokens; i++) {
    g_autofree char *piece = g_strconcat(i ? " " : "", words[i], NULL);
    g_usleep(us);
    g_string_append(answer, piece);
    if (!callback(piece, i, user_data) || g_cancellable_is_cancelled(cancellable)) {
      i++;
      break;
    }
  }
  set_times(session, i);
  session->turns++;
  return g_string_free(answer, FALSE);
}

/* ---- batches: a word of every ask per step, one token delay per step ------------------- */

int fake_ivl_batch_most_asks; /* the most asks a batch held at once, for the tests */

typedef struct {
  ivl_session *session;
  char **words;
  int next, max_new_tokens;
  GString *answer;
  ivl_token_cb callback;
  ivl_batch_done_cb done;
  void *user_data;
  GCancellable *cancellable;
} fake_ask;

struct ivl_batch {
  GPtrArray *asks;
};

static void fake_ask_free(fake_ask *a)
{
  g_strfreev(a->words);
  g_string_free(a->answer, TRUE);
  g_clear_object(&a->cancellable);
  g_free(a);
}

ivl_batch *ivl_batch_new(ivl_model *model, guint64 kv_budget, GError **error)
{
  ivl_batch *b = g_new0(ivl_batch, 1);

  (void)model, (void)kv_budget, (void)error;
  b->asks = g_ptr_array_new_with_free_func((GDestroyNotify)fake_ask_free);
  return b;
}

void ivl_batch_set_model_cache(ivl_batch *batch, gboolean use)
{
  (void)batch, (void)use;
}

void ivl_batch_free(ivl_batch *batch)
{
  if (batch == NULL)
    return;
  g_ptr_array_unref(batch->asks);
  g_free(batch);
}

gboolean ivl_batch_add(ivl_batch *batch, ivl_session *session, const char *question,
                       ivl_media *const *media, int n_media, ivl_image_layout layout,
                       const ivl_generation_params *params, ivl_token_cb callback,
                       ivl_batch_done_cb done, void *user_data, GCancellable *cancellable,
                       GError **error)
{
  fake_ask *a;

  const char *kv_asks = g_getenv("IVL_FAKE_KV_ASKS");

  if (g_str_has_prefix(question, "[fail]")) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_BACKEND, "the compute device failed");
    return FALSE;
  }
  if (kv_asks && batch->asks->len >= strtoul(kv_asks, NULL, 10)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY, "this question's KV cache does not fit");
    return FALSE;
  }
  a = g_new0(fake_ask, 1);
  a->session = session;
  a->words = answer_words(session, question, n_media, layout, params);
  a->max_new_tokens = params->max_new_tokens;
  a->answer = g_string_new(NULL);
  a->callback = callback;
  a->done = done;
  a->user_data = user_data;
  a->cancellable = cancellable ? g_object_ref(cancellable) : NULL;
  count_media(session, media, n_media);
  g_ptr_array_add(batch->asks, a);
  fake_ivl_batch_most_asks = MAX(fake_ivl_batch_most_asks, (int)batch->asks->len);
  return TRUE;
}

void ivl_batch_remove(ivl_batch *batch, ivl_session *session)
{
  for (guint i = 0; i < batch->asks->len; i++)
    if (((fake_ask *)batch->asks->pdata[i])->session == session) {
      g_ptr_array_remove_index(batch->asks, i);
      return;
    }
}

/* Out of the batch, then done: with the answer (a turn of the session) or the error. */
static void end_ask(ivl_batch *batch, fake_ask *a, const GError *error)
{
  guint i;

  if (g_ptr_array_find(batch->asks, a, &i))
    g_ptr_array_steal_index(batch->asks, i);
  if (error == NULL) {
    set_times(a->session, a->next);
    a->session->turns++;
  }
  if (a->done)
    a->done(a->session, error ? NULL : a->answer->str, error, a->user_data);
  fake_ask_free(a);
}

gboolean ivl_batch_step(ivl_batch *batch, GError **error)
{
  g_autoptr(GPtrArray) asks = g_ptr_array_copy(batch->asks, NULL, NULL);

  (void)error;
  g_ptr_array_set_free_func(asks, NULL); /* the copy would free them too */
  if (asks->len == 0)
    return TRUE;
  g_usleep(token_us());
  for (guint i = 0; i < asks->len; i++) {
    fake_ask *a = asks->pdata[i];
    g_autoptr(GError) cancelled = NULL;
    if (g_cancellable_set_error_if_cancelled(a->cancellable, &cancelled)) {
      g_clear_error(&cancelled);
      g_set_error_literal(&cancelled, IVL_ERROR, IVL_ERROR_CANCELLED, "cancelled");
      end_ask(batch, a, cancelled);
      continue;
    }
    g_autofree char *piece = g_strconcat(a->next ? " " : "", a->words[a->next], NULL);
    g_string_append(a->answer, piece);
    a->next++;
    /* As the engine does: a callback that says stop ends the answer, which is kept. */
    if (!a->callback(piece, a->next - 1, a->user_data) || !a->words[a->next] ||
        a->next >= a->max_new_tokens)
      end_ask(batch, a, NULL);
  }
  return TRUE;
}

int ivl_batch_get_n_asks(const ivl_batch *batch)
{
  return (int)batch->asks->len;
}

int ivl_batch_get_room(const ivl_batch *batch, int n_tokens)
{
  (void)batch, (void)n_tokens;
  return G_MAXINT;
}

void ivl_session_get_stats(const ivl_session *session, ivl_generation_stats *stats)
{
  *stats = session->stats;
}
