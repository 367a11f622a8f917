/*
 * provider: one HTTP response (status, headers, body) -> outcome_t.
 *
 * The classification table is in provider.h; this file applies it the same
 * way for both dialects (error bodies are read in both shapes, since a
 * proxy or a mock may answer in either) and leaves usage extraction to
 * provider_openai.c / provider_anthropic.c.  Also reads the server's
 * retry hints (retry-after-ms, retry-after as seconds or an HTTP-date, the
 * latter parsed by timefmt.c): no clock (now_ms is passed in).
 *
 * The outcome owns the parsed body (json_decref in outcome_release).
 * Error messages copied from the server are scrubbed of anything that
 * looks like an API key ("sk-..."), so a misbehaving proxy that echoes
 * the key cannot leak it into the errors file.
 */
#include "provider.h"

#include <stdio.h>
#include <string.h>

#include "timefmt.h"
#include "provider_int.h"
#include "jsonscan.h"

#define PROV_RETRY_CAP_MS (3600LL * 1000)

const char *provider_default_base_url(dialect_t d)
{
    return d == DIALECT_ANTHROPIC ? "https://api.anthropic.com" : "https://api.openai.com/v1";
}

const char *provider_base_url_env(dialect_t d)
{
    return d == DIALECT_ANTHROPIC ? "ANTHROPIC_BASE_URL" : "OPENAI_BASE_URL";
}

void outcome_init(outcome_t *o)
{
    memset(o, 0, sizeof(*o));
    o->kind = OUT_SUCCESS;
    o->retry_after_ms = -1;
    o->body = NULL;
}

void outcome_release(outcome_t *o)
{
    if (o->body)
        json_decref(o->body);
    outcome_init(o);
}

uint64_t prov_uint_member(const json_t *obj, const char *key, int *found)
{
    json_t *v;
    json_int_t i;

    if (!json_is_object(obj))
        return 0;
    v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return 0;
    i = json_integer_value(v);
    if (i < 0)
        return 0;
    if (found)
        *found = 1;
    return (uint64_t)i;
}

int provider_usage(dialect_t d, const json_t *body, usage_t *u)
{
    json_t *usage;

    memset(u, 0, sizeof(*u));
    if (!json_is_object(body))
        return 0;
    usage = json_object_get(body, "usage");
    if (!json_is_object(usage))
        return 0;
    if (d == DIALECT_ANTHROPIC ? prov_anthropic_usage(usage, u)
                               : prov_openai_usage(usage, u))
        return 1;
    memset(u, 0, sizeof(*u));
    return 0;
}

static char prov_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int prov_strieq(const char *a, const char *b)
{
    while (*a && *b && prov_lower(*a) == prov_lower(*b)) {
        a++;
        b++;
    }
    return *a == '\0' && *b == '\0';
}

/* Case-insensitive substring search. */
static int prov_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle), i;

    for (; *hay; hay++) {
        for (i = 0; i < n && hay[i] && prov_lower(hay[i]) == prov_lower(needle[i]); i++)
            ;
        if (i == n)
            return 1;
    }
    return 0;
}

int provider_should_retry(const headers_t *h)
{
    const char *v = headers_get(h, "x-should-retry");

    if (!v)
        return -1;
    if (prov_strieq(v, "true"))
        return 1;
    if (prov_strieq(v, "false"))
        return 0;
    return -1;
}

const char *provider_request_id(const headers_t *h)
{
    const char *v = headers_get(h, "x-request-id");

    if (v && *v)
        return v;
    v = headers_get(h, "request-id");
    return (v && *v) ? v : NULL;
}

/* ---- retry hints ------------------------------------------------------- */

static int prov_isdigit(char c)
{
    return c >= '0' && c <= '9';
}

static int prov_isalpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* "123" or "12.5" (units) -> ceil(value * unit_ms), capped; -1 if bad. */
static int64_t prov_decimal_ms(const char *s, int64_t unit_ms)
{
    int64_t whole = 0, frac = 0, scale = 1, ms;
    int nd = 0, capped = 0, rest = 0;
    const char *p = s;

    while (prov_isdigit(*p)) {
        if (whole > PROV_RETRY_CAP_MS)
            capped = 1;
        else
            whole = whole * 10 + (*p - '0');
        p++;
        nd++;
    }
    if (*p == '.') {
        p++;
        while (prov_isdigit(*p)) {
            if (scale < 1000000) {
                frac = frac * 10 + (*p - '0');
                scale *= 10;
            } else if (*p != '0') {
                rest = 1;
            }
            p++;
            nd++;
        }
    }
    if (nd == 0 || *p != '\0')
        return -1;
    if (capped || whole > PROV_RETRY_CAP_MS)
        return PROV_RETRY_CAP_MS;
    ms = whole * unit_ms + (frac * unit_ms + scale - 1) / scale + rest;
    return ms > PROV_RETRY_CAP_MS ? PROV_RETRY_CAP_MS : ms;
}

