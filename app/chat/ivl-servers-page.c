/* ivl-servers-page.c — Preferences → Servers. */
#include "ivl-config.h"

#include "ivl-servers-page.h"

#include <glib/gi18n.h>

#include "ivl-servers.h"

/* The dialect combo's rows, in this order. */
static const char *const dialects[] = {"auto",         "openai", "vllm", "lmdeploy",
                                       "llama-server", "ivl",    NULL};

struct _IvlServersPage {
  AdwPreferencesPage parent_instance;

  GSettings *settings;
  AdwPreferencesGroup *list_group;
  GPtrArray *rows; /* the rows of list_group, one per server */
  GtkLabel *empty_label;
  AdwEntryRow *name_row;
  AdwEntryRow *url_row;
  AdwPasswordEntryRow *key_row;
  AdwComboRow *dialect_row;
  GtkButton *add_button;
  GtkLabel *add_error;
  GCancellable *cancellable; /* keyring writes and tests, cancelled when the page goes */
};

G_DEFINE_FINAL_TYPE(IvlServersPage, ivl_servers_page, ADW_TYPE_PREFERENCES_PAGE)

static void show_servers(IvlServersPage *self);

/* ---- test: the server's models, or why not --------------------------------------------- */

static void test_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(IvlRemoteClient) client = ivl_server_connect(data, cancel, &error);
  GPtrArray *models = client ? ivl_remote_client_list_models(client, cancel, &error) : NULL;

  (void)source;
  if (models == NULL) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  /* The probed dialect, for the person to see which server software answered. */
  g_object_set_data_full(G_OBJECT(task), "dialect",
                         g_strdup(ivl_remote_dialect_name(ivl_remote_client_get_dialect(client))),
                         g_free);
  g_task_return_pointer(task, models, (GDestroyNotify)g_ptr_array_unref);
}

static void on_tested(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(AdwActionRow) row = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) models = g_task_propagate_pointer(G_TASK(result), &error);
  GtkLabel *status = g_object_get_data(G_OBJECT(row), "status");
  g_autoptr(GString) text = g_string_new(NULL);

  (void)source;
  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  gtk_widget_set_sensitive(g_object_get_data(G_OBJECT(row), "test-button"), TRUE);
  if (models == NULL) {
    gtk_label_set_text(status, error->message);
    gtk_widget_add_css_class(GTK_WIDGET(status), "error");
    return;
  }
  for (guint i = 0; i < models->len; i++)
    g_string_append_printf(text, "%s%s", i ? ", " : "", ((IvlRemoteModel *)models->pdata[i])->id);
  {
    /* TRANSLATORS: a server test that worked: the server software, then its models. */
    g_autofree char *line = g_strdup_printf(
        _("Answers (%s): %s"), (char *)g_object_get_data(G_OBJECT(result), "dialect"), text->str);
    gtk_label_set_text(status, line);
  }
  gtk_widget_remove_css_class(GTK_WIDGET(status), "error");
}

static void test_server(GtkButton *button, IvlServersPage *self)
{
  GtkWidget *row = g_object_get_data(G_OBJECT(button), "row");
  const IvlServer *server = g_object_get_data(G_OBJECT(row), "server");
  GtkLabel *status = g_object_get_data(G_OBJECT(row), "status");
  GTask *task = g_task_new(NULL, self->cancellable, on_tested, g_object_ref(row));

  gtk_widget_set_sensitive(GTK_WIDGET(button), FALSE);
  gtk_label_set_text(status, _("Asking the server for its models…"));
  gtk_widget_remove_css_class(GTK_WIDGET(status), "error");
  gtk_widget_set_visible(GTK_WIDGET(status), TRUE);
  g_task_set_task_data(task, ivl_server_copy(server), (GDestroyNotify)ivl_server_free);
  g_task_run_in_thread(task, test_thread);
  g_object_unref(task);
}

/* ---- remove ------------------------------------------------------------------------------ */

static void clear_key_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
  g_autoptr(GError) error = NULL;

  (void)source;
  if (!ivl_remote_key_clear(data, cancel, &error))
    g_debug("forgetting the key of %s: %s", (char *)data, error->message);
  g_task_return_boolean(task, TRUE);
}

