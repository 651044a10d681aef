/* cmd-tokenize.c — `ivl tokenize`: text to token ids and back with a model's tokenizer. */
#include "ivl-config.h"

#include <glib.h>
#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "file-io.h"
#include "ivl.h"
#include "text-model.h"

/* Ids as a JSON array ("[1, 2]") or separated by spaces and/or commas. */
static GArray *parse_ids(char **args, GError **error)
{
  g_autofree char *joined = g_strjoinv(" ", args);
  GArray *ids = g_array_new(FALSE, FALSE, sizeof(gint32));
  g_strdelimit(joined, "[],\t\r\n", ' ');
  g_auto(GStrv) words = g_strsplit(joined, " ", -1);
  for (guint i = 0; words[i]; i++) {
    if (!*words[i])
      continue;
    gint64 v;
    if (!g_ascii_string_to_signed(words[i], 10, 0, G_MAXINT32, &v, NULL)) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT, _("'%s' is not a token id"),
                  words[i]);
      g_array_unref(ids);
      return NULL;
    }
    gint32 id = (gint32)v;
    g_array_append_val(ids, id);
  }
  return ids;
}

static int encode_or_decode(const ivl_tokenizer *tok, const char *file, gboolean decode,
                            gboolean skip_special, char **args, GError **error)
{
  if (decode) {
    g_autoptr(GArray) ids = parse_ids(args, error);
    if (!ids)
      return 2;
    gint32 n_vocab = ivl_tokenizer_get_vocab_size(tok);
    for (guint i = 0; i < ids->len; i++) {
      gint32 id = g_array_index(ids, gint32, i);
      if (id >= n_vocab) {
        g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                    _("%d is not a token id of this tokenizer (0 to %d)"), id, n_vocab - 1);
        return 1;
      }
    }
    g_autofree char *text =
        ivl_tokenizer_decode(tok, (const gint32 *)ids->data, ids->len, skip_special);
    printf("%s\n", text);
    return 0;
  }
  g_autofree char *contents = NULL;
  gsize len = 0;
  if (file) {
    /* The bound keeps the ids (4 bytes a byte at worst) within memory. */
    if (!ivl_file_read(file, (gsize)256 << 20, &contents, &len, error))
      return 1;
  } else {
    contents = g_strdup(args[0]);
    len = strlen(contents);
  }
  g_autoptr(GArray) ids = ivl_tokenizer_encode(tok, contents, (gssize)len);
  ivl_text_print_ids((const gint32 *)ids->data, ids->len);
  return 0;
}

static int run(const char *model, const char *file, gboolean decode, gboolean skip_special,
               char **args, GError **error)
{
  g_auto(ivl_text_model) m = {0};
  if (!ivl_text_model_open(&m, model, error))
    return 1;
  return encode_or_decode(m.tok, file, decode, skip_special, args, error);
}

int ivl_cmd_tokenize(int argc, char **argv)
{
  g_autofree char *model = NULL;
  g_autofree char *file = NULL;
  gboolean decode = FALSE, skip_special = FALSE;
  g_auto(GStrv) args = NULL;
  GOptionEntry entries[] = {
      {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model, N_("Model directory or name"), N_("MODEL")},
      {"file", 0, 0, G_OPTION_ARG_FILENAME, &file, N_("Encode the contents of FILE"), N_("FILE")},
      {"decode", 0, 0, G_OPTION_ARG_NONE, &decode, N_("Decode ids to text"), NULL},
      {"skip-special", 0, 0, G_OPTION_ARG_NONE, &skip_special,
       N_("With --decode: leave out special tokens"), NULL},
      {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &args, NULL, N_("TEXT | IDS…")},
      G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_summary(ctx, _("Print the token ids of TEXT as a JSON array, or with "
                                      "--decode the text of IDS (a JSON array or numbers)."));
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    fprintf(stderr, "ivl tokenize: %s\n", error->message);
    return 2;
  }
  guint n_args = args ? g_strv_length(args) : 0;
  gboolean usage_ok =
      model && (decode ? (!file && n_args > 0) : (file ? n_args == 0 : n_args == 1));
  if (!usage_ok) {
    fprintf(stderr, "%s",
            _("Usage: ivl tokenize -m MODEL [--file FILE | TEXT]\n"
              "       ivl tokenize -m MODEL --decode [--skip-special] IDS…\n"));
    return 2;
  }
  int status = run(model, file, decode, skip_special, args, &error);
  if (status != 0)
    fprintf(stderr, "ivl tokenize: %s\n", error->message);
  return status;
}