int64_t provider_retry_after_ms(const headers_t *h, int64_t now_ms)
{
    const char *v;
    int64_t ms;

    v = headers_get(h, "retry-after-ms");
    if (v && (ms = prov_decimal_ms(v, 1)) >= 0)
        return ms;
    v = headers_get(h, "retry-after");
    if (!v)
        return -1;
    if (prov_isdigit(*v) || *v == '.')
        return prov_decimal_ms(v, 1000);
    ms = http_date_ms(v);
    if (ms < 0)
        return -1;
    if (ms <= now_ms)
        return 0;
    ms -= now_ms;
    return ms > PROV_RETRY_CAP_MS ? PROV_RETRY_CAP_MS : ms;
}

/* ---- error bodies and classification ----------------------------------- */

static int prov_keych(char c)
{
    return prov_isalpha(c) || prov_isdigit(c) || c == '-' || c == '_';
}

/* Copies src into dst, masking anything that looks like a secret key
 * ("sk-" + 16 or more key characters) down to "sk-..." and its last 4. */
static void prov_copy_scrubbed(char *dst, size_t dstlen, const char *src)
{
    size_t o = 0;
    const char *p = src;

    while (*p && o + 1 < dstlen) {
        if (p[0] == 's' && p[1] == 'k' && p[2] == '-' &&
            (p == src || !prov_keych(p[-1]))) {
            size_t n = 3;
            while (prov_keych(p[n]) || p[n] == '*')
                n++;
            if (n >= 19) {
                int w = snprintf(dst + o, dstlen - o, "sk-...%.4s", p + n - 4);
                if (w < 0 || (size_t)w >= dstlen - o) {
                    dst[o] = '\0';
                    return;
                }
                o += (size_t)w;
                p += n;
                continue;
            }
        }
        dst[o++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
        p++;
    }
    dst[o] = '\0';
}

/* The error's code (string or number) or else its type, into o->code;
 * its message into o->message.  Reads OpenAI {"error":{...}} and
 * Anthropic {"type":"error","error":{...}} alike. */
static void prov_error_fields(const json_t *body, outcome_t *o,
                              const char **type_out)
{
    json_t *err, *code, *type, *msg;

    *type_out = NULL;
    if (!json_is_object(body))
        return;
    err = json_object_get(body, "error");
    if (json_is_string(err)) {
        prov_copy_scrubbed(o->message, sizeof(o->message), json_string_value(err));
        return;
    }
    if (!json_is_object(err))
        return;
    code = json_object_get(err, "code");
    type = json_object_get(err, "type");
    msg = json_object_get(err, "message");
    if (json_is_string(type))
        *type_out = json_string_value(type);
    if (json_is_string(code) && *json_string_value(code))
        prov_copy_scrubbed(o->code, sizeof(o->code), json_string_value(code));
    else if (json_is_integer(code))
        snprintf(o->code, sizeof(o->code), "%lld",
                 (long long)json_integer_value(code));
    else if (*type_out && **type_out)
        prov_copy_scrubbed(o->code, sizeof(o->code), *type_out);
    if (json_is_string(msg))
        prov_copy_scrubbed(o->message, sizeof(o->message), json_string_value(msg));
}

static int prov_is_quota_word(const char *s)
{
    return s && (strcmp(s, "insufficient_quota") == 0 ||
                 strcmp(s, "billing_hard_limit_reached") == 0 ||
                 strcmp(s, "billing_not_active") == 0);
}

static int prov_exhausted(long status, const outcome_t *o, const char *type)
{
    if (status == 402)
        return 1;
    if (status != 400 && status != 403 && status != 429)
        return 0;
    if (prov_is_quota_word(o->code) || prov_is_quota_word(type))
        return 1;
    if (status == 429)
        return 0;
    return prov_contains(o->message, "credit balance") ||
           prov_contains(o->message, "spend limit") ||
           prov_contains(o->message, "usage limit");
}

/* "HTTP 502", plus the start of a non-JSON body (a proxy's HTML page). */
static void prov_status_message(outcome_t *o, long status, const char *body,
                                size_t body_len)
{
    char snip[121];
    size_t i, n = 0;
    int space = 0;

    for (i = 0; body && i < body_len && n < sizeof(snip) - 1; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c < 0x20 || c == 0x7f) {
            space = n > 0;
            continue;
        }
        if (space && n < sizeof(snip) - 1)
            snip[n++] = ' ';
        space = 0;
        if (n < sizeof(snip) - 1)
            snip[n++] = (char)c;
    }
    snip[n] = '\0';
    if (n) {
        char tmp[sizeof(o->message)];
        snprintf(tmp, sizeof(tmp), "HTTP %ld: %s", status, snip);
        prov_copy_scrubbed(o->message, sizeof(o->message), tmp);
    } else {
        snprintf(o->message, sizeof(o->message), "HTTP %ld", status);
    }
}

