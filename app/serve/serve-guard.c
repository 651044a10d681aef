/* serve-guard.c — Host, Origin and API key checks (serve-guard.h). */
#include "serve-guard.h"

#include <gio/gio.h>
#include <string.h>

static gboolean is_loopback_name(const char *host)
{
  return g_ascii_strcasecmp(host, "localhost") == 0 || g_str_equal(host, "127.0.0.1") ||
         g_str_equal(host, "[::1]");
}

/* "host:port" or "[v6]:port" -> the host part (with the brackets of an IPv6 literal). */
static char *host_part(const char *authority)
{
  const char *end = authority[0] == '[' ? strchr(authority, ']') : strrchr(authority, ':');
  if (authority[0] == '[')
    return end ? g_strndup(authority, (gsize)(end - authority + 1)) : g_strdup(authority);
  return end ? g_strndup(authority, (gsize)(end - authority)) : g_strdup(authority);
}

gboolean ivl_serve_host_allowed(const char *host_header, const char *bound_host)
{
  if (!host_header)
    return TRUE;
  g_autoptr(GInetAddress) bound = g_inet_address_new_from_string(bound_host);
  if (bound && g_inet_address_get_is_any(bound))
    return TRUE;
  g_autofree char *host = host_part(host_header);
  if (is_loopback_name(host))
    return TRUE;
  /* the bound address as the client writes it: an IPv6 literal in brackets */
  g_autofree char *bracketed = g_strdup_printf("[%s]", bound_host);
  return g_ascii_strcasecmp(host, bound_host) == 0 || g_ascii_strcasecmp(host, bracketed) == 0;
}

gboolean ivl_serve_origin_allowed(const char *origin, char *const *allowed)
{
  for (char *const *a = allowed; a && *a; a++)
    if (g_str_equal(*a, "*") || g_ascii_strcasecmp(*a, origin) == 0)
      return TRUE;
  const char *rest = g_str_has_prefix(origin, "http://")    ? origin + 7
                     : g_str_has_prefix(origin, "https://") ? origin + 8
                                                            : NULL;
  if (!rest || strchr(rest, '/'))
    return FALSE;
  g_autofree char *host = host_part(rest);
  return is_loopback_name(host);
}

gboolean ivl_serve_key_matches(const char *authorization, const char *key)
{
  if (!authorization || g_ascii_strncasecmp(authorization, "Bearer ", 7) != 0)
    return FALSE;
  const char *given = authorization + 7;
  gsize n = strlen(given), k = strlen(key);
  guint diff = n != k;
  for (gsize i = 0; i < k; i++)
    diff |= (guint)(guchar)key[i] ^ (guint)(guchar)given[i < n ? i : 0];
  return diff == 0;
}
