/* ivl-code-block.c — a code block of an answer: highlighted, with its language and Copy. */
#include "ivl-config.h"

#include "ivl-code-block.h"

#include <adwaita.h>
#include <glib/gi18n.h>
#include <gtksourceview/gtksource.h>
#include <string.h>

#define COPIED_MS 1500 /* how long the Copy button shows that it copied */

struct _IvlCodeBlock {
  GtkWidget parent_instance;

  /* template widgets */
  GtkLabel *language_label;
  GtkButton *copy_button;
  GtkSourceView *view;

  /* owned */
  GString *code;  /* what the buffer holds */
  char *language; /* as the fence wrote it */
  guint copied_id;
  guint resize_id;
};

G_DEFINE_FINAL_TYPE(IvlCodeBlock, ivl_code_block, GTK_TYPE_WIDGET)

/* Fences name languages loosely: "python", "Python", "py", "bash", "c++". GtkSourceView's
 * display names ("Python" is its Python 3) come first, then its ids, then file extensions;
 * the shells, which it knows only as "sh", last. */
static GtkSourceLanguage *find_language(const char *word)
{
  static const char *const shells[] = {"bash", "shell", "console", "zsh", "shellsession"};
  GtkSourceLanguageManager *lm = gtk_source_language_manager_get_default();
  const char *const *ids = gtk_source_language_manager_get_language_ids(lm);
  g_autofree char *lower = g_ascii_strdown(word, -1);
  g_autofree char *file = g_strconcat("file.", lower, NULL);
  GtkSourceLanguage *language;

  if (*word == '\0')
    return NULL;
  for (guint i = 0; ids && ids[i]; i++) {
    language = gtk_source_language_manager_get_language(lm, ids[i]);
    if (g_ascii_strcasecmp(gtk_source_language_get_name(language), word) == 0)
      return language;
  }
  if ((language = gtk_source_language_manager_get_language(lm, lower)))
    return language;
  if ((language = gtk_source_language_manager_guess_language(lm, file, NULL)))
    return language;
  for (guint i = 0; i < G_N_ELEMENTS(shells); i++)
    if (strcmp(lower, shells[i]) == 0)
      return gtk_source_language_manager_get_language(lm, "sh");
  return NULL;
}

/* A language compiles its definitions (the .lang file's contexts and regular expressions) for
 * the buffers that use it and drops them with the last one, so every block made as a
 * conversation is shown or scrolled compiled them again: about 40 ms a block. An idle buffer
 * kept with the language, for the life of the process as the language itself, holds them. */
static GtkSourceLanguage *keep_compiled(GtkSourceLanguage *language)
{
  if (language && !g_object_get_data(G_OBJECT(language), "ivl-compiled"))
    g_object_set_data_full(G_OBJECT(language), "ivl-compiled",
                           gtk_source_buffer_new_with_language(language), g_object_unref);
  return language;
}

static GtkSourceBuffer *get_buffer(IvlCodeBlock *self)
{
  return GTK_SOURCE_BUFFER(gtk_text_view_get_buffer(GTK_TEXT_VIEW(self->view)));
}

/* Adwaita's own schemes, light or dark as the window is. */
static void follow_style(IvlCodeBlock *self)
{
  GtkSourceStyleSchemeManager *schemes = gtk_source_style_scheme_manager_get_default();
  gboolean dark = adw_style_manager_get_dark(adw_style_manager_get_default());

  gtk_source_buffer_set_style_scheme(
      get_buffer(self),
      gtk_source_style_scheme_manager_get_scheme(schemes, dark ? "Adwaita-dark" : "Adwaita"));
}

static gboolean restore_copy_button(gpointer data)
{
  IvlCodeBlock *self = data;

  self->copied_id = 0;
  gtk_button_set_icon_name(self->copy_button, "edit-copy-symbolic");
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->copy_button), _("Copy Code"));
  return G_SOURCE_REMOVE;
}

static void on_copy(IvlCodeBlock *self)
{
  gdk_clipboard_set_text(gtk_widget_get_clipboard(GTK_WIDGET(self)), self->code->str);
  gtk_button_set_icon_name(self->copy_button, "object-select-symbolic");
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->copy_button), _("Copied"));
  g_clear_handle_id(&self->copied_id, g_source_remove);
  self->copied_id = g_timeout_add(COPIED_MS, restore_copy_button, self);
}

