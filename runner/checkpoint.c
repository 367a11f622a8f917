/*
 * checkpoint: JSON form of the durable job state (see checkpoint.h).  The
 * done-bitmap is stored as a count of leading done jobs plus base64 of the
 * rest, which keeps the file small for runs that finish roughly in order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "checkpoint.h"
#include "shard.h"
#include "output.h"

void ckpt_init(ckpt_t *c)
{
    memset(c, 0, sizeof(*c));
}

void ckpt_release(ckpt_t *c)
{
    free(c->bits);
    free(c->input_path);
    memset(c, 0, sizeof(*c));
}

int ckpt_resize(ckpt_t *c, uint64_t n)
{
    size_t words = (size_t)((n + 63) / 64), old = (size_t)((c->njobs + 63) / 64);
    uint64_t *nb;

    if (n <= c->njobs)
        return 0;
    if (words > old) {
        nb = realloc(c->bits, (words ? words : 1) * sizeof(*nb));
        if (!nb)
            return -1;
        memset(nb + old, 0, (words - old) * sizeof(*nb));
        c->bits = nb;
    }
    c->njobs = n;
    return 0;
}

uint64_t ckpt_count_done(const ckpt_t *c)
{
    uint64_t n = 0;
    for (size_t i = 0; i < (c->njobs + 63) / 64; i++)
        n += (uint64_t)__builtin_popcountll(c->bits[i]);
    return n;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *p, size_t n)
{
    size_t olen = (n + 2) / 3 * 4;
    char *out = malloc(olen + 1), *o = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        *o++ = b64[(v >> 18) & 63];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int b64_val(char ch)
{
    const char *p = strchr(b64, ch);
    return ch && p ? (int)(p - b64) : -1;
}

/* Decodes into out (capacity cap); returns bytes or -1. */
static long b64_decode(const char *s, unsigned char *out, size_t cap)
{
    size_t n = strlen(s), o = 0;

    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int a = b64_val(s[i]), b = b64_val(s[i + 1]);
        int c = s[i + 2] == '=' ? 0 : b64_val(s[i + 2]);
        int d = s[i + 3] == '=' ? 0 : b64_val(s[i + 3]);
        uint32_t v;
        if (a < 0 || b < 0 || c < 0 || d < 0)
            return -1;
        v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        if (o < cap) out[o] = (unsigned char)(v >> 16);
        o++;
        if (s[i + 2] != '=') { if (o < cap) out[o] = (unsigned char)(v >> 8); o++; }
        if (s[i + 3] != '=') { if (o < cap) out[o] = (unsigned char)v; o++; }
    }
    return o <= cap ? (long)o : -1;
}

static json_t *u64_hex(uint64_t v)
{
    char s[17];
    snprintf(s, sizeof(s), "%016llx", (unsigned long long)v);
    return json_string(s);
}

static int hex_u64(const json_t *j, uint64_t *out)
{
    const char *s = json_string_value(j);
    char *end;

    if (!s || strlen(s) != 16)
        return -1;
    errno = 0;
    *out = strtoull(s, &end, 16);
    return errno || *end ? -1 : 0;
}

int ckpt_save(const char *path, const ckpt_t *c, const stats_t *stats)
{
    uint64_t prefix = 0;
    size_t words = (size_t)((c->njobs + 63) / 64), first;
    char *bits64 = NULL, *text = NULL;
    json_t *j = NULL;
    int rc = -1;

    /* whole leading words of done jobs */
    while (prefix / 64 < words && c->bits[prefix / 64] == UINT64_MAX &&
           prefix + 64 <= c->njobs)
        prefix += 64;
    first = (size_t)(prefix / 64);
    bits64 = b64_encode((const unsigned char *)(c->bits + first),
                        (words - first) * sizeof(uint64_t));
    if (!bits64)
        goto out;
    j = json_pack("{s:i,s:{s:s,s:I,s:o},s:o,s:I,s:I,s:I,s:I,s:s,s:b,s:o}",
                  "llmbatch_checkpoint", 1,
                  "input", "path", c->input_path ? c->input_path : "",
                  "size", (json_int_t)c->input_size, "hash", u64_hex(c->input_hash),
                  "settings", u64_hex(c->settings_hash),
                  "results_size", (json_int_t)c->results_size,
                  "errors_size", (json_int_t)c->errors_size,
                  "hwm_pp", (json_int_t)c->hwm,
                  "jobs", (json_int_t)c->njobs,
                  "done_bits", bits64,
                  "complete", c->complete,
                  "stats", stats ? stats_to_json(stats) : json_object());
    if (!j)
        goto out;
    json_object_set_new(j, "done_prefix", json_integer((json_int_t)prefix));
    json_object_set_new(j, "dialects", json_integer((json_int_t)c->dialects));
    if (c->shard_n) {
        json_object_set_new(j, "shard", json_integer((json_int_t)c->shard_i));
        json_object_set_new(j, "shards", json_integer((json_int_t)c->shard_n));
    }
    text = json_dumps(j, JSON_COMPACT);
    if (!text)
        goto out;
    rc = write_file_atomic(path, text, strlen(text));
out:
    free(text);
    free(bits64);
    json_decref(j);
    return rc;
}

