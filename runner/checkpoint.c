/*
 * checkpoint: JSON form of the durable job state (see checkpoint.h).  The
 * done-bitmap is stored as a count of leading done jobs plus base64 of the
 * rest, which keeps the file small for runs that finish roughly in order.
 *
 * Integrity (format 2): the file is the compact JSON text T of every field,
 * with ,"checksum":"sha256:HEX"} put in place of T's final "}", where HEX is
 * SHA-256 of T itself.  The checksum covers the exact bytes, so no
 * re-serialisation can disagree with it.  Format 1 (no checksum, written by
 * older versions) is still read, checked for impossible values, and
 * rewritten as format 2 at the run's first commit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "checkpoint.h"
#include "shard.h"
#include "output.h"
#include "sha256.h"

#define CKPT_FORMAT 2
#define CKPT_SUM_HEAD ",\"checksum\":\"sha256:"
#define CKPT_SUM_LEN (sizeof(CKPT_SUM_HEAD) - 1 + 64 + 2)   /* head, hex, "} */
#define CKPT_MAX_BYTES ((size_t)1 << 30)

void ckpt_init(ckpt_t *c)
{
    memset(c, 0, sizeof(*c));
}

void ckpt_release(ckpt_t *c)
{
    free(c->bits);
    free(c->input_path);
    free(c->results_path);
    free(c->errors_path);
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
                  "llmbatch_checkpoint", CKPT_FORMAT,
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
    if (c->results_path)
        json_object_set_new(j, "results_path", json_string(c->results_path));
    if (c->errors_path)
        json_object_set_new(j, "errors_path", json_string(c->errors_path));
    json_object_set_new(j, "dialects", json_integer((json_int_t)c->dialects));
    if (c->shard_n) {
        json_object_set_new(j, "shard", json_integer((json_int_t)c->shard_i));
        json_object_set_new(j, "shards", json_integer((json_int_t)c->shard_n));
    }
    if (c->ordered)
        json_object_set_new(j, "ordered", json_true());
    if (c->reorder_ready) {
        json_object_set_new(j, "reorder", json_string("ready"));
        json_object_set_new(j, "reorder_results_size",
                            json_integer((json_int_t)c->reorder_results_size));
        json_object_set_new(j, "reorder_errors_size",
                            json_integer((json_int_t)c->reorder_errors_size));
    }
    if (c->retry_swap)
        json_object_set_new(j, "retry_swap", json_string("pending"));
    text = json_dumps(j, JSON_COMPACT);
    if (!text)
        goto out;
    {
        size_t n = strlen(text);
        unsigned char d[SHA256_DIGEST_LEN];
        char hex[65], *full = malloc(n + CKPT_SUM_LEN + 1);

        if (!full || n < 2 || text[n - 1] != '}') {
            free(full);
            goto out;
        }
        sha256(text, n, d);
        sha256_hex(d, hex);
        snprintf(full, n + CKPT_SUM_LEN + 1, "%.*s%s%s\"}", (int)(n - 1), text,
                 CKPT_SUM_HEAD, hex);
        rc = write_file_atomic(path, full, strlen(full));
        free(full);
    }
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

/* The whole file into *out (NUL-terminated).  1, 0 no such file, -1. */
static int slurp(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    size_t n = 0, cap = 0;

    *out = NULL;
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t got;
        if (n + 65536 + 1 > cap) {
            char *np;
            cap = cap ? cap * 2 : 131072;
            if (cap > CKPT_MAX_BYTES || !(np = realloc(p, cap))) {
                snprintf(err, errlen, "%s: %s", path, cap > CKPT_MAX_BYTES ?
                         "too large to be a checkpoint" : "out of memory");
                goto fail;
            }
            p = np;
        }
        got = fread(p + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                snprintf(err, errlen, "%s: read error", path);
                goto fail;
            }
            break;
        }
    }
    fclose(f);
    p[n] = '\0';
    *out = p;
    *len = n;
    return 1;
fail:
    fclose(f);
    free(p);
    return -1;
}

