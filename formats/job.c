/*
 * job: one JSONL input line -> the request to send (see job.h).
 *
 * The line is parsed with jansson into a tree that this module owns only for
 * the duration of job_parse; what survives is copied into the job (custom_id,
 * model, the compact body text), so the job owns plain malloc'd strings and
 * no jansson object.  Key order of the body is kept as written (jansson keeps
 * insertion order); keys we add (model, max_tokens) go after the user's.
 */
#include "job.h"
#include "job_int.h"
#include "canon.h"
#include "sha256.h"
#include "hash.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

static const char job_supported[] =
    "/v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses, /v1/messages";

static const struct {
    const char *name;      /* url without the "/v1/" prefix */
    endpoint_t  ep;
    const char *path;
} job_endpoints[] = {
    { "chat/completions", EP_CHAT,        "/v1/chat/completions" },
    { "completions",      EP_COMPLETIONS, "/v1/completions" },
    { "embeddings",       EP_EMBEDDINGS,  "/v1/embeddings" },
    { "responses",        EP_RESPONSES,   "/v1/responses" },
    { "messages",         EP_MESSAGES,    "/v1/messages" },
};

/* Content part types that are not text (images, audio, files). */
static const char *const job_nontext_types[] = {
    "image_url", "image", "input_image", "input_audio", "audio",
    "file", "input_file", "document",
};

const char *job_endpoint_path(const char *url, endpoint_t *ep)
{
    const char *s = url;
    size_t i;

    if (!url)
        return NULL;
    if (strncmp(s, "/v1/", 4) == 0)
        s += 4;
    else if (strncmp(s, "v1/", 3) == 0)
        s += 3;
    else if (s[0] == '/')
        s += 1;
    else
        return NULL;
    for (i = 0; i < sizeof job_endpoints / sizeof job_endpoints[0]; i++) {
        if (strcmp(s, job_endpoints[i].name) == 0) {
            if (ep)
                *ep = job_endpoints[i].ep;
            return job_endpoints[i].path;
        }
    }
    return NULL;
}

static const char *job_path_of(endpoint_t ep)
{
    size_t i;

    for (i = 0; i < sizeof job_endpoints / sizeof job_endpoints[0]; i++)
        if (job_endpoints[i].ep == ep)
            return job_endpoints[i].path;
    return NULL;
}

const char *dialect_name(dialect_t d)
{
    return d == DIALECT_ANTHROPIC ? "anthropic" : "openai";
}

void job_release(job_t *j)
{
    if (!j)
        return;
    free(j->custom_id);
    free(j->body);
    free(j->model);
    memset(j, 0, sizeof *j);
}

/* Copies a user string for an error message: at most 120 bytes, control
 * characters shown as '?', so the message stays on one line. */
static void job_show(const char *s, char *out, size_t outlen)
{
    size_t i, n = 0, max = 120;

    if (outlen == 0)
        return;
    for (i = 0; s[i] && n + 1 < outlen; i++) {
        if (i == max) {
            if (n + 4 < outlen) {
                memcpy(out + n, "...", 3);
                n += 3;
            }
            break;
        }
        out[n++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    }
    out[n] = '\0';
}

static int job_check_id(const json_t *v, char *err, size_t errlen)
{
    const char *s;
    size_t n, i;

    if (!json_is_string(v)) {
        snprintf(err, errlen, "\"custom_id\" must be a string");
        return -1;
    }
    s = json_string_value(v);
    n = json_string_length(v);
    if (n == 0) {
        snprintf(err, errlen, "\"custom_id\" is empty");
        return -1;
    }
    if (n > JOB_MAX_ID) {
        snprintf(err, errlen, "\"custom_id\" is longer than %d bytes", JOB_MAX_ID);
        return -1;
    }
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            snprintf(err, errlen, "\"custom_id\" contains a control character");
            return -1;
        }
    }
    return 0;
}

static int job_is_nontext(const json_t *obj)
{
    const char *t = json_string_value(json_object_get(obj, "type"));
    size_t i;

    if (!t)
        return 0;
    for (i = 0; i < sizeof job_nontext_types / sizeof job_nontext_types[0]; i++)
        if (strcmp(t, job_nontext_types[i]) == 0)
            return 1;
    return 0;
}

/*
 * Walks a prompt field: string values add their byte length to *text,
 * integers (token arrays, when `tokens`) add 4; objects whose "type" is a
 * non-text part are counted in *nontext and not descended into, so base64
 * payloads do not count as text.  jansson limits nesting depth, which bounds
 * the recursion.
 */
