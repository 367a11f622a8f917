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

/* jansson's parse error in plain words: "invalid JSON: <what> (column N,
 * near '<text>')".  Known messages are translated; others shown as they are. */
static void job_json_error(const json_error_t *jerr, char *err, size_t errlen)
{
    static const struct {
        const char *jansson;     /* a prefix of jansson's text */
        const char *plain;
    } words[] = {
        { "unable to decode byte", "the text is not valid UTF-8" },
        { "control character", "a string holds a raw control character "
                               "(write it escaped, e.g. \\n or \\t)" },
        { "premature end of input", "the line ends before the JSON value does" },
        { "unexpected newline", "a string is not closed before the end of the line" },
        { "end of file expected", "there is more text after the JSON value" },
        { "too big", "a number is too large (integers must fit in 64 bits; "
                     "write it as a string or a decimal)" },
        { "real number overflow", "a number is too large" },
        { "maximum parsing depth", "the JSON is nested too deeply" },
        { "invalid Unicode", "a \\u escape is not a valid Unicode character" },
        { "invalid escape", "a string holds an invalid escape after a backslash" },
        { "NUL byte in object key", "an object key holds \\u0000, which is not supported" },
        { "'[' or '{' expected", "the line is not a JSON value" },
        { "invalid token", "a word or character that is not JSON" },
        { "unexpected token", "a value is missing" },
        { "string or '}' expected", "an object key must be a string in double quotes" },
        { "'}' expected", "an object is not closed with '}' or a ',' is missing" },
        { "']' expected", "an array is not closed with ']' or a ',' is missing" },
        { "':' expected", "a ':' is missing after an object key" },
    };
    const char *what = jerr->text, *near = strstr(jerr->text, " near ");
    char show[160], where[200];
    size_t i;

    for (i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strncmp(jerr->text, words[i].jansson, strlen(words[i].jansson)) == 0) {
            what = words[i].plain;
            break;
        }
    }
    if (what == jerr->text) {
        job_show(jerr->text, show, sizeof show);
        what = show;
        near = NULL;                  /* already in the text */
    }
    if (near && strcmp(near, " near end of file") == 0) {
        snprintf(where, sizeof where, "at the end of the line");
    } else if (near) {
        char ns[160];
        job_show(near + 6, ns, sizeof ns);
        snprintf(where, sizeof where, "column %d, near %s", jerr->column, ns);
    } else {
        snprintf(where, sizeof where, "column %d", jerr->column);
    }
    snprintf(err, errlen, "invalid JSON: %s (%s)", what, where);
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

/* The input line shapes (job.h). */
typedef enum job_shape {
    JOB_SHAPE_OPENAI_BATCH,      /* {"custom_id","method","url","body"} */
    JOB_SHAPE_ANTHROPIC_BATCH,   /* {"custom_id","params"} */
    JOB_SHAPE_BARE               /* a request body, or {"prompt":..} */
} job_shape_t;

/* What a shape function hands on: the body to send (own reference), the
 * custom_id value if any (borrowed from root, or own_id), and whether
 * Anthropic's required max_tokens must be filled. */
typedef struct job_pstate {
    json_t *root;
    json_t *body;
    json_t *idv;
    json_t *own_id;
    int     anth_fill;
} job_pstate_t;

static job_shape_t job_shape_of(const json_t *root)
{
    if (json_object_get(root, "url") || json_object_get(root, "body"))
        return JOB_SHAPE_OPENAI_BATCH;
    if (json_object_get(root, "params"))
        return JOB_SHAPE_ANTHROPIC_BATCH;
    return JOB_SHAPE_BARE;
}

/* Batch shapes: the required, checked custom_id. */
static int job_batch_id(job_pstate_t *ps, char *err, size_t errlen)
{
    ps->idv = json_object_get(ps->root, "custom_id");
    if (!ps->idv) {
        snprintf(err, errlen, "missing \"custom_id\"");
        return -1;
    }
    return job_check_id(ps->idv, err, errlen);
}

