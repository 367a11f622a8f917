/*
 * batchfmt: batch-API wire shapes (see batchfmt.h).  Pure functions over
 * strings and jansson trees; owns nothing beyond what it returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "batchfmt.h"

int batchfmt_request(buf_t *out, const job_t *j)
{
    if (j->dialect == DIALECT_ANTHROPIC)
        return buf_printf(out, "{\"custom_id\":\"j%llu\",\"params\":%.*s}",
                          (unsigned long long)j->ordinal, (int)j->body_len, j->body);
    return buf_printf(out, "{\"custom_id\":\"j%llu\",\"method\":\"POST\",\"url\":\"%s\","
                      "\"body\":%.*s}", (unsigned long long)j->ordinal, j->path,
                      (int)j->body_len, j->body);
}

int batchfmt_ordinal(const char *id, uint64_t *ordinal)
{
    char *end;
    unsigned long long v;

    if (!id || id[0] != 'j' || id[1] < '0' || id[1] > '9')
        return -1;
    errno = 0;
    v = strtoull(id + 1, &end, 10);
    if (errno || *end || (id[1] == '0' && id[2]))
        return -1;
    *ordinal = v;
    return 0;
}

static const char *const phase_names[] = {
    "validating", "in_progress", "finalizing", "cancelling",
    "completed", "failed", "expired", "cancelled", "ended"
};

const char *batchfmt_phase_name(int phase)
{
    if (phase < 0 || phase > BPH_ENDED)
        return NULL;
    return phase_names[phase];
}

int batchfmt_phase_final(int phase)
{
    return phase >= BPH_COMPLETED;
}

static void copy_str(char *dst, size_t n, const json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, n, "%s", s ? s : "");
}

static uint64_t count(const json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

/* "2026-12-01T15:00:00.123Z" -> epoch seconds; 0 if unreadable. */
static int64_t iso_epoch(const char *s)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    if (!s || !(end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
        return 0;
    return (int64_t)timegm(&tm);
}

static int openai_batch(const json_t *o, batch_info_t *b)
{
    static const char *const st[] = {
        "validating", "in_progress", "finalizing", "cancelling",
        "completed", "failed", "expired", "cancelled", NULL
    };
    const char *s = json_string_value(json_object_get(o, "status"));
    const json_t *rc = json_object_get(o, "request_counts"), *md, *errs, *e0;
    json_int_t created;

    b->phase = -1;
    for (int i = 0; s && st[i]; i++)
        if (strcmp(s, st[i]) == 0)
            b->phase = i;
    if (b->phase < 0)
        return -1;
    b->total = count(rc, "total");
    b->failed = count(rc, "failed");
    b->done = count(rc, "completed") + b->failed;
    copy_str(b->output_file_id, sizeof(b->output_file_id), json_object_get(o, "output_file_id"));
    copy_str(b->error_file_id, sizeof(b->error_file_id), json_object_get(o, "error_file_id"));
    md = json_object_get(o, "metadata");
    copy_str(b->meta_run, sizeof(b->meta_run), json_object_get(md, "llmbatch_run"));
    {
        const char *p = json_string_value(json_object_get(md, "llmbatch_part"));
        char *end;
        long v;
        errno = 0;
        v = p ? strtol(p, &end, 10) : -1;
        b->meta_part = p && !errno && *p && !*end ? v : -1;
    }
    errs = json_object_get(json_object_get(o, "errors"), "data");
    if ((e0 = json_array_get(errs, 0))) {
        copy_str(b->error_code, sizeof(b->error_code), json_object_get(e0, "code"));
        copy_str(b->error_message, sizeof(b->error_message), json_object_get(e0, "message"));
    }
    created = json_integer_value(json_object_get(o, "created_at"));
    b->created_epoch = created;
    snprintf(b->created_at, sizeof(b->created_at), "%lld", (long long)created);
    return 0;
}

static int anthropic_batch(const json_t *o, batch_info_t *b)
{
    const char *s = json_string_value(json_object_get(o, "processing_status"));
    const json_t *rc = json_object_get(o, "request_counts");
    uint64_t ok = count(rc, "succeeded"), er = count(rc, "errored");

    if (!s)
        return -1;
    if (strcmp(s, "in_progress") == 0)
        b->phase = BPH_IN_PROGRESS;
    else if (strcmp(s, "canceling") == 0)
        b->phase = BPH_CANCELLING;
    else if (strcmp(s, "ended") == 0)
        b->phase = BPH_ENDED;
    else
        return -1;
    b->failed = er;
    b->done = ok + er;
    b->total = b->done + count(rc, "processing") + count(rc, "canceled") + count(rc, "expired");
    copy_str(b->results_url, sizeof(b->results_url), json_object_get(o, "results_url"));
    copy_str(b->created_at, sizeof(b->created_at), json_object_get(o, "created_at"));
    b->created_epoch = iso_epoch(b->created_at);
    b->meta_part = -1;
    return 0;
}

int batchfmt_parse_batch(dialect_t d, const json_t *obj, batch_info_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(obj) || !json_string_value(json_object_get(obj, "id")))
        return -1;
    copy_str(out->id, sizeof(out->id), json_object_get(obj, "id"));
    return d == DIALECT_ANTHROPIC ? anthropic_batch(obj, out) : openai_batch(obj, out);
}