static void job_walk(const json_t *v, int tokens, uint64_t *text, uint32_t *nontext)
{
    const char *key;
    json_t *val;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_STRING:
        *text += json_string_length(v);
        break;
    case JSON_INTEGER:
        if (tokens)
            *text += 4;
        break;
    case JSON_ARRAY:
        json_array_foreach(v, i, val)
            job_walk(val, tokens, text, nontext);
        break;
    case JSON_OBJECT:
        if (job_is_nontext(v)) {
            if (*nontext < UINT32_MAX)
                (*nontext)++;
            break;
        }
        json_object_foreach((json_t *)v, key, val)
            job_walk(val, tokens, text, nontext);
        break;
    default:
        break;
    }
}

/* An optional positive integer field: 0 absent (or null), 1 set, -1 error. */
static int job_pos_int(const json_t *body, const char *key, uint64_t *out,
                       char *err, size_t errlen)
{
    const json_t *v = json_object_get(body, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        snprintf(err, errlen, "\"%s\" must be a positive integer", key);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int job_has_key(const json_t *body, const char *key)
{
    const json_t *v = json_object_get(body, key);
    return v && !json_is_null(v);
}


/* Turns {"prompt":"..", other..} into {"model":M,"messages":[user prompt],
 * other..}.  Returns a new reference or NULL (out of memory). */
static json_t *job_prompt_to_chat(json_t *body, json_t *model)
{
    json_t *nb = json_object(), *msgs = json_array(), *msg = json_object();
    json_t *val;
    const char *key;

    if (!nb || !msgs || !msg)
        goto err;
    if (json_object_set_new(msg, "role", json_string("user")) < 0)
        goto err;
    if (json_object_set(msg, "content", json_object_get(body, "prompt")) < 0)
        goto err;
    if (json_array_append_new(msgs, msg) < 0) {
        msg = NULL;
        goto err;
    }
    msg = NULL;
    if (json_object_set(nb, "model", model) < 0)
        goto err;
    if (json_object_set_new(nb, "messages", msgs) < 0) {
        msgs = NULL;
        goto err;
    }
    msgs = NULL;
    json_object_foreach(body, key, val) {
        if (strcmp(key, "prompt") == 0 || strcmp(key, "model") == 0)
            continue;
        if (json_object_set(nb, key, val) < 0)
            goto err;
    }
    return nb;

err:
    json_decref(msg);
    json_decref(msgs);
    json_decref(nb);
    return NULL;
}

/* JOB_RAW_KEY: a fast 128-bit index of dialect, path and body bytes
 * (hash.h); the runner compares bodies before it trusts it. */
void job_raw_key(job_t *out)
{
    hash_body128(dialect_name(out->dialect), (unsigned)out->endpoint, out->body,
                 out->body_len, out->key);
    out->has_key = 1;
}

int job_parse(const char *line, size_t len, uint64_t lineno,
              const job_defaults_t *defs, job_t *out, char *err, size_t errlen)
{
    json_t *root = NULL, *body = NULL, *v, *url, *params, *model;
    json_t *idv = NULL, *own_id = NULL;
    json_error_t jerr;
    uint64_t ordinal = out->ordinal, mo = 0, tmp;
    int shape = 3, rc = -1, r1, r2, r3, anth_fill = 0;
    char show[160];
    const char *mkey;

    memset(out, 0, sizeof *out);
    out->ordinal = ordinal;
    out->lineno = lineno;
    out->n = 1;
    if (errlen > 0)
        err[0] = '\0';

    if (defs && (defs->flags & JOB_FAST) && !(defs->flags & JOB_WANT_KEY)) {
        int f = job_parse_fast(line, len, defs, out);
        if (f == 1)
            return 0;
        job_release(out);
        memset(out, 0, sizeof *out);
        out->ordinal = ordinal;
        out->lineno = lineno;
        out->n = 1;
        if (f < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    /* DECODE_ANY so that "[1]" or "42" get the clearer message below */
    root = json_loadb(line, len, JSON_DECODE_ANY, &jerr);
    if (!root) {
        job_show(jerr.text, show, sizeof show);
        snprintf(err, errlen, "invalid JSON: %s (column %d)", show, jerr.column);
        goto out;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }

    url = json_object_get(root, "url");
    params = json_object_get(root, "params");
    if (url || json_object_get(root, "body"))
        shape = 1;
    else if (params)
        shape = 2;
    else
        shape = 3;

    if (shape != 3) {
        idv = json_object_get(root, "custom_id");
        if (!idv) {
            snprintf(err, errlen, "missing \"custom_id\"");
            goto out;
        }
        if (job_check_id(idv, err, errlen) < 0)
            goto out;
    }

    if (shape == 1) {
        v = json_object_get(root, "method");
        if (v && !(json_is_string(v) && strcmp(json_string_value(v), "POST") == 0)) {
            snprintf(err, errlen, "method must be POST");
            goto out;
        }
        if (!url) {
            snprintf(err, errlen, "missing \"url\"");
            goto out;
        }
        if (!json_is_string(url)) {
            snprintf(err, errlen, "\"url\" must be a string");
            goto out;
        }
        out->path = job_endpoint_path(json_string_value(url), &out->endpoint);
        if (!out->path) {
            job_show(json_string_value(url), show, sizeof show);
            snprintf(err, errlen, "unsupported url \"%s\" (supported: %s)", show, job_supported);
            goto out;
        }
        body = json_object_get(root, "body");
        if (!body) {
            snprintf(err, errlen, "missing \"body\"");
            goto out;
        }
        if (!json_is_object(body)) {
            snprintf(err, errlen, "\"body\" must be an object");
            goto out;
        }
        json_incref(body);
        out->dialect = out->endpoint == EP_MESSAGES ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
        anth_fill = out->dialect == DIALECT_ANTHROPIC;
    } else if (shape == 2) {
        if (!json_is_object(params)) {
            snprintf(err, errlen, "\"params\" must be an object");
            goto out;
        }
        body = json_incref(params);
        out->dialect = DIALECT_ANTHROPIC;
        out->endpoint = EP_MESSAGES;
        out->path = "/v1/messages";
        anth_fill = 1;
    } else {
        body = json_incref(root);
        idv = json_object_get(body, "custom_id");
        if (idv) {
            if (job_check_id(idv, err, errlen) < 0)
                goto out;
            own_id = json_incref(idv);
            json_object_del(body, "custom_id");
        }
    }

    /* model: from the body, else the default */
    model = json_object_get(body, "model");
    if (!model || json_is_null(model)) {
        if (!defs || !defs->model || !defs->model[0]) {
            snprintf(err, errlen, "no model: set \"model\" or pass --model");
            goto out;
        }
        model = json_string(defs->model);
        if (!model) {
            snprintf(err, errlen, "--model is not valid UTF-8");
            goto out;
        }
        if (json_object_set_new(body, "model", model) < 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    } else if (!json_is_string(model)) {
        snprintf(err, errlen, "\"model\" must be a string");
        goto out;
    } else if (json_string_length(model) == 0) {
        snprintf(err, errlen, "\"model\" is empty");
        goto out;
    }

    if (shape == 3) {
        const char *m = json_string_value(model);
        int has_msgs = job_has_key(body, "messages");
        int has_input = job_has_key(body, "input");
        json_t *prompt = json_object_get(body, "prompt");

        if (defs && defs->dialect >= 0)
            out->dialect = defs->dialect == DIALECT_ANTHROPIC ? DIALECT_ANTHROPIC
                                                               : DIALECT_OPENAI;
        else
            out->dialect = strncmp(m, "claude", 6) == 0 ? DIALECT_ANTHROPIC
                                                         : DIALECT_OPENAI;
        if (has_msgs) {
            out->endpoint = out->dialect == DIALECT_ANTHROPIC ? EP_MESSAGES : EP_CHAT;
        } else if (has_input) {
            if (out->dialect == DIALECT_ANTHROPIC) {
                snprintf(err, errlen,
                         "Anthropic requests take \"messages\", not \"input\"");
                goto out;
            }
            out->endpoint = strstr(m, "embedding") ? EP_EMBEDDINGS : EP_RESPONSES;
        } else if (prompt && !json_is_null(prompt)) {
            json_t *nb;

            if (!json_is_string(prompt)) {
                snprintf(err, errlen, "\"prompt\" must be a string");
                goto out;
            }
            nb = job_prompt_to_chat(body, model);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            json_decref(body);
            body = nb;
            out->endpoint = out->dialect == DIALECT_ANTHROPIC ? EP_MESSAGES : EP_CHAT;
        } else {
            snprintf(err, errlen, "line needs \"messages\", \"input\" or \"prompt\"");
            goto out;
        }
        out->path = job_path_of(out->endpoint);
        /* default max_tokens for bare lines (not embeddings) */
        if (defs && defs->max_tokens > 0 && out->endpoint != EP_EMBEDDINGS &&
            out->dialect != DIALECT_ANTHROPIC &&
            !job_has_key(body, "max_tokens") &&
            !job_has_key(body, "max_completion_tokens") &&
            !job_has_key(body, "max_output_tokens")) {
            mkey = out->endpoint == EP_RESPONSES ? "max_output_tokens" : "max_tokens";
            if (json_object_set_new(body, mkey,
                                    json_integer((json_int_t)defs->max_tokens)) < 0) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
        }
        anth_fill = out->dialect == DIALECT_ANTHROPIC;
    }

    /* Anthropic requires max_tokens: fill from the default, else refuse. */
    if (anth_fill) {
        if (!job_has_key(body, "max_tokens") && defs && defs->max_tokens > 0 &&
            json_object_set_new(body, "max_tokens",
                                json_integer((json_int_t)defs->max_tokens)) < 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        if (!job_has_key(body, "max_tokens")) {
            snprintf(err, errlen, "Anthropic requests need max_tokens "
                     "(set it in params or pass --max-tokens)");
            goto out;
        }
    }

    /* max_output: max_completion_tokens, then max_tokens, then max_output_tokens */
    tmp = 0;
    r1 = job_pos_int(body, "max_completion_tokens", &tmp, err, errlen);
    if (r1 < 0)
        goto out;
    if (r1 > 0)
        mo = tmp;
    r2 = job_pos_int(body, "max_tokens", &tmp, err, errlen);
    if (r2 < 0)
        goto out;
    if (r2 > 0 && !mo)
        mo = tmp;
    r3 = job_pos_int(body, "max_output_tokens", &tmp, err, errlen);
    if (r3 < 0)
        goto out;
    if (r3 > 0 && !mo)
        mo = tmp;
    out->max_output = mo;

    v = json_object_get(body, "n");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > (json_int_t)UINT32_MAX) {
            snprintf(err, errlen, "\"n\" must be an integer >= 1");
            goto out;
        }
        if (out->dialect == DIALECT_OPENAI)
            out->n = (uint32_t)json_integer_value(v);
    }
    /* completions' best_of generates (and bills) best_of completions */
    v = json_object_get(body, "best_of");
    if (json_is_integer(v) && out->dialect == DIALECT_OPENAI &&
        json_integer_value(v) > (json_int_t)out->n &&
        json_integer_value(v) <= (json_int_t)UINT32_MAX)
        out->n = (uint32_t)json_integer_value(v);
    /* responses that pull stored context bring input the body does not show */
    if (out->endpoint == EP_RESPONSES &&
        (job_has_key(body, "previous_response_id") || job_has_key(body, "conversation") ||
         json_is_object(json_object_get(body, "prompt"))))
        out->server_context = 1;

    v = json_object_get(body, "tools");
    if (!((json_is_array(v) && json_array_size(v) > 0) ||
          (json_is_object(v) && json_object_size(v) > 0)))
        v = json_object_get(body, "functions");
    out->has_tools = (json_is_array(v) && json_array_size(v) > 0) ||
                     (json_is_object(v) && json_object_size(v) > 0);

    {
        static const char *const fields[] = {
            "messages", "prompt", "input", "system", "instructions",
        };
        size_t i;

        for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            v = json_object_get(body, fields[i]);
            if (v)
                job_walk(v, strcmp(fields[i], "input") == 0 ||
                            strcmp(fields[i], "prompt") == 0,
                         &out->text_bytes, &out->nontext_parts);
        }
    }

    model = json_object_get(body, "model");
    out->model = strdup(json_string_value(model));
    if (idv) {
        out->custom_id = strdup(json_string_value(idv));
    } else {
        char idbuf[32];

        snprintf(idbuf, sizeof idbuf, "line-%" PRIu64, lineno);
        out->custom_id = strdup(idbuf);
        out->auto_id = 1;
    }
    if (defs && (defs->flags & JOB_NO_BODY)) {
        out->body = NULL;
        out->body_len = len;
    } else {
        out->body = json_dumps(body, JSON_COMPACT |
                                     JSON_REAL_PRECISION(json_real_precision(body)));
        if (out->body)
            out->body_len = strlen(out->body);
    }
    if (!out->model || !out->custom_id ||
        (!out->body && !(defs && (defs->flags & JOB_NO_BODY)))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (defs && (defs->flags & JOB_WANT_KEY) &&
        canon_request_key(dialect_name(out->dialect), out->path, body, out->key) == 0)
        out->has_key = 1;
    else if (defs && (defs->flags & JOB_RAW_KEY) && out->body)
        job_raw_key(out);
    rc = 0;

out:
    if (rc < 0) {
        job_release(out);
        out->ordinal = ordinal;
        out->lineno = lineno;
    }
    json_decref(own_id);
    json_decref(body);
    json_decref(root);
    return rc;
}
