/* ivl-window-search.c — finding a conversation: the search bar over the conversation list
 * keeps the conversations whose title or messages hold the words typed. */
#include "ivl-config.h"

#include "ivl-window-private.h"

#include <glib/gi18n.h>

/* Case and accents aside, as a person searching expects ("Café" finds "cafe" too). */
static char *fold(const char *text)
{
  g_autofree char *folded = g_utf8_casefold(text, -1);
  g_autofree char *plain = g_utf8_normalize(folded, -1, G_NORMALIZE_ALL);
  GString *out = g_string_sized_new(strlen(plain));

  for (const char *p = plain; *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    GUnicodeType type = g_unichar_type(c);
    if (type != G_UNICODE_NON_SPACING_MARK && type != G_UNICODE_ENCLOSING_MARK)
      g_string_append_unichar(out, c);
  }
  return g_string_free(out, FALSE);
}

static gboolean holds(const char *text, const char *query)
{
  g_autofree char *folded = fold(text);

  return strstr(folded, query) != NULL;
}

/* Every word of the query somewhere in the conversation: its title or any message. */
static gboolean conversation_matches(IvlConversation *conversation, GStrv words)
{
  GListModel *messages = ivl_conversation_get_messages(conversation);
  guint n = g_list_model_get_n_items(messages);

  for (guint w = 0; words[w]; w++) {
    /* Runs of spaces leave empty words, which match anything. */
    gboolean found = *words[w] == '\0' || holds(ivl_conversation_get_title(conversation), words[w]);
    for (guint i = 0; i < n && !found; i++) {
      g_autoptr(IvlMessage) m = g_list_model_get_item(messages, i);
      found = holds(ivl_message_get_text(m), words[w]);
    }
    if (!found)
      return FALSE;
  }
  return TRUE;
}

/* A list box bound to a model ignores filter functions: the rows that do not match are
 * hidden instead (which its placeholder and keyboard navigation take into account). */
static void filter_rows(IvlWindow *self)
{
  g_autofree char *query = fold(gtk_editable_get_text(GTK_EDITABLE(self->search_entry)));
  g_auto(GStrv) words = g_strsplit_set(g_strstrip(query), " \t\n", -1);
  GListModel *list = ivl_store_get_conversations(self->store);
  GtkListBoxRow *row;

  for (int i = 0; (row = gtk_list_box_get_row_at_index(self->conversation_list, i)); i++) {
    g_autoptr(IvlConversation) c = g_list_model_get_item(list, (guint)i);
    gtk_widget_set_visible(GTK_WIDGET(row),
                           *query == '\0' || (c && conversation_matches(c, words)));
  }
}

/* A closed search shows every conversation again. */
static void on_search_mode(IvlWindow *self)
{
  if (gtk_search_bar_get_search_mode(self->search_bar))
    return;
  gtk_editable_set_text(GTK_EDITABLE(self->search_entry), "");
  filter_rows(self);
}

void ivl_window_toggle_search(IvlWindow *self)
{
  gboolean open = !gtk_search_bar_get_search_mode(self->search_bar);

  gtk_search_bar_set_search_mode(self->search_bar, open);
  if (!open)
    return;
  /* The list is where the results are: shown even when the window is narrow. */
  adw_flap_set_reveal_flap(self->flap, TRUE);
  gtk_widget_grab_focus(GTK_WIDGET(self->search_entry));
}

void ivl_window_setup_search(IvlWindow *self)
{
  GtkWidget *none = gtk_label_new(_("No conversation matches"));

  gtk_widget_add_css_class(none, "dim-label");
  gtk_widget_set_margin_top(none, 24);
  gtk_label_set_wrap(GTK_LABEL(none), TRUE);
  gtk_list_box_set_placeholder(self->conversation_list, none);
  gtk_search_bar_connect_entry(self->search_bar, GTK_EDITABLE(self->search_entry));
  g_signal_connect_swapped(self->search_entry, "search-changed", G_CALLBACK(filter_rows), self);
  g_signal_connect_swapped(self->search_bar, "notify::search-mode-enabled",
                           G_CALLBACK(on_search_mode), self);
  /* A conversation that changed comes back as a new row, shown: the search judges it again.
   * Connected after the list box's own handler, so the rows are there. */
  g_signal_connect_swapped(ivl_store_get_conversations(self->store), "items-changed",
                           G_CALLBACK(filter_rows), self);
}