static void remove_server(GtkButton *button, IvlServersPage *self)
{
  GtkWidget *row = g_object_get_data(G_OBJECT(button), "row");
  const IvlServer *server = g_object_get_data(G_OBJECT(row), "server");
  g_autoptr(GPtrArray) servers = ivl_servers_read(self->settings);

  if (server->with_key) {
    GTask *task = g_task_new(NULL, NULL, NULL, NULL);
    g_task_set_task_data(task, g_strdup(server->base_url), g_free);
    g_task_run_in_thread(task, clear_key_thread);
    g_object_unref(task);
  }
  for (guint i = 0; i < servers->len; i++)
    if (g_str_equal(((IvlServer *)servers->pdata[i])->base_url, server->base_url)) {
      g_ptr_array_remove_index(servers, i);
      break;
    }
  ivl_servers_write(self->settings, servers); /* show_servers follows the key */
}

/* ---- the list ---------------------------------------------------------------------------- */

static GtkWidget *server_row(IvlServersPage *self, const IvlServer *server)
{
  GtkWidget *row = adw_action_row_new();
  GtkWidget *test = gtk_button_new_with_mnemonic(_("_Test"));
  GtkWidget *remove = gtk_button_new_from_icon_name("user-trash-symbolic");
  GtkWidget *status = gtk_label_new(NULL);
  g_autofree char *subtitle = NULL;

  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), server->name);
  /* TRANSLATORS: under a server's name: its address and the server software. */
  subtitle =
      g_strdup_printf(_("%s · %s"), server->base_url,
                      g_str_equal(server->dialect, "auto") ? _("detected") : server->dialect);
  adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
  gtk_label_set_wrap(GTK_LABEL(status), TRUE);
  gtk_label_set_xalign(GTK_LABEL(status), 0);
  gtk_label_set_selectable(GTK_LABEL(status), TRUE);
  gtk_widget_add_css_class(status, "caption");
  gtk_widget_set_visible(status, FALSE);
  gtk_widget_set_name(status, "server-status");
  gtk_widget_set_valign(test, GTK_ALIGN_CENTER);
  gtk_widget_set_valign(remove, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text(remove, _("Remove This Server"));
  gtk_widget_add_css_class(remove, "flat");
  adw_action_row_add_suffix(ADW_ACTION_ROW(row), test);
  adw_action_row_add_suffix(ADW_ACTION_ROW(row), remove);
  g_object_set_data_full(G_OBJECT(row), "server", ivl_server_copy(server),
                         (GDestroyNotify)ivl_server_free);
  g_object_set_data(G_OBJECT(row), "status", status);
  g_object_set_data(G_OBJECT(row), "test-button", test);
  g_object_set_data(G_OBJECT(test), "row", row);
  g_object_set_data(G_OBJECT(remove), "row", row);
  g_signal_connect(test, "clicked", G_CALLBACK(test_server), self);
  g_signal_connect(remove, "clicked", G_CALLBACK(remove_server), self);
  return row;
}

static void show_servers(IvlServersPage *self)
{
  g_autoptr(GPtrArray) servers = ivl_servers_read(self->settings);

  for (guint i = 0; i < self->rows->len; i++)
    adw_preferences_group_remove(self->list_group, self->rows->pdata[i]);
  g_ptr_array_set_size(self->rows, 0);
  for (guint i = 0; i < servers->len; i++) {
    GtkWidget *row = server_row(self, servers->pdata[i]);
    GtkWidget *status = g_object_get_data(G_OBJECT(row), "status");
    /* The test's answer goes under the row, as long as it needs. */
    g_ptr_array_add(self->rows, row);
    adw_preferences_group_add(self->list_group, row);
    g_ptr_array_add(self->rows, status);
    gtk_widget_set_margin_start(status, 12);
    gtk_widget_set_margin_end(status, 12);
    adw_preferences_group_add(self->list_group, status);
  }
  gtk_widget_set_visible(GTK_WIDGET(self->empty_label), servers->len == 0);
}

/* ---- add --------------------------------------------------------------------------------- */

static void store_key_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
  const IvlServer *server = data;
  const char *key = g_object_get_data(G_OBJECT(task), "key");
  GError *error = NULL;

  (void)source;
  if (ivl_remote_key_store(server->base_url, server->name, key, cancel, &error))
    g_task_return_boolean(task, TRUE);
  else
    g_task_return_error(task, error);
}

