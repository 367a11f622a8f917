/*
 * results: writes output and error lines in the OpenAI batch output format
 * (see results.h).
 *
 * Each call appends exactly one line, ending in "\n", to the caller's
 * buffer, or leaves the buffer unchanged on failure.  Strings go through
 * buf_json_str and JSON bodies through jansson's compact encoder, so a line
 * never contains a raw newline.  The "batch_req_" id is a pure function of
 * (seed, ordinal): a resumed run writes the same id for the same job.
 */
#include "results.h"
#include "canon.h"
#include "jsonscan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t results_splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int results_id(buf_t *out, uint64_t seed, uint64_t ordinal)
{
    uint64_t a = results_splitmix64(seed ^ results_splitmix64(ordinal));
    uint64_t b = results_splitmix64(a ^ ordinal ^ 0x5851f42d4c957f2dULL);

    static const char hex[] = "0123456789abcdef";
    char id[48] = "\"batch_req_";
    size_t n = 11;

    for (int i = 60; i >= 0; i -= 4)
        id[n++] = hex[(a >> i) & 15];
    for (int i = 60; i >= 32; i -= 4)
        id[n++] = hex[(b >> i) & 15];
    id[n++] = '"';
    return buf_append(out, id, n);
}

/* Inverse of x ^ (x >> shift). */
static uint64_t results_unxorshift(uint64_t y, int shift)
{
    uint64_t x = y;

    for (int i = 0; i < 64 / shift + 1; i++)
        x = y ^ (x >> shift);
    return x;
}

/* Inverse of an odd multiplier mod 2^64 (Newton: each step doubles the
 * correct low bits). */
static uint64_t results_modinv(uint64_t m)
{
    uint64_t x = m;

    for (int i = 0; i < 6; i++)
        x *= 2 - m * x;
    return x;
}

static uint64_t results_unsplitmix64(uint64_t z)
{
    z = results_unxorshift(z, 31);
    z *= results_modinv(0x94d049bb133111ebULL);
    z = results_unxorshift(z, 27);
    z *= results_modinv(0xbf58476d1ce4e5b9ULL);
    z = results_unxorshift(z, 30);
    return z - 0x9e3779b97f4a7c15ULL;
}

int results_id_ordinal(const char *id, size_t len, uint64_t seed, uint64_t *ordinal)
{
    uint64_t a = 0, ord;
    buf_t chk = BUF_INIT;
    int ok;

    if (len != RESULTS_ID_LEN || memcmp(id, "batch_req_", 10) != 0)
        return 0;
    for (size_t i = 10; i < 26; i++) {
        char c = id[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return 0;
        a = a << 4 | (uint64_t)v;
    }
    ord = results_unsplitmix64(results_unsplitmix64(a) ^ seed);
    /* the other 32 bits of the id must match too */
    ok = results_id(&chk, seed, ord) == 0 && chk.len == len + 2 &&
         memcmp(chk.data + 1, id, len) == 0;
    buf_release(&chk);
    if (ok)
        *ordinal = ord;
    return ok;
}

static int results_str(buf_t *out, const char *s)
{
    if (!s)
        return buf_puts(out, "null");
    return buf_json_str(out, s, strlen(s));
}

static int results_dump_cb(const char *p, size_t n, void *data)
{
    return buf_append(data, p, n);
}


static int results_json(buf_t *out, const json_t *v)
{
    if (!v)
        return buf_puts(out, "null");
    return json_dump_callback(v, results_dump_cb, out,
                              JSON_COMPACT | JSON_ENCODE_ANY |
                              JSON_REAL_PRECISION(json_real_precision(v)));
}

/* Drops what a failed call appended, so the buffer is as it was. */
static int results_undo(buf_t *out, size_t old)
{
    out->len = old;
    if (out->cap > 0)
        out->data[old] = '\0';
    return -1;
}

/* "id":..,"custom_id":.., */
static int results_head(buf_t *out, uint64_t seed, uint64_t ordinal,
                        const char *custom_id)
{
    if (buf_puts(out, "{\"id\":") < 0 || results_id(out, seed, ordinal) < 0 ||
        buf_puts(out, ",\"custom_id\":") < 0 || results_str(out, custom_id) < 0)
        return -1;
    return 0;
}

/* The server's own bytes, when they can stand in the line as they are:
 * one JSON object (already parsed by the caller) with no line break. */
static int results_raw_ok(const char **raw, size_t *len)
{
    const char *p = *raw;
    size_t n = *len;

    if (!p)
        return 0;
    while (n && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
        n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n' ||
                 p[n - 1] == '\r'))
        n--;
    if (n < 2 || p[0] != '{' || p[n - 1] != '}' || memchr(p, '\n', n) ||
        memchr(p, '\r', n) || memchr(p, '\0', n))
        return 0;
    *raw = p;
    *len = n;
    return 1;
}