/* Usage from the "usage" member of a validated object, without a tree for
 * the rest.  A usage object jansson cannot hold (a number wider than 64
 * bits) leaves usage.present 0: the reply is charged as estimated. */
static void prov_usage_of_member(dialect_t d, jspan_t usage, outcome_t *o)
{
    json_t *wrap = json_object();
    json_t *u = json_loadb(usage.p, usage.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

    if (wrap && u && json_object_set_new(wrap, "usage", u) == 0)
        provider_usage(d, wrap, &o->usage);
    else
        json_decref(u);
    json_decref(wrap);
}

/* A 2xx whose body is one valid JSON object (RFC 8259), read without a
 * jansson tree: only its "usage" member is parsed; o->body stays NULL (the
 * caller embeds the bytes as they are, without their line breaks).
 *   - first, for every 2xx (one line or pretty-printed, as OpenAI's
 *     replies are), with full_parse_may_decide: odd keys (escaped or
 *     repeated) return 0 and leave the body to the full parse;
 *   - then, for a body jansson will not hold (a number wider than 64 bits,
 *     or too deep): still a success, usage read when the member is found.
 * 0 when the body is not such an object. */
static int prov_success_bytes(dialect_t d, const char *body, size_t len,
                              int full_parse_may_decide, outcome_t *o)
{
    jspan_t all = { body, len }, us;
    int found;

    if (!body || !len || jsonscan_validate_rfc(body, len) != 0)
        return 0;
    all = jsonscan_trim(all);
    if (all.p[0] != '{')
        return 0;
    found = jsonscan_member(all, "usage", &us);
    if (found == -1 && full_parse_may_decide)
        return 0;
    o->kind = OUT_SUCCESS;
    if (found == 1)
        prov_usage_of_member(d, us, o);
    return 1;
}

void provider_classify(dialect_t d, long status, const headers_t *h,
                       const char *body, size_t body_len, int64_t now_ms,
                       outcome_t *o)
{
    const char *etype = NULL;
    int sr;

    outcome_init(o);
    o->retry_after_ms = provider_retry_after_ms(h, now_ms);
    if (status >= 200 && status < 300 && prov_success_bytes(d, body, body_len, 1, o))
        return;
    if (body && body_len > 0)
        o->body = json_loadb(body, body_len, JSON_ALLOW_NUL, NULL);

    if (status >= 200 && status < 300) {
        if (!o->body && prov_success_bytes(d, body, body_len, 0, o))
            return;
        if (!json_is_object(o->body)) {
            o->kind = OUT_RETRY;
            snprintf(o->code, sizeof(o->code), "invalid_response_body");
            snprintf(o->message, sizeof(o->message),
                     "HTTP %ld with %s body (%zu bytes)", status,
                     body_len ? "a truncated or non-JSON" : "an empty", body_len);
            return;
        }
        o->kind = OUT_SUCCESS;
        provider_usage(d, o->body, &o->usage);
        return;
    }
    if (status <= 0) {
        o->kind = OUT_RETRY;
        snprintf(o->code, sizeof(o->code), "no_response");
        snprintf(o->message, sizeof(o->message), "no HTTP response");
        return;
    }

    prov_error_fields(o->body, o, &etype);
    if (!o->code[0])
        snprintf(o->code, sizeof(o->code), "http_%ld", status);
    if (!o->message[0])
        prov_status_message(o, status, o->body ? NULL : body,
                            o->body ? 0 : body_len);

    if (prov_exhausted(status, o, etype))
        o->kind = OUT_KEY_EXHAUSTED;
    else if (status == 401 || status == 403)
        o->kind = OUT_KEY_INVALID;
    else if (status == 408 || status == 409 || status == 429 ||
             (status >= 500 && status < 600))
        o->kind = OUT_RETRY;
    else
        o->kind = OUT_FINAL;
    o->rate_limited = status == 429 && o->kind != OUT_KEY_EXHAUSTED;

    sr = provider_should_retry(h);
    if (sr == 1 && o->kind == OUT_FINAL)
        o->kind = OUT_RETRY;
    else if (sr == 0 && o->kind == OUT_RETRY)
        o->kind = OUT_FINAL;
}