static void save_server(IvlServersPage *self, const IvlServer *server)
{
  g_autoptr(GPtrArray) servers = ivl_servers_read(self->settings);
  guint i;

  /* One entry per address: adding it again changes it. */
  for (i = 0; i < servers->len; i++)
    if (g_str_equal(((IvlServer *)servers->pdata[i])->base_url, server->base_url))
      break;
  if (i < servers->len)
    g_ptr_array_remove_index(servers, i);
  g_ptr_array_insert(servers, (gint)MIN(i, servers->len), ivl_server_copy(server));
  ivl_servers_write(self->settings, servers);
  gtk_editable_set_text(GTK_EDITABLE(self->name_row), "");
  gtk_editable_set_text(GTK_EDITABLE(self->url_row), "");
  gtk_editable_set_text(GTK_EDITABLE(self->key_row), "");
  adw_combo_row_set_selected(self->dialect_row, 0);
}

static void show_add_error(IvlServersPage *self, const char *text)
{
  gtk_label_set_text(self->add_error, text ? text : "");
  gtk_widget_set_visible(GTK_WIDGET(self->add_error), text != NULL);
}

static void on_key_stored(GObject *source, GAsyncResult *result, gpointer user_data)
{
  IvlServersPage *self = IVL_SERVERS_PAGE(source);
  g_autoptr(GError) error = NULL;

  (void)user_data;
  if (!g_task_propagate_boolean(G_TASK(result), &error)) {
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_autofree char *text =
          g_strdup_printf(_("The API key could not be kept in the keyring: %s"), error->message);
      gtk_widget_set_sensitive(GTK_WIDGET(self->add_button), TRUE);
      show_add_error(self, text);
    }
    return;
  }
  gtk_widget_set_sensitive(GTK_WIDGET(self->add_button), TRUE);
  save_server(self, g_task_get_task_data(G_TASK(result)));
}

static void add_server(IvlServersPage *self)
{
  g_autoptr(GError) error = NULL;
  const char *url = gtk_editable_get_text(GTK_EDITABLE(self->url_row));
  const char *name = gtk_editable_get_text(GTK_EDITABLE(self->name_row));
  const char *key = gtk_editable_get_text(GTK_EDITABLE(self->key_row));
  g_autoptr(IvlRemoteClient) client =
      ivl_remote_client_new(g_strstrip(g_strdup(url)), NULL, &error);
  guint dialect = adw_combo_row_get_selected(self->dialect_row);
  g_autoptr(IvlServer) server = NULL;

  if (client == NULL) {
    show_add_error(self, error->message);
    return;
  }
  show_add_error(self, NULL);
  server = g_new0(IvlServer, 1);
  server->name = g_strdup(*name ? name : ivl_remote_client_get_host(client));
  server->base_url = g_strdup(ivl_remote_client_get_base_url(client));
  server->dialect = g_strdup(dialects[MIN(dialect, G_N_ELEMENTS(dialects) - 2)]);
  server->with_key = *key != '\0';
  if (!server->with_key) {
    save_server(self, server);
    return;
  }
  /* The keyring is a D-Bus call away: the page stays responsive meanwhile. */
  gtk_widget_set_sensitive(GTK_WIDGET(self->add_button), FALSE);
  GTask *task = g_task_new(self, self->cancellable, on_key_stored, NULL);
  g_object_set_data_full(G_OBJECT(task), "key", g_strdup(key), g_free);
  g_task_set_task_data(task, g_steal_pointer(&server), (GDestroyNotify)ivl_server_free);
  g_task_run_in_thread(task, store_key_thread);
  g_object_unref(task);
}

/* ---- the page ---------------------------------------------------------------------------- */

static void ivl_servers_page_dispose(GObject *object)
{
  IvlServersPage *self = IVL_SERVERS_PAGE(object);

  if (self->cancellable)
    g_cancellable_cancel(self->cancellable);
  g_clear_object(&self->cancellable);
  if (self->settings)
    g_signal_handlers_disconnect_by_data(self->settings, self);
  g_clear_object(&self->settings);
  g_clear_pointer(&self->rows, g_ptr_array_unref);
  G_OBJECT_CLASS(ivl_servers_page_parent_class)->dispose(object);
}

static void ivl_servers_page_class_init(IvlServersPageClass *klass)
{
  G_OBJECT_CLASS(klass)->dispose = ivl_servers_page_dispose;
}