/* {"custom_id","method":"POST","url":"/v1/...","body":{..}} */
static int job_shape_openai_batch(job_pstate_t *ps, job_t *out, char *err, size_t errlen)
{
    json_t *v, *url = json_object_get(ps->root, "url"), *body;
    char show[160];

    if (job_batch_id(ps, err, errlen) < 0)
        return -1;
    v = json_object_get(ps->root, "method");
    if (v && !(json_is_string(v) && strcmp(json_string_value(v), "POST") == 0)) {
        snprintf(err, errlen, "method must be POST");
        return -1;
    }
    if (!url) {
        snprintf(err, errlen, "missing \"url\"");
        return -1;
    }
    if (!json_is_string(url)) {
        snprintf(err, errlen, "\"url\" must be a string");
        return -1;
    }
    out->path = job_endpoint_path(json_string_value(url), &out->endpoint);
    if (!out->path) {
        job_show(json_string_value(url), show, sizeof show);
        snprintf(err, errlen, "unsupported url \"%s\" (supported: %s)", show, job_supported);
        return -1;
    }
    body = json_object_get(ps->root, "body");
    if (!body) {
        snprintf(err, errlen, "missing \"body\"");
        return -1;
    }
    if (!json_is_object(body)) {
        snprintf(err, errlen, "\"body\" must be an object");
        return -1;
    }
    ps->body = json_incref(body);
    out->dialect = out->endpoint == EP_MESSAGES ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
    ps->anth_fill = out->dialect == DIALECT_ANTHROPIC;
    return 0;
}

/* {"custom_id","params":{..}} -> POST /v1/messages */
static int job_shape_anthropic_batch(job_pstate_t *ps, job_t *out, char *err, size_t errlen)
{
    json_t *params = json_object_get(ps->root, "params");

    if (job_batch_id(ps, err, errlen) < 0)
        return -1;
    if (!json_is_object(params)) {
        snprintf(err, errlen, "\"params\" must be an object");
        return -1;
    }
    ps->body = json_incref(params);
    out->dialect = DIALECT_ANTHROPIC;
    out->endpoint = EP_MESSAGES;
    out->path = "/v1/messages";
    ps->anth_fill = 1;
    return 0;
}

/* A bare line is the body itself; an optional custom_id is taken out of it. */
static int job_shape_bare(job_pstate_t *ps, char *err, size_t errlen)
{
    ps->body = json_incref(ps->root);
    ps->idv = json_object_get(ps->body, "custom_id");
    if (ps->idv) {
        if (job_check_id(ps->idv, err, errlen) < 0)
            return -1;
        ps->own_id = json_incref(ps->idv);
        json_object_del(ps->body, "custom_id");
    }
    return 0;
}

/* model: from the body, else the default.  Returns the body's model value
 * (borrowed) or NULL with err set. */
static json_t *job_model(json_t *body, const job_defaults_t *defs, char *err, size_t errlen)
{
    json_t *model = json_object_get(body, "model");

    if (!model || json_is_null(model)) {
        if (!defs || !defs->model || !defs->model[0]) {
            snprintf(err, errlen, "no model: set \"model\" or pass --model");
            return NULL;
        }
        model = json_string(defs->model);
        if (!model) {
            snprintf(err, errlen, "--model is not valid UTF-8");
            return NULL;
        }
        if (json_object_set_new(body, "model", model) < 0) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
    } else if (!json_is_string(model)) {
        snprintf(err, errlen, "\"model\" must be a string");
        return NULL;
    } else if (json_string_length(model) == 0) {
        snprintf(err, errlen, "\"model\" is empty");
        return NULL;
    }
    return model;
}

/* Bare lines: dialect (from --provider or the model name), endpoint (from
 * the fields present), "prompt" rewritten to chat messages, and the default
 * max_tokens. */
static int job_complete_bare(job_pstate_t *ps, json_t *model, const job_defaults_t *defs,
                             job_t *out, char *err, size_t errlen)
{
    const char *m = json_string_value(model), *mkey;
    json_t *body = ps->body;
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
            return -1;
        }
        out->endpoint = strstr(m, "embedding") ? EP_EMBEDDINGS : EP_RESPONSES;
    } else if (prompt && !json_is_null(prompt)) {
        json_t *nb;

        if (!json_is_string(prompt)) {
            snprintf(err, errlen, "\"prompt\" must be a string");
            return -1;
        }
        nb = job_prompt_to_chat(body, model);
        if (!nb) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        json_decref(body);
        ps->body = body = nb;
        out->endpoint = out->dialect == DIALECT_ANTHROPIC ? EP_MESSAGES : EP_CHAT;
    } else {
        snprintf(err, errlen, "line needs \"messages\", \"input\" or \"prompt\"");
        return -1;
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
            return -1;
        }
    }
    ps->anth_fill = out->dialect == DIALECT_ANTHROPIC;
    return 0;
}

/* The fields every shape shares, read from the final body: Anthropic's
 * required max_tokens, max_output, n / best_of, server context, tools and
 * the prompt text walk. */
