/*
 * job_fast: the JOB_FAST path of job_parse (see job.h).  OpenAI batch lines
 * that need no rewriting are taken apart with jsonscan, without a jansson
 * tree, and the body is sent as written.  Anything unusual returns 0 so the
 * full parser (job.c) decides and writes the error message: both paths must
 * accept the same lines and produce the same job (test_job.c compares them,
 * and so does tests/fuzz/fuzz_job.c).
 */
#include "job.h"
#include "job_int.h"
#include "jsonscan.h"

#include <stdlib.h>
#include <string.h>

/* A member that must be a positive integer if present: 0 ok, -1 not. */
static int job_fast_uint(const jspan_t *vals, unsigned found, int i, uint64_t *out)
{
    if (!(found & (1u << i)))
        return 0;
    return jsonscan_uint(vals[i], out) == 1 && *out > 0 ? 0 : -1;
}

/* The JOB_FAST path: 1 if the line was taken apart here, 0 if the full
 * parser must decide (it also produces the error messages), -1 ENOMEM. */
int job_parse_fast(const char *line, size_t len, const job_defaults_t *defs,
                   job_t *out)
{
    static const char *const top_keys[] = { "url", "body", "custom_id", "method", "params" };
    enum { T_URL, T_BODY, T_ID, T_METHOD, T_PARAMS };
    static const char *const body_keys[] = {
        "model", "max_completion_tokens", "max_tokens", "max_output_tokens", "n",
        "messages", "prompt", "input", "system", "instructions",
        "best_of", "previous_response_id", "conversation",
    };
    enum { B_MODEL, B_MCT, B_MT, B_MOT, B_N, B_TEXT, B_BEST = 10, B_PREV, B_CONV, B_NKEYS };
    jspan_t top = { line, len }, tv[5], bv[B_NKEYS], url, id, model, m;
    unsigned tf, bf;
    char urlbuf[64];
    uint64_t mct = 0, mt = 0, mot = 0, n = 1, best = 0;
    endpoint_t ep;
    const char *path;

    if (jsonscan_validate(line, len) != 0)
        return 0;
    top = jsonscan_trim(top);
    if (top.p[0] != '{' || jsonscan_members(top, top_keys, 5, tv, &tf) < 0 ||
        (tf & 7u) != 7u || (tf & (1u << T_PARAMS)) ||
        jsonscan_plain_string(tv[T_URL], &url) != 1 || url.n >= sizeof urlbuf ||
        tv[T_BODY].p[0] != '{' ||
        jsonscan_plain_string(tv[T_ID], &id) != 1 ||
        id.n == 0 || id.n > JOB_MAX_ID || memchr(id.p, 0x7f, id.n))
        return 0;
    if ((tf & (1u << T_METHOD)) &&
        (jsonscan_plain_string(tv[T_METHOD], &m) != 1 || m.n != 4 ||
         memcmp(m.p, "POST", 4) != 0))
        return 0;
    memcpy(urlbuf, url.p, url.n);
    urlbuf[url.n] = '\0';
    path = job_endpoint_path(urlbuf, &ep);
    if (!path || ep == EP_MESSAGES)
        return 0;
    if (jsonscan_members(tv[T_BODY], body_keys, B_NKEYS, bv, &bf) < 0 ||
        !(bf & (1u << B_MODEL)) || jsonscan_plain_string(bv[B_MODEL], &model) != 1 ||
        model.n == 0)
        return 0;
    /* the same rules and precedence as the full parser */
    if (job_fast_uint(bv, bf, B_MCT, &mct) || job_fast_uint(bv, bf, B_MT, &mt) ||
        job_fast_uint(bv, bf, B_MOT, &mot) || job_fast_uint(bv, bf, B_N, &n) ||
        job_fast_uint(bv, bf, B_BEST, &best))
        return 0;
    if (best > n)
        n = best;

    out->dialect = DIALECT_OPENAI;
    out->endpoint = ep;
    out->path = path;
    out->max_output = mct ? mct : mt ? mt : mot;
    out->n = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    for (int i = B_TEXT; i < B_BEST; i++)
        if (bf & (1u << i))
            out->text_bytes += jsonscan_string_bytes(bv[i]);
    if (ep == EP_RESPONSES &&
        ((bf & (1u << B_PREV)) || (bf & (1u << B_CONV)) ||
         ((bf & (1u << (B_TEXT + 1))) && jsonscan_trim(bv[B_TEXT + 1]).p[0] == '{')))
        out->server_context = 1;
    out->custom_id = strndup(id.p, id.n);
    out->model = strndup(model.p, model.n);
    if (defs->flags & JOB_NO_BODY) {
        out->body_len = len;
    } else {
        out->body = strndup(tv[T_BODY].p, tv[T_BODY].n);
        out->body_len = tv[T_BODY].n;
    }
    if (!out->custom_id || !out->model || (!out->body && !(defs->flags & JOB_NO_BODY)))
        return -1;
    if ((defs->flags & JOB_RAW_KEY) && out->body)
        job_raw_key(out);
    return 1;
}