void ivl_code_block_set_code(IvlCodeBlock *self, const char *code, const char *language)
{
  GtkTextBuffer *buffer = GTK_TEXT_BUFFER(get_buffer(self));

  if (g_strcmp0(language, self->language) != 0) {
    g_free(self->language);
    self->language = g_strdup(language);
    gtk_label_set_text(self->language_label, *language ? language : _("Code"));
    gtk_source_buffer_set_language(get_buffer(self), keep_compiled(find_language(language)));
  }
  /* While an answer streams its code only grows: the new end is highlighted, not the whole. */
  if (g_str_has_prefix(code, self->code->str)) {
    GtkTextIter end;
    gtk_text_buffer_get_end_iter(buffer, &end);
    gtk_text_buffer_insert(buffer, &end, code + self->code->len, -1);
  } else {
    gtk_text_buffer_set_text(buffer, code, -1);
  }
  g_string_assign(self->code, code);
}

void ivl_code_block_set_extra_menu(IvlCodeBlock *self, GMenuModel *menu)
{
  gtk_text_view_set_extra_menu(GTK_TEXT_VIEW(self->view), menu);
}

static gboolean resize_again(gpointer data)
{
  IvlCodeBlock *self = data;

  self->resize_id = 0;
  gtk_widget_queue_resize(GTK_WIDGET(self));
  return G_SOURCE_REMOVE;
}

/* GtkTextView 4.8 lays its text out after it is allocated, and the resize it then asks for can
 * be dropped (it asks while being allocated): the code would stay as high as before, with no
 * line at all the first time. Its vertical adjustment follows the laid-out height, so a change
 * there makes the block ask again, once the allocation is over. */
static void on_height_changed(IvlCodeBlock *self)
{
  if (self->resize_id == 0)
    self->resize_id = g_idle_add(resize_again, self);
}

static void ivl_code_block_dispose(GObject *object)
{
  IvlCodeBlock *self = IVL_CODE_BLOCK(object);

  /* Not at finalize: a disposed block, whose view is gone, may live on a while. */
  if (self->view)
    g_signal_handlers_disconnect_by_func(gtk_scrollable_get_vadjustment(GTK_SCROLLABLE(self->view)),
                                         on_height_changed, self);
  g_signal_handlers_disconnect_by_func(adw_style_manager_get_default(), follow_style, self);
  g_clear_handle_id(&self->copied_id, g_source_remove);
  g_clear_handle_id(&self->resize_id, g_source_remove);
  gtk_widget_dispose_template(GTK_WIDGET(self), IVL_TYPE_CODE_BLOCK);
  /* The template's root is a plain child of this GtkWidget: unparented here. */
  for (GtkWidget *child; (child = gtk_widget_get_first_child(GTK_WIDGET(self)));)
    gtk_widget_unparent(child);
  G_OBJECT_CLASS(ivl_code_block_parent_class)->dispose(object);
}

static void ivl_code_block_finalize(GObject *object)
{
  IvlCodeBlock *self = IVL_CODE_BLOCK(object);

  g_string_free(self->code, TRUE);
  g_free(self->language);
  G_OBJECT_CLASS(ivl_code_block_parent_class)->finalize(object);
}

static void ivl_code_block_class_init(IvlCodeBlockClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  gtk_source_init();
  g_type_ensure(GTK_SOURCE_TYPE_VIEW);
  G_OBJECT_CLASS(klass)->dispose = ivl_code_block_dispose;
  G_OBJECT_CLASS(klass)->finalize = ivl_code_block_finalize;
  gtk_widget_class_set_template_from_resource(widget_class,
                                              "/io/github/ivl/Chat/ui/ivl-code-block.ui");
  gtk_widget_class_bind_template_child(widget_class, IvlCodeBlock, language_label);
  gtk_widget_class_bind_template_child(widget_class, IvlCodeBlock, copy_button);
  gtk_widget_class_bind_template_child(widget_class, IvlCodeBlock, view);
  gtk_widget_class_bind_template_callback(widget_class, on_copy);
  gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name(widget_class, "codeblock");
}

static void ivl_code_block_init(IvlCodeBlock *self)
{
  GtkAdjustment *height = gtk_adjustment_new(0, 0, 0, 0, 0, 0);

  gtk_widget_init_template(GTK_WIDGET(self));
  self->code = g_string_new(NULL);
  gtk_scrollable_set_vadjustment(GTK_SCROLLABLE(self->view), height);
  g_signal_connect_swapped(height, "notify::upper", G_CALLBACK(on_height_changed), self);
  /* The view shows text, it is no editor: no bracket under a cursor is lit. */
  gtk_source_buffer_set_highlight_matching_brackets(get_buffer(self), FALSE);
  follow_style(self);
  g_signal_connect_swapped(adw_style_manager_get_default(), "notify::dark",
                           G_CALLBACK(follow_style), self);
}

GtkWidget *ivl_code_block_new(void)
{
  return g_object_new(IVL_TYPE_CODE_BLOCK, NULL);
}