static int job_body_fields(const job_pstate_t *ps, const job_defaults_t *defs,
                           job_t *out, char *err, size_t errlen)
{
    json_t *body = ps->body, *v;
    uint64_t mo = 0, tmp = 0;
    int r1, r2, r3;

    /* Anthropic requires max_tokens: fill from the default, else refuse. */
    if (ps->anth_fill) {
        if (!job_has_key(body, "max_tokens") && defs && defs->max_tokens > 0 &&
            json_object_set_new(body, "max_tokens",
                                json_integer((json_int_t)defs->max_tokens)) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (!job_has_key(body, "max_tokens")) {
            snprintf(err, errlen, "Anthropic requests need max_tokens "
                     "(set it in params or pass --max-tokens)");
            return -1;
        }
    }

    /* max_output: max_completion_tokens, then max_tokens, then max_output_tokens */
    r1 = job_pos_int(body, "max_completion_tokens", &tmp, err, errlen);
    if (r1 < 0)
        return -1;
    if (r1 > 0)
        mo = tmp;
    r2 = job_pos_int(body, "max_tokens", &tmp, err, errlen);
    if (r2 < 0)
        return -1;
    if (r2 > 0 && !mo)
        mo = tmp;
    r3 = job_pos_int(body, "max_output_tokens", &tmp, err, errlen);
    if (r3 < 0)
        return -1;
    if (r3 > 0 && !mo)
        mo = tmp;
    out->max_output = mo;

    v = json_object_get(body, "n");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > (json_int_t)UINT32_MAX) {
            snprintf(err, errlen, "\"n\" must be an integer >= 1");
            return -1;
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
    return 0;
}

/* Copies what survives the tree into the job: model, custom_id (or
 * "line-N"), the compact body text and the key. */
static int job_finish(const job_pstate_t *ps, size_t len, uint64_t lineno,
                      const job_defaults_t *defs, job_t *out, char *err, size_t errlen)
{
    json_t *body = ps->body;

    out->model = strdup(json_string_value(json_object_get(body, "model")));
    if (ps->idv) {
        out->custom_id = strdup(json_string_value(ps->idv));
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
        return -1;
    }
    if (defs && (defs->flags & JOB_WANT_KEY) &&
        canon_request_key(dialect_name(out->dialect), out->path, body, out->key) == 0)
        out->has_key = 1;
    else if (defs && (defs->flags & JOB_RAW_KEY) && out->body)
        job_raw_key(out);
    return 0;
}

static void job_reset(job_t *out, uint64_t ordinal, uint64_t lineno)
{
    memset(out, 0, sizeof *out);
    out->ordinal = ordinal;
    out->lineno = lineno;
    out->n = 1;
}

int job_parse(const char *line, size_t len, uint64_t lineno,
              const job_defaults_t *defs, job_t *out, char *err, size_t errlen)
{
    job_pstate_t ps = { NULL, NULL, NULL, NULL, 0 };
    json_error_t jerr;
    json_t *model;
    uint64_t ordinal = out->ordinal;
    job_shape_t shape;
    int rc = -1, r;

    job_reset(out, ordinal, lineno);
    if (errlen > 0)
        err[0] = '\0';

    if (defs && (defs->flags & JOB_FAST) && !(defs->flags & JOB_WANT_KEY)) {
        int f = job_parse_fast(line, len, defs, out);
        if (f == 1)
            return 0;
        job_release(out);
        job_reset(out, ordinal, lineno);
        if (f < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    if (len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
        snprintf(err, errlen, lineno == 1
                 ? "the file starts with a UTF-8 byte-order mark (BOM); save it without one"
                 : "the line starts with a UTF-8 byte-order mark (BOM); remove it");
        goto out;
    }
    /* DECODE_ANY so that "[1]" or "42" get the clearer message below;
     * ALLOW_NUL: "\u0000" in a string is valid JSON and is sent as written */
    ps.root = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!ps.root) {
        job_json_error(&jerr, err, errlen);
        goto out;
    }
    if (!json_is_object(ps.root)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }

    shape = job_shape_of(ps.root);
    switch (shape) {
    case JOB_SHAPE_OPENAI_BATCH:
        r = job_shape_openai_batch(&ps, out, err, errlen);
        break;
    case JOB_SHAPE_ANTHROPIC_BATCH:
        r = job_shape_anthropic_batch(&ps, out, err, errlen);
        break;
    default:
        r = job_shape_bare(&ps, err, errlen);
        break;
    }
    if (r < 0)
        goto out;
    if (!(model = job_model(ps.body, defs, err, errlen)))
        goto out;
    if (shape == JOB_SHAPE_BARE && job_complete_bare(&ps, model, defs, out, err, errlen) < 0)
        goto out;
    if (job_body_fields(&ps, defs, out, err, errlen) < 0 ||
        job_finish(&ps, len, lineno, defs, out, err, errlen) < 0)
        goto out;
    rc = 0;

out:
    if (rc < 0) {
        job_release(out);
        out->ordinal = ordinal;
        out->lineno = lineno;
    }
    json_decref(ps.own_id);
    json_decref(ps.body);
    json_decref(ps.root);
    return rc;
}