/* Anthropic error types -> the HTTP status the live API gives them. */
static long anthropic_status(const char *type)
{
    static const struct { const char *t; long s; } m[] = {
        { "invalid_request_error", 400 }, { "authentication_error", 401 },
        { "permission_error", 403 }, { "not_found_error", 404 },
        { "request_too_large", 413 }, { "rate_limit_error", 429 },
        { "api_error", 500 }, { "overloaded_error", 529 },
    };
    for (size_t i = 0; type && i < sizeof(m) / sizeof(m[0]); i++)
        if (strcmp(type, m[i].t) == 0)
            return m[i].s;
    return 500;
}

static int anthropic_row(batch_row_t *r, char *err, size_t errlen)
{
    const json_t *res = json_object_get(r->root, "result");
    const char *type = json_string_value(json_object_get(res, "type"));
    const json_t *inner;

    if (!type) {
        snprintf(err, errlen, "result line without result.type");
        return -1;
    }
    if (strcmp(type, "succeeded") == 0) {
        r->kind = ROW_OK;
        r->status = 200;
        r->body = json_object_get(res, "message");
        if (!json_is_object(r->body)) {
            snprintf(err, errlen, "succeeded result without a message");
            return -1;
        }
        r->request_id = json_string_value(json_object_get(r->body, "id"));
        return 0;
    }
    if (strcmp(type, "errored") == 0) {
        r->kind = ROW_FAILED;
        r->body = json_object_get(res, "error");
        inner = json_object_get(r->body, "error");
        r->code = json_string_value(json_object_get(inner, "type"));
        r->message = json_string_value(json_object_get(inner, "message"));
        r->status = anthropic_status(r->code);
        return 0;
    }
    if (strcmp(type, "canceled") == 0 || strcmp(type, "expired") == 0) {
        r->kind = ROW_NOT_RUN;
        r->code = type;
        return 0;
    }
    snprintf(err, errlen, "unknown result type \"%.40s\"", type);
    return -1;
}

static int openai_row(batch_row_t *r, char *err, size_t errlen)
{
    const json_t *resp = json_object_get(r->root, "response");
    const json_t *e = json_object_get(r->root, "error"), *be;

    if (json_is_object(resp)) {
        r->status = (long)json_integer_value(json_object_get(resp, "status_code"));
        r->request_id = json_string_value(json_object_get(resp, "request_id"));
        r->body = json_object_get(resp, "body");
        if (r->status >= 200 && r->status < 300 && !json_is_object(e)) {
            r->kind = ROW_OK;
            return 0;
        }
        r->kind = ROW_FAILED;
        be = json_object_get(r->body, "error");
        r->code = json_string_value(json_object_get(be, "code"));
        if (!r->code)
            r->code = json_string_value(json_object_get(be, "type"));
        r->message = json_string_value(json_object_get(be, "message"));
        return 0;
    }
    if (!json_is_object(e)) {
        snprintf(err, errlen, "line has neither response nor error");
        return -1;
    }
    r->code = json_string_value(json_object_get(e, "code"));
    r->message = json_string_value(json_object_get(e, "message"));
    /* rows the batch never ran: they go back to pending */
    if (r->code && (strcmp(r->code, "batch_expired") == 0 ||
                    strcmp(r->code, "batch_cancelled") == 0)) {
        r->kind = ROW_NOT_RUN;
        return 0;
    }
    r->kind = ROW_FAILED;
    return 0;
}

int batchfmt_parse_row(dialect_t d, const char *line, size_t len, batch_row_t *out,
                       char *err, size_t errlen)
{
    const char *cid;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!(out->root = json_loadb(line, len, 0, NULL)) || !json_is_object(out->root)) {
        snprintf(err, errlen, "not a JSON object");
        goto fail;
    }
    cid = json_string_value(json_object_get(out->root, "custom_id"));
    if (batchfmt_ordinal(cid, &out->ordinal) != 0) {
        snprintf(err, errlen, "custom_id \"%.64s\" is not one llmbatch sent", cid ? cid : "");
        goto fail;
    }
    rc = d == DIALECT_ANTHROPIC ? anthropic_row(out, err, errlen) : openai_row(out, err, errlen);
    if (rc == 0)
        return 0;
fail:
    json_decref(out->root);
    out->root = NULL;
    return -1;
}