int results_success_line(buf_t *out, uint64_t seed, uint64_t ordinal,
                         const char *custom_id, long status,
                         const char *request_id, const json_t *body,
                         int mark)
{
    return results_success_raw(out, seed, ordinal, custom_id, status, request_id,
                               NULL, 0, body, mark);
}

int results_success_raw(buf_t *out, uint64_t seed, uint64_t ordinal,
                        const char *custom_id, long status,
                        const char *request_id, const char *raw, size_t raw_len,
                        const json_t *body, int mark)
{
    size_t old = out->len;
    int use_raw = results_raw_ok(&raw, &raw_len);
    char *compact = NULL;

    /* no tree (jansson could not hold a number in it) and not one line:
     * the valid JSON text without its line breaks */
    if (!use_raw && !body && raw && raw_len && jsonscan_validate_rfc(raw, raw_len) == 0) {
        if (!(compact = malloc(raw_len)))
            return -1;
        raw_len = jsonscan_compact(raw, raw_len, compact);
        raw = compact;
        use_raw = 1;
    }

    if (results_head(out, seed, ordinal, custom_id) < 0 ||
        buf_printf(out, ",\"response\":{\"status_code\":%ld,\"request_id\":",
                   status) < 0 ||
        results_str(out, request_id) < 0 ||
        buf_puts(out, ",\"body\":") < 0 ||
        (use_raw ? buf_append(out, raw, raw_len) : results_json(out, body)) < 0 ||
        buf_puts(out, "},\"error\":null") < 0 ||
        (mark == RESULTS_MARK_CACHE &&
         buf_puts(out, ",\"llmbatch\":{\"cache\":\"hit\"}") < 0) ||
        (mark == RESULTS_MARK_COALESCED &&
         buf_puts(out, ",\"llmbatch\":{\"dedup\":\"coalesced\"}") < 0) ||
        buf_puts(out, "}\n") < 0)
        goto err;
    free(compact);
    return 0;

err:
    free(compact);
    return results_undo(out, old);
}

int results_error_line(buf_t *out, uint64_t seed, uint64_t ordinal,
                       const char *custom_id, long status,
                       const char *request_id, const json_t *body,
                       const char *raw_body, size_t raw_len,
                       const char *code, const char *message)
{
    size_t old = out->len;

    if (results_head(out, seed, ordinal, custom_id) < 0)
        goto err;
    if (status == 0 && !body && !raw_body) {
        if (buf_puts(out, ",\"response\":null") < 0)
            goto err;
    } else {
        if (buf_printf(out, ",\"response\":{\"status_code\":%ld,\"request_id\":",
                       status) < 0 ||
            results_str(out, request_id) < 0 || buf_puts(out, ",\"body\":") < 0)
            goto err;
        if (body) {
            if (results_json(out, body) < 0)
                goto err;
        } else if (raw_body) {
            if (buf_json_str(out, raw_body, raw_len) < 0)
                goto err;
        } else if (buf_puts(out, "null") < 0) {
            goto err;
        }
        if (buf_putc(out, '}') < 0)
            goto err;
    }
    if (buf_puts(out, ",\"error\":{\"code\":") < 0 || results_str(out, code) < 0 ||
        buf_puts(out, ",\"message\":") < 0 || results_str(out, message) < 0 ||
        buf_puts(out, "}}\n") < 0)
        goto err;
    return 0;

err:
    return results_undo(out, old);
}
