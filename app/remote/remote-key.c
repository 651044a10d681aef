/* remote-key.c — API keys in the user's keyring through libsecret (remote-client.h). */
#include "ivl-config.h"

#include "remote-client.h"

#include <glib/gi18n.h>
#include <libsecret/secret.h>

static const SecretSchema *key_schema(void)
{
  static const SecretSchema schema = {
      .name = "org.ivl.RemoteServer",
      .flags = SECRET_SCHEMA_NONE,
      .attributes = {{"url", SECRET_SCHEMA_ATTRIBUTE_STRING}, {NULL, 0}},
  };
  return &schema;
}

gboolean ivl_remote_key_store(const char *base_url, const char *name, const char *key,
                              GCancellable *cancellable, GError **error)
{
  g_autofree char *label = g_strdup_printf(_("API key of the server %s"), name ? name : base_url);
  return secret_password_store_sync(key_schema(), SECRET_COLLECTION_DEFAULT, label, key,
                                    cancellable, error, "url", base_url, NULL);
}

char *ivl_remote_key_lookup(const char *base_url, GCancellable *cancellable, GError **error)
{
  char *secret =
      secret_password_lookup_sync(key_schema(), cancellable, error, "url", base_url, NULL);
  /* The returned string lives in non-pageable memory; the caller gets an ordinary copy. */
  char *key = g_strdup(secret);
  secret_password_free(secret);
  return key;
}

gboolean ivl_remote_key_clear(const char *base_url, GCancellable *cancellable, GError **error)
{
  g_autoptr(GError) local = NULL;
  secret_password_clear_sync(key_schema(), cancellable, &local, "url", base_url, NULL);
  if (local) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  return TRUE;
}
