/*
 * canon: re-emits JSON in one canonical spelling (see canon.h).
 *
 * jansson does the work: json_loadb parses (rejecting trailing garbage and
 * invalid UTF-8) and json_dump_callback with JSON_SORT_KEYS | JSON_COMPACT |
 * JSON_ENSURE_ASCII writes straight into the caller's buffer, with no
 * intermediate copy.  Owns nothing after return.  Invariant: on failure the
 * output buffer is rolled back to its length at entry.
 */
#include "canon.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "sha256.h"

static int append_cb(const char *p, size_t n, void *data)
{
    return buf_append(data, p, n) == 0 ? 0 : -1;
}

int canon_json(const char *text, size_t len, buf_t *out)
{
    json_error_t jerr;
    json_t *v = NULL;
    size_t start = out->len;
    int rc = -1;

    if (!text)
        goto out;
    v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        goto out;
    if (json_dump_callback(v, append_cb, out,
                           JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII |
                           JSON_ENCODE_ANY) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0 && out->len > start) {
        out->len = start;
        out->data[start] = '\0';
    }
    json_decref(v);
    return rc;
}

int canon_request_key(const char *dialect, const char *path, const json_t *body,
                      unsigned char out[32])
{
    buf_t canon = BUF_INIT;
    sha256_ctx_t h;
    int rc = -1;

    if (!body || json_dump_callback(body, append_cb, &canon,
                                    JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII |
                                    JSON_ENCODE_ANY) != 0 || !canon.data)
        goto out;
    sha256_init(&h);
    sha256_update(&h, dialect ? dialect : "", dialect ? strlen(dialect) : 0);
    sha256_update(&h, "\n", 1);
    sha256_update(&h, path ? path : "", path ? strlen(path) : 0);
    sha256_update(&h, "\n", 1);
    sha256_update(&h, canon.data, canon.len);
    sha256_final(&h, out);
    rc = 0;
out:
    buf_release(&canon);
    return rc;
}

static int real_prec(const json_t *v, int prec)
{
    const char *key;
    json_t *val;
    size_t i;
    char tmp[40];
    double d;

    switch (json_typeof(v)) {
    case JSON_REAL:
        d = json_real_value(v);
        while (prec < 17) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
            prec++;
        }
        return prec;
    case JSON_ARRAY:
        json_array_foreach(v, i, val) {
            prec = real_prec(val, prec);
            if (prec == 17)
                break;
        }
        return prec;
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, val) {
            prec = real_prec(val, prec);
            if (prec == 17)
                break;
        }
        return prec;
    default:
        return prec;
    }
}

int json_real_precision(const json_t *v)
{
    return v ? real_prec(v, 15) : 15;
}
