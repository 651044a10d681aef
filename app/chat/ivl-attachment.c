/* ivl-attachment.c — one image or video attached to a question. */
#include "ivl-config.h"

#include "ivl-attachment.h"

#include <glib/gi18n.h>
#include <math.h>

#include "json-check.h"

struct _IvlAttachment {
  GObject parent_instance;

  char *path;
  char *name; /* the file the person chose, for messages; NULL: the stored file's name */
  gboolean is_video;
  double start, end; /* seconds; end <= start means the whole video */
  int n_frames;

  int cols, rows, n_tiles; /* 0 until the worker has cut the media */
  GdkPaintable *preview;
};

G_DEFINE_FINAL_TYPE(IvlAttachment, ivl_attachment, G_TYPE_OBJECT)

enum { PROP_0, PROP_PREVIEW, PROP_N_TILES, N_PROPS };
static GParamSpec *props[N_PROPS];

static void ivl_attachment_finalize(GObject *object)
{
  IvlAttachment *self = IVL_ATTACHMENT(object);

  g_free(self->path);
  g_free(self->name);
  g_clear_object(&self->preview);
  G_OBJECT_CLASS(ivl_attachment_parent_class)->finalize(object);
}

static void ivl_attachment_get_property(GObject *object, guint id, GValue *value,
                                        GParamSpec *pspec)
{
  IvlAttachment *self = IVL_ATTACHMENT(object);

  switch (id) {
  case PROP_PREVIEW:
    g_value_set_object(value, self->preview);
    break;
  case PROP_N_TILES:
    g_value_set_int(value, self->n_tiles);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void ivl_attachment_class_init(IvlAttachmentClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->finalize = ivl_attachment_finalize;
  object_class->get_property = ivl_attachment_get_property;
  props[PROP_PREVIEW] = g_param_spec_object("preview", NULL, NULL, GDK_TYPE_PAINTABLE,
                                            G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_N_TILES] = g_param_spec_int("n-tiles", NULL, NULL, 0, G_MAXINT, 0,
                                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, props);
}

static void ivl_attachment_init(IvlAttachment *self)
{
  self->n_frames = 8;
}

IvlAttachment *ivl_attachment_new_image(const char *path)
{
  IvlAttachment *self = g_object_new(IVL_TYPE_ATTACHMENT, NULL);

  self->path = g_strdup(path);
  return self;
}

IvlAttachment *ivl_attachment_new_video(const char *path, double start, double end, int n_frames)
{
  IvlAttachment *self = ivl_attachment_new_image(path);

  self->is_video = TRUE;
  self->start = start;
  self->end = end;
  self->n_frames = MAX(n_frames, 1);
  return self;
}

/* Stored paths are kept relative to the images folder so a moved data folder still works. */
IvlAttachment *ivl_attachment_new_from_json(JsonObject *object, const char *images_dir,
                                            GError **error)
{
  const char *file = ivl_json_string_or(object, "file", NULL);

  if (file == NULL || *file == '\0' || strchr(file, '/') != NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("An attachment has no file name"));
    return NULL;
  }
  g_autofree char *path = g_build_filename(images_dir, file, NULL);
  if (ivl_json_bool_or(object, "video", FALSE))
    return ivl_attachment_new_video(
        path, ivl_json_number_or(object, "start", 0),
        ivl_json_number_or(object, "end", 0),
        (int)ivl_json_int_or(object, "frames", 8));
  return ivl_attachment_new_image(path);
}

JsonNode *ivl_attachment_to_json(IvlAttachment *self)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autofree char *file = g_path_get_basename(self->path);

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "file");
  json_builder_add_string_value(b, file);
  if (self->is_video) {
    json_builder_set_member_name(b, "video");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_set_member_name(b, "start");
    json_builder_add_double_value(b, self->start);
    json_builder_set_member_name(b, "end");
    json_builder_add_double_value(b, self->end);
    json_builder_set_member_name(b, "frames");
    json_builder_add_int_value(b, self->n_frames);
  }
  json_builder_end_object(b);
  return json_builder_get_root(b);
}