/* Format 2: 0 if text ends with a checksum that matches; -1 if not. */
static int verify_sum(const char *text, size_t n)
{
    const size_t head = sizeof(CKPT_SUM_HEAD) - 1;
    unsigned char d[SHA256_DIGEST_LEN];
    char hex[65];
    sha256_ctx_t h;
    const char *sum;

    if (n < CKPT_SUM_LEN + 2)
        return -1;
    sum = text + n - CKPT_SUM_LEN;
    if (memcmp(sum, CKPT_SUM_HEAD, head) != 0 || memcmp(sum + head + 64, "\"}", 2) != 0)
        return -1;
    sha256_init(&h);
    sha256_update(&h, text, (size_t)(sum - text));
    sha256_update(&h, "}", 1);
    sha256_final(&h, d);
    sha256_hex(d, hex);
    return memcmp(hex, sum + head, 64) == 0 ? 0 : -1;
}

/* Money that cannot be: negative, or near the saturation limit. */
static int money_impossible(money_t m)
{
    return m < 0 || m >= MONEY_MAX / 2;
}

int ckpt_load(const char *path, ckpt_t *c, stats_t *stats, char *err, size_t errlen)
{
    static const char fix[] = "rerun with --fresh to start over (the old files are "
                              "moved aside, not deleted)";
    json_error_t je;
    json_t *j = NULL, *in;
    uint64_t prefix, njobs, hwm;
    const char *bits64, *ipath;
    char *text = NULL;
    size_t tlen = 0;
    json_int_t format;
    int rc;

    ckpt_init(c);
    rc = slurp(path, &text, &tlen, err, errlen);
    if (rc <= 0)
        return rc;
    rc = -1;
    j = json_loadb(text, tlen, 0, &je);
    if (!j) {
        snprintf(err, errlen, "%s: not a readable checkpoint (%s): it was truncated or "
                 "edited; %s", path, je.text, fix);
        goto out;
    }
    format = json_integer_value(json_object_get(j, "llmbatch_checkpoint"));
    if (format == CKPT_FORMAT) {
        if (verify_sum(text, tlen) != 0) {
            snprintf(err, errlen, "%s: the checksum does not match the content: the "
                     "checkpoint was edited or corrupted, so which jobs are done cannot be "
                     "trusted; %s", path, fix);
            goto out;
        }
    } else if (format == 1 && !json_object_get(j, "checksum")) {
        c->legacy = 1;
    } else {
        snprintf(err, errlen, "%s: not a valid llmbatch checkpoint (unknown format or "
                 "damaged header); %s", path, fix);
        goto out;
    }
    in = json_object_get(j, "input");
    bits64 = json_string_value(json_object_get(j, "done_bits"));
    ipath = json_string_value(json_object_get(in, "path"));
    if (!json_is_object(in) ||
        get_nonneg(in, "size", &c->input_size) ||
        hex_u64(json_object_get(in, "hash"), &c->input_hash) ||
        hex_u64(json_object_get(j, "settings"), &c->settings_hash) ||
        get_nonneg(j, "results_size", &c->results_size) ||
        get_nonneg(j, "errors_size", &c->errors_size) ||
        get_nonneg(j, "hwm_pp", &hwm) ||
        get_nonneg(j, "jobs", &njobs) ||
        get_nonneg(j, "done_prefix", &prefix) || !bits64 || prefix > njobs ||
        prefix % 64) {
        snprintf(err, errlen, "%s: not a valid llmbatch checkpoint (a field is missing or "
                 "out of range); %s", path, fix);
        goto out;
    }
    /* the bitmap text must have exactly the length njobs implies (checked
     * before njobs sizes an allocation) */
    {
        uint64_t bytes = ((njobs + 63) / 64 - prefix / 64) * 8;
        if (njobs > ((uint64_t)1 << 40) || strlen(bits64) != (bytes + 2) / 3 * 4) {
            snprintf(err, errlen, "%s: impossible job count %llu for its done-bitmap; %s",
                     path, (unsigned long long)njobs, fix);
            goto out;
        }
    }
    if (money_impossible((money_t)hwm)) {
        snprintf(err, errlen, "%s: impossible amount in flight (hwm_pp %llu); %s", path,
                 (unsigned long long)hwm, fix);
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
    c->ordered = json_is_true(json_object_get(j, "ordered"));
    {
        const char *ro = json_string_value(json_object_get(j, "reorder"));
        const char *rs = json_string_value(json_object_get(j, "retry_swap"));
        if (ro && strcmp(ro, "ready") == 0) {
            c->reorder_ready = 1;
            if (get_nonneg(j, "reorder_results_size", &c->reorder_results_size) ||
                get_nonneg(j, "reorder_errors_size", &c->reorder_errors_size)) {
                snprintf(err, errlen, "%s: not a valid llmbatch checkpoint", path);
                goto out;
            }
        }
        c->retry_swap = rs && strcmp(rs, "pending") == 0;
    }
    if (ipath && !(c->input_path = strdup(ipath)))
        goto oom;
    {
        const char *rp = json_string_value(json_object_get(j, "results_path"));
        const char *ep = json_string_value(json_object_get(j, "errors_path"));
        if ((rp && !(c->results_path = strdup(rp))) || (ep && !(c->errors_path = strdup(ep))))
            goto oom;
    }
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
    if (njobs % 64 && c->bits[njobs / 64] >> (njobs % 64)) {
        snprintf(err, errlen, "%s: jobs beyond the last one (%llu) are marked done; %s",
                 path, (unsigned long long)njobs, fix);
        goto out;
    }
    if (c->complete && ckpt_count_done(c) != ckpt_jobs(c)) {
        snprintf(err, errlen, "%s: marked complete, but %llu of its %llu jobs are not done; "
                 "%s", path, (unsigned long long)(ckpt_jobs(c) - ckpt_count_done(c)),
                 (unsigned long long)ckpt_jobs(c), fix);
        goto out;
    }
    if (stats && stats_from_json(stats, json_object_get(j, "stats"))) {
        snprintf(err, errlen, "%s: corrupt stats; %s", path, fix);
        goto out;
    }
    if (stats && (money_impossible(stats->spent) || money_impossible(stats->unconfirmed) ||
                  money_impossible(stats->possibly_billed) ||
                  money_impossible(stats->estimated) || money_impossible(stats->cache_saved))) {
        snprintf(err, errlen, "%s: impossible amount of money in its stats (negative or "
                 "overflowing); %s", path, fix);
        goto out;
    }
    rc = 1;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    json_decref(j);
    free(text);
    if (rc < 0)
        ckpt_release(c);
    return rc;
}

uint64_t ckpt_jobs(const ckpt_t *c)
{
    return shard_jobs(c->njobs, c->shard_i, c->shard_n);
}

/* 0 if path holds at least `committed` bytes; else -1 with the reason. */
static int check_output(const char *what, const char *path, uint64_t committed,
                        const char *ckpt_path, char *err, size_t errlen)
{
    struct stat st;

    if (committed == 0)
        return 0;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "the %s %s is missing (%s), but the checkpoint %s says it "
                 "holds %llu committed bytes", what, path, strerror(errno), ckpt_path,
                 (unsigned long long)committed);
        return -1;
    }
    if ((uint64_t)st.st_size < committed) {
        snprintf(err, errlen, "the %s %s is shorter (%lld bytes) than the %llu bytes the "
                 "checkpoint %s says were committed: it was truncated or edited by hand "
                 "(this is not a full disk)", what, path, (long long)st.st_size,
                 (unsigned long long)committed, ckpt_path);
        return -1;
    }
    return 0;
}