static int get_nonneg(const json_t *o, const char *k, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int ckpt_load(const char *path, ckpt_t *c, stats_t *stats, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j, *in;
    uint64_t prefix, njobs, hwm;
    const char *bits64, *ipath;
    FILE *f = fopen(path, "r");
    int rc = -1;

    ckpt_init(c);
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    j = json_loadf(f, 0, &je);
    fclose(f);
    if (!j) {
        snprintf(err, errlen, "%s: not a readable checkpoint (%s)", path, je.text);
        return -1;
    }
    in = json_object_get(j, "input");
    bits64 = json_string_value(json_object_get(j, "done_bits"));
    ipath = json_string_value(json_object_get(in, "path"));
    if (json_integer_value(json_object_get(j, "llmbatch_checkpoint")) != 1 ||
        get_nonneg(in, "size", &c->input_size) ||
        hex_u64(json_object_get(in, "hash"), &c->input_hash) ||
        hex_u64(json_object_get(j, "settings"), &c->settings_hash) ||
        get_nonneg(j, "results_size", &c->results_size) ||
        get_nonneg(j, "errors_size", &c->errors_size) ||
        get_nonneg(j, "hwm_pp", &hwm) ||
        get_nonneg(j, "jobs", &njobs) ||
        get_nonneg(j, "done_prefix", &prefix) || !bits64 || prefix > njobs ||
        prefix % 64) {
        snprintf(err, errlen, "%s: not a valid llmbatch checkpoint", path);
        goto out;
    }
    c->hwm = (money_t)hwm;
    c->complete = json_is_true(json_object_get(j, "complete"));
    c->dialects = (unsigned)json_integer_value(json_object_get(j, "dialects"));
    if (json_object_get(j, "shards")) {
        json_int_t si = json_integer_value(json_object_get(j, "shard"));
        json_int_t sn = json_integer_value(json_object_get(j, "shards"));
        if (sn <= 0 || sn > SHARD_MAX || si < 0 || si >= sn) {
            snprintf(err, errlen, "%s: not a valid llmbatch checkpoint (shard)", path);
            goto out;
        }
        c->shard_i = (unsigned)si;
        c->shard_n = (unsigned)sn;
    }
    if (ipath && !(c->input_path = strdup(ipath)))
        goto oom;
    if (ckpt_resize(c, njobs))
        goto oom;
    for (uint64_t i = 0; i < prefix; i++)
        ckpt_mark(c, i);
    if (njobs) {
        size_t words = (size_t)((njobs + 63) / 64), first = (size_t)(prefix / 64);
        long got = b64_decode(bits64, (unsigned char *)(c->bits + first),
                              (words - first) * sizeof(uint64_t));
        if (got != (long)((words - first) * sizeof(uint64_t))) {
            snprintf(err, errlen, "%s: corrupt done-bitmap", path);
            goto out;
        }
    }
    if (stats && stats_from_json(stats, json_object_get(j, "stats"))) {
        snprintf(err, errlen, "%s: corrupt stats", path);
        goto out;
    }
    rc = 1;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    json_decref(j);
    if (rc < 0)
        ckpt_release(c);
    return rc;
}

uint64_t ckpt_jobs(const ckpt_t *c)
{
    return shard_jobs(c->njobs, c->shard_i, c->shard_n);
}