const char *ivl_attachment_get_path(IvlAttachment *self)
{
  return self->path;
}

gboolean ivl_attachment_is_video(IvlAttachment *self)
{
  return self->is_video;
}

gboolean ivl_attachment_get_bounds(IvlAttachment *self, double *start, double *end)
{
  *start = self->start;
  *end = self->end;
  return self->is_video && self->end > self->start;
}

int ivl_attachment_get_n_frames(IvlAttachment *self)
{
  return self->n_frames;
}

void ivl_attachment_set_grid(IvlAttachment *self, int cols, int rows, int n_tiles)
{
  self->cols = cols;
  self->rows = rows;
  self->n_tiles = n_tiles;
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_N_TILES]);
}

int ivl_attachment_get_n_tiles(IvlAttachment *self)
{
  return self->n_tiles;
}

char *ivl_attachment_format_time(double seconds, gboolean tenths)
{
  if (tenths) {
    int t = (int)(MAX(seconds, 0) * 10 + 0.5);
    /* TRANSLATORS: minutes, seconds and tenths of a second ("0:02.5") */
    return g_strdup_printf(C_("clip time", "%d:%02d.%d"), t / 600, t / 10 % 60, t % 10);
  }
  int t = (int)(MAX(seconds, 0) + 0.5);
  return g_strdup_printf("%d:%02d", t / 60, t % 60);
}

/* Tenths only where whole seconds would hide them (a clip of a short video). */
static gboolean needs_tenths(IvlAttachment *self)
{
  return fabs(self->start - round(self->start)) >= 0.05 ||
         fabs(self->end - round(self->end)) >= 0.05;
}

char *ivl_attachment_describe_clip(IvlAttachment *self)
{
  int n = self->n_tiles > 0 ? self->n_tiles : self->n_frames;

  if (!self->is_video)
    return NULL;
  if (self->end <= self->start)
    /* TRANSLATORS: a video sent whole: "8 frames of the whole video" */
    return g_strdup_printf(ngettext("%d frame of the whole video", "%d frames of the whole video",
                                    n),
                           n);
  g_autofree char *a = ivl_attachment_format_time(self->start, needs_tenths(self));
  g_autofree char *b = ivl_attachment_format_time(self->end, needs_tenths(self));
  return g_strdup_printf(ngettext("%d frame, %s–%s", "%d frames, %s–%s", n), n, a, b);
}

char *ivl_attachment_describe(IvlAttachment *self)
{
  if (self->n_tiles == 0)
    return NULL;
  if (self->is_video) {
    if (self->end <= self->start)
      return g_strdup_printf(ngettext("%d frame", "%d frames", self->n_tiles), self->n_tiles);
    g_autofree char *a = ivl_attachment_format_time(self->start, needs_tenths(self));
    g_autofree char *b = ivl_attachment_format_time(self->end, needs_tenths(self));
    /* TRANSLATORS: "8 frames, 0:02–0:10" */
    return g_strdup_printf(ngettext("%d frame, %s–%s", "%d frames, %s–%s", self->n_tiles),
                           self->n_tiles, a, b);
  }
  if (self->cols * self->rows <= 1)
    return g_strdup(_("Seen whole"));
  /* TRANSLATORS: a large image is cut into parts the model reads one by one */
  return g_strdup_printf(ngettext("Large image, split into %d part",
                                  "Large image, split into %d parts", self->cols * self->rows),
                         self->cols * self->rows);
}

const char *ivl_attachment_get_name(IvlAttachment *self)
{
  return self->name ? self->name : self->path;
}

void ivl_attachment_set_name(IvlAttachment *self, const char *name)
{
  g_free(self->name);
  self->name = g_path_get_basename(name);
}

GdkPaintable *ivl_attachment_get_preview(IvlAttachment *self)
{
  return self->preview;
}

void ivl_attachment_set_preview(IvlAttachment *self, GdkPaintable *preview)
{
  if (g_set_object(&self->preview, preview))
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_PREVIEW]);
}