int ckpt_check_resume(const ckpt_t *c, const char *ckpt_path, const char *results,
                      const char *errors, char *err, size_t errlen)
{
    uint64_t want_ok = c->results_size, want_err = c->errors_size;
    size_t n;

    /* a swap that a crash interrupted (reorder, --retry-failed) may have put
     * the new file in place already: it is finished later, so the sizes of
     * either side are fine here */
    if (c->reorder_ready) {
        if (c->reorder_results_size < want_ok)
            want_ok = c->reorder_results_size;
        if (c->reorder_errors_size < want_err)
            want_err = c->reorder_errors_size;
    }
    if (c->retry_swap)
        want_err = 0;
    if (check_output("results file", results, want_ok, ckpt_path, err, errlen) ||
        check_output("errors file", errors, want_err, ckpt_path, err, errlen)) {
        n = strlen(err);
        snprintf(err + n, errlen - n, ".  Nothing was changed: to resume, put the file "
                 "back as it was; to start over, rerun with --fresh (the old files are "
                 "moved aside, not deleted)");
        return -1;
    }
    if (c->legacy)
        fprintf(stderr, "llmbatch: note: %s has no checksum (written by an older llmbatch); "
                "its values were checked and it is rewritten with one\n", ckpt_path);
    return 0;
}
