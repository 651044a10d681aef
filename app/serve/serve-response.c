/* serve-response.c — OpenAI response bodies (serve-response.h). */
#include "serve-response.h"

#include <json-glib/json-glib.h>
#include <string.h>

static char *to_json(JsonBuilder *b)
{
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return json_to_string(root, FALSE);
}

static void member_string(JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name(b, name);
  if (value)
    json_builder_add_string_value(b, value);
  else
    json_builder_add_null_value(b);
}

static void member_int(JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name(b, name);
  json_builder_add_int_value(b, value);
}

static void add_usage(JsonBuilder *b, const IvlServeJob *job)
{
  json_builder_set_member_name(b, "usage");
  json_builder_begin_object(b);
  member_int(b, "prompt_tokens", job->prompt_tokens);
  member_int(b, "completion_tokens", job->completion_tokens);
  member_int(b, "total_tokens", job->prompt_tokens + job->completion_tokens);
  json_builder_set_member_name(b, "prompt_tokens_details");
  json_builder_begin_object(b);
  member_int(b, "cached_tokens", job->cached_tokens);
  json_builder_end_object(b);
  json_builder_end_object(b);
}

static gboolean is_chat(const IvlServeJob *job)
{
  return job->kind == IVL_SERVE_CHAT;
}

static void begin_response(JsonBuilder *b, const IvlServeJob *job, gboolean chunk)
{
  json_builder_begin_object(b);
  member_string(b, "id", job->id);
  member_string(b, "object", !is_chat(job) ? "text_completion"
                             : chunk       ? "chat.completion.chunk"
                                           : "chat.completion");
  member_int(b, "created", job->created);
  member_string(b, "model", job->model_id);
  member_string(b, "system_fingerprint", NULL);
}

/* {"token", "logprob", "bytes"} */
static void token_logprob(JsonBuilder *b, const char *token, float logprob)
{
  member_string(b, "token", token);
  json_builder_set_member_name(b, "logprob");
  json_builder_add_double_value(b, logprob);
  json_builder_set_member_name(b, "bytes");
  json_builder_begin_array(b);
  for (const guchar *p = (const guchar *)token; *p; p++)
    json_builder_add_int_value(b, *p);
  json_builder_end_array(b);
}

/* "logprobs": {"content": [...], "refusal": null}, or null without them. */
static void add_logprobs(JsonBuilder *b, const IvlServeJob *job, GArray *logprobs)
{
  json_builder_set_member_name(b, "logprobs");
  if (!job->request->params.logprobs || !logprobs) {
    json_builder_add_null_value(b);
    return;
  }
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "content");
  json_builder_begin_array(b);
  for (guint i = 0; i < logprobs->len; i++) {
    const IvlServeLogprob *lp = &g_array_index(logprobs, IvlServeLogprob, i);
    json_builder_begin_object(b);
    token_logprob(b, lp->token, lp->logprob);
    json_builder_set_member_name(b, "top_logprobs");
    json_builder_begin_array(b);
    for (int k = 0; k < MIN(lp->n_top, job->request->params.top_logprobs); k++) {
      json_builder_begin_object(b);
      token_logprob(b, lp->top_tokens[k], lp->top_logprobs[k]);
      json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  member_string(b, "refusal", NULL);
  json_builder_end_object(b);
}

char *ivl_serve_response_whole(const IvlServeJob *job)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  begin_response(b, job, FALSE);
  json_builder_set_member_name(b, "choices");
  json_builder_begin_array(b);
  json_builder_begin_object(b);
  member_int(b, "index", 0);
  if (is_chat(job)) {
    json_builder_set_member_name(b, "message");
    json_builder_begin_object(b);
    member_string(b, "role", "assistant");
    member_string(b, "content", job->answer);
    member_string(b, "refusal", NULL);
    json_builder_end_object(b);
    add_logprobs(b, job, job->logprobs);
  } else {
    member_string(b, "text", job->answer);
    member_string(b, "logprobs", NULL);
  }
  member_string(b, "finish_reason", job->finish_reason);
  json_builder_end_object(b);
  json_builder_end_array(b);
  add_usage(b, job);
  json_builder_end_object(b);
  return to_json(b);
}

char *ivl_serve_response_chunk(const IvlServeJob *job, const char *piece, GArray *logprobs,
                               gboolean first, gboolean usage)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  begin_response(b, job, TRUE);
  json_builder_set_member_name(b, "choices");
  json_builder_begin_array(b);
  if (!usage) {
    json_builder_begin_object(b);
    member_int(b, "index", 0);
    if (is_chat(job)) {
      json_builder_set_member_name(b, "delta");
      json_builder_begin_object(b);
      if (first)
        member_string(b, "role", "assistant");
      if (piece || first)
        member_string(b, "content", piece ? piece : "");
      json_builder_end_object(b);
      add_logprobs(b, job, logprobs);
    } else {
      member_string(b, "text", piece ? piece : "");
      member_string(b, "logprobs", NULL);
    }
    member_string(b, "finish_reason", piece || first ? NULL : job->finish_reason);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  if (usage)
    add_usage(b, job);
  json_builder_end_object(b);
  return to_json(b);
}

static void model_object(JsonBuilder *b, const char *model_id)
{
  json_builder_begin_object(b);
  member_string(b, "id", model_id);
  member_string(b, "object", "model");
  member_int(b, "created", 0);
  member_string(b, "owned_by", "ivl");
  json_builder_end_object(b);
}

char *ivl_serve_response_model(const char *model_id, gboolean list)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  if (list) {
    json_builder_begin_object(b);
    member_string(b, "object", "list");
    json_builder_set_member_name(b, "data");
    json_builder_begin_array(b);
  }
  model_object(b, model_id);
  if (list) {
    json_builder_end_array(b);
    json_builder_end_object(b);
  }
  return to_json(b);
}