static void ivl_servers_page_init(IvlServersPage *self)
{
  g_autoptr(GtkStringList) names = gtk_string_list_new(NULL);
  AdwPreferencesGroup *add = ADW_PREFERENCES_GROUP(adw_preferences_group_new());
  GtkWidget *buttons = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);

  adw_preferences_page_set_title(ADW_PREFERENCES_PAGE(self), _("Servers"));
  adw_preferences_page_set_icon_name(ADW_PREFERENCES_PAGE(self), "network-server-symbolic");
  adw_preferences_page_set_name(ADW_PREFERENCES_PAGE(self), "servers");
  self->rows = g_ptr_array_new();
  self->cancellable = g_cancellable_new();

  self->list_group = ADW_PREFERENCES_GROUP(adw_preferences_group_new());
  adw_preferences_group_set_title(self->list_group, _("Servers"));
  adw_preferences_group_set_description(
      self->list_group,
      _("The models of these servers (vLLM, LMDeploy, llama-server, ivl serve or any "
        "OpenAI-compatible server) are offered in the model selector beside the local ones."));
  self->empty_label = GTK_LABEL(gtk_label_new(_("No servers yet")));
  gtk_widget_add_css_class(GTK_WIDGET(self->empty_label), "dim-label");
  adw_preferences_group_add(self->list_group, GTK_WIDGET(self->empty_label));
  adw_preferences_page_add(ADW_PREFERENCES_PAGE(self), self->list_group);

  adw_preferences_group_set_title(add, _("Add a Server"));
  self->name_row = ADW_ENTRY_ROW(adw_entry_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->name_row), _("Name"));
  self->url_row = ADW_ENTRY_ROW(adw_entry_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->url_row),
                                _("Address, such as http://gpu-box:8000"));
  self->key_row = ADW_PASSWORD_ENTRY_ROW(adw_password_entry_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->key_row),
                                _("API Key (kept in the keyring; may be empty)"));
  gtk_string_list_append(names, _("Detect"));
  gtk_string_list_append(names, _("OpenAI-compatible"));
  gtk_string_list_append(names, "vLLM");
  gtk_string_list_append(names, "LMDeploy");
  gtk_string_list_append(names, "llama-server");
  gtk_string_list_append(names, "ivl serve");
  self->dialect_row = ADW_COMBO_ROW(adw_combo_row_new());
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->dialect_row), _("Server Software"));
  adw_combo_row_set_model(self->dialect_row, G_LIST_MODEL(names));
  self->add_error = GTK_LABEL(gtk_label_new(NULL));
  gtk_label_set_wrap(self->add_error, TRUE);
  gtk_label_set_xalign(self->add_error, 0);
  gtk_widget_add_css_class(GTK_WIDGET(self->add_error), "error");
  gtk_widget_set_visible(GTK_WIDGET(self->add_error), FALSE);
  self->add_button = GTK_BUTTON(gtk_button_new_with_mnemonic(_("_Add Server")));
  gtk_widget_add_css_class(GTK_WIDGET(self->add_button), "suggested-action");
  gtk_widget_set_halign(buttons, GTK_ALIGN_END);
  gtk_widget_set_margin_top(buttons, 12);
  gtk_box_append(GTK_BOX(buttons), GTK_WIDGET(self->add_button));
  adw_preferences_group_add(add, GTK_WIDGET(self->name_row));
  adw_preferences_group_add(add, GTK_WIDGET(self->url_row));
  adw_preferences_group_add(add, GTK_WIDGET(self->key_row));
  adw_preferences_group_add(add, GTK_WIDGET(self->dialect_row));
  adw_preferences_group_add(add, GTK_WIDGET(self->add_error));
  adw_preferences_group_add(add, buttons);
  adw_preferences_page_add(ADW_PREFERENCES_PAGE(self), add);
  g_signal_connect_swapped(self->add_button, "clicked", G_CALLBACK(add_server), self);
  g_signal_connect_swapped(self->url_row, "entry-activated", G_CALLBACK(add_server), self);
}

GtkWidget *ivl_servers_page_new(GSettings *settings)
{
  IvlServersPage *self = g_object_new(IVL_TYPE_SERVERS_PAGE, NULL);

  self->settings = g_object_ref(settings);
  g_signal_connect_swapped(settings, "changed::servers", G_CALLBACK(show_servers), self);
  show_servers(self);
  return GTK_WIDGET(self);
}
