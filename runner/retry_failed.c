/*
 * retry_failed: which failed jobs run again (see retry_failed.h).
 *
 * One streaming pass over the errors file: each line is kept (copied to
 * the temp file) or dropped (its job's done bit cleared).  The bitmap is
 * edited in a copy and handed back only when the temp file is complete
 * and fsynced, so a failure leaves the caller's state as it was.
 */
#include "retry_failed.h"
#include "checkpoint.h"
#include "lineid.h"
#include "output.h"
#include "reader.h"
#include "results.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

int retry_codes_parse(const char *spec, retry_codes_t *out, char *err, size_t errlen)
{
    const char *p, *end;

    memset(out, 0, sizeof *out);
    if (!spec) {
        out->all = 1;
        return 0;
    }
    p = spec;
    for (;;) {
        const char *a, *b;
        size_t n, i;
        char item[RETRY_CODE_MAX + 1];

        end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        for (a = p; a < end && isspace((unsigned char)*a); a++)
            ;
        for (b = end; b > a && isspace((unsigned char)b[-1]); b--)
            ;
        n = (size_t)(b - a);
        if (n == 0) {
            snprintf(err, errlen, "--retry-failed: empty item in \"%.100s\"", spec);
            return -1;
        }
        if (n >= RETRY_CODE_MAX) {
            snprintf(err, errlen, "--retry-failed: \"%.*s...\" is too long", 40, a);
            return -1;
        }
        memcpy(item, a, n);
        item[n] = '\0';
        if (isdigit((unsigned char)item[0])) {
            int lo, hi;
            if (n == 3 && item[0] >= '1' && item[0] <= '5' && item[1] == 'x' && item[2] == 'x') {
                lo = (item[0] - '0') * 100;
                hi = lo + 99;
            } else if (n == 3 && isdigit((unsigned char)item[1]) &&
                       isdigit((unsigned char)item[2]) && item[0] >= '1' && item[0] <= '5') {
                lo = hi = (item[0] - '0') * 100 + (item[1] - '0') * 10 + (item[2] - '0');
            } else {
                snprintf(err, errlen, "--retry-failed: \"%s\" is not a status (100-599) or "
                         "a class (1xx-5xx)", item);
                return -1;
            }
            if (out->nstatus == RETRY_MAX_ITEMS) {
                snprintf(err, errlen, "--retry-failed: more than %d statuses", RETRY_MAX_ITEMS);
                return -1;
            }
            out->status[out->nstatus].lo = lo;
            out->status[out->nstatus].hi = hi;
            out->nstatus++;
        } else {
            for (i = 0; i < n; i++) {
                char ch = item[i];
                if (!(isalnum((unsigned char)ch) || ch == '_' || ch == '-' || ch == '.')) {
                    snprintf(err, errlen, "--retry-failed: \"%s\" is not an error code "
                             "(letters, digits, _ - .) or a status such as 429 or 5xx", item);
                    return -1;
                }
            }
            if (out->ncodes == RETRY_MAX_ITEMS) {
                snprintf(err, errlen, "--retry-failed: more than %d codes", RETRY_MAX_ITEMS);
                return -1;
            }
            memcpy(out->codes[out->ncodes++], item, n + 1);
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }
    return 0;
}

int retry_codes_match(const retry_codes_t *c, const char *code, long status)
{
    size_t i;

    if (c->all)
        return !code || strcmp(code, "invalid_input") != 0;
    if (code)
        for (i = 0; i < c->ncodes; i++)
            if (strcmp(code, c->codes[i]) == 0)
                return 1;
    for (i = 0; i < c->nstatus; i++)
        if (status >= c->status[i].lo && status <= c->status[i].hi)
            return 1;
    return 0;
}

char *retry_failed_tmp_path(const char *errors_path)
{
    size_t n = strlen(errors_path) + sizeof RETRY_TMP_SUFFIX;
    char *p = malloc(n);

    if (p)
        snprintf(p, n, "%s%s", errors_path, RETRY_TMP_SUFFIX);
    return p;
}

static void rf_count(retry_result_t *r, const char *code)
{
    size_t i;

    if (!code)
        code = "";
    for (i = 0; i < r->ncodes; i++) {
        if (strcmp(r->by_code[i].code, code) == 0) {
            r->by_code[i].n++;
            return;
        }
    }
    if (r->ncodes < RETRY_MAX_ITEMS) {
        snprintf(r->by_code[r->ncodes].code, RETRY_CODE_MAX, "%s", code);
        r->by_code[r->ncodes].n = 1;
        r->ncodes++;
        return;
    }
    r->other++;
}

/* Cuts path to size (an uncommitted tail).  0; 1 when the file does not
 * exist and size is 0 (nothing failed yet); -1 with err. */
static int rf_cut(const char *path, uint64_t size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    long long have;

    if (!f && errno == ENOENT && size == 0)
        return 1;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fseeko(f, 0, SEEK_END) != 0 || (have = (long long)ftello(f)) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        fclose(f);
        return -1;
    }
    fclose(f);
    if ((uint64_t)have < size) {
        snprintf(err, errlen, "%s is shorter (%lld bytes) than the checkpoint says (%llu)",
                 path, have, (unsigned long long)size);
        return -1;
    }
    if ((uint64_t)have > size && truncate(path, (off_t)size) != 0) {
        snprintf(err, errlen, "%s: truncate: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Decides one line: 1 drop (and *ord set), 0 keep. */
static int rf_decide(const char *line, size_t len, uint64_t seed, uint64_t njobs,
                     const retry_codes_t *codes, retry_result_t *r, uint64_t *ord)
{
    json_t *root = json_loadb(line, len, 0, NULL);
    json_t *error, *resp, *id, *code;
    long status = 0;
    int drop = 0;

    error = json_object_get(root, "error");
    if (!json_is_object(error)) {
        r->unreadable++;
        goto out;
    }
    code = json_object_get(error, "code");
    resp = json_object_get(root, "response");
    if (json_is_integer(json_object_get(resp, "status_code")))
        status = (long)json_integer_value(json_object_get(resp, "status_code"));
    if (!retry_codes_match(codes, json_string_value(code), status))
        goto out;
    id = json_object_get(root, "id");
    if (!json_is_string(id) ||
        !results_id_ordinal(json_string_value(id), json_string_length(id), seed, ord) ||
        *ord >= njobs) {
        r->not_ours++;
        goto out;
    }
    rf_count(r, json_string_value(code));
    drop = 1;
out:
    json_decref(root);
    return drop;
}

int retry_failed_prepare(const char *errors_path, uint64_t committed_size, uint64_t seed,
                         const retry_codes_t *codes, uint64_t *bits, uint64_t njobs,
                         const char *tmp_out, int out_gz, retry_result_t *res,
                         char *err, size_t errlen)
{
    size_t words = (size_t)((njobs + 63) / 64);
    uint64_t *copy = malloc((words ? words : 1) * sizeof *copy);
    uint64_t lineno, ord;
    reader_t *rd = NULL;
    output_t out;
    int out_open = 0, rc = -1, got;
    buf_t lb = BUF_INIT;
    const char *line;
    size_t len;

    memset(res, 0, sizeof *res);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (words)
        memcpy(copy, bits, words * sizeof *copy);
    if ((got = rf_cut(errors_path, committed_size, err, errlen)) < 0)
        goto out;
    if (got == 0 && !(rd = reader_open(errors_path, err, errlen)))
        goto out;
    if (output_open_new(&out, tmp_out, out_gz, err, errlen) != 0)
        goto out;
    out_open = 1;
    while (rd && (got = reader_next(rd, &line, &len, &lineno)) != READER_EOF) {
        if (got == READER_ERR) {
            snprintf(err, errlen, "%s: %s", errors_path, reader_error(rd));
            goto out;
        }
        if (got == READER_TOOLONG) {
            /* cannot copy what was skipped: refuse rather than lose it */
            snprintf(err, errlen, "%s:%llu: line is longer than %u MiB", errors_path,
                     (unsigned long long)lineno, (unsigned)(READER_MAX_LINE >> 20));
            goto out;
        }
        if (lineid_blank(line, len))
            continue;
        if (rf_decide(line, len, seed, njobs, codes, res, &ord)) {
            res->lines_removed++;
            if ((copy[ord >> 6] >> (ord & 63)) & 1) {
                copy[ord >> 6] &= ~((uint64_t)1 << (ord & 63));
                res->n_retry++;
            }
            continue;
        }
        buf_reset(&lb);
        if (buf_append(&lb, line, len) < 0 || buf_putc(&lb, '\n') < 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        if (output_append(&out, lb.data, lb.len) != 0) {
            snprintf(err, errlen, "%s: %s", tmp_out, strerror(errno));
            goto out;
        }
        res->lines_kept++;
    }
    if (output_commit(&out) != 0) {
        snprintf(err, errlen, "%s: %s", tmp_out, strerror(errno));
        goto out;
    }
    res->kept_size = out.committed;
    if (words)
        memcpy(bits, copy, words * sizeof *copy);
    rc = 0;
out:
    if (out_open)
        output_close(&out);
    if (rc != 0 && out_open)
        unlink(tmp_out);
    reader_free(rd);
    buf_release(&lb);
    free(copy);
    return rc;
}

int retry_failed_commit(const char *tmp_out, const char *errors_path)
{
    return staged_commit(tmp_out, errors_path);
}

int retry_failed_finish_pending(const char *errors_path)
{
    return staged_finish_pending(errors_path, RETRY_TMP_SUFFIX);
}

int retry_failed_discard(const char *errors_path)
{
    return staged_discard(errors_path, RETRY_TMP_SUFFIX);
}

int retry_failed_apply(ckpt_t *ck, const char *ckpt_path, stats_t *stats,
                       const char *errors, int errors_gz, const retry_codes_t *codes,
                       retry_result_t *res, char *err, size_t errlen)
{
    char *tmp = retry_failed_tmp_path(errors);
    uint64_t invalid = 0;
    int rc = -1;

    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* step 1 */
    if (retry_failed_prepare(errors, ck->errors_size, ck->input_hash, codes, ck->bits,
                             ck->njobs, tmp, errors_gz, res, err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < res->ncodes; i++)
        if (strcmp(res->by_code[i].code, "invalid_input") == 0)
            invalid = res->by_code[i].n;
    test_kill_point("retry:1");
    /* step 2 */
    ck->errors_size = res->kept_size;
    ck->retry_swap = 1;
    if (res->n_retry) {
        ck->complete = 0;
        ck->ordered = 0;
    }
    if (stats) {
        stats->failed -= res->lines_removed < stats->failed ? res->lines_removed : stats->failed;
        stats->invalid -= invalid < stats->invalid ? invalid : stats->invalid;
    }
    if (ckpt_save(ckpt_path, ck, stats) != 0) {
        snprintf(err, errlen, "%s: %s", ckpt_path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    test_kill_point("retry:2");
    /* step 3 */
    if (retry_failed_commit(tmp, errors) != 0) {
        snprintf(err, errlen, "%s: rename: %s (rerun to finish)", errors, strerror(errno));
        goto out;
    }
    test_kill_point("retry:3");
    /* step 4 */
    ck->retry_swap = 0;
    if (ckpt_save(ckpt_path, ck, stats) != 0) {
        snprintf(err, errlen, "%s: %s", ckpt_path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

int retry_failed_resume(ckpt_t *ck, const char *ckpt_path, const stats_t *stats,
                        const char *errors, char *err, size_t errlen)
{
    if (!ck->retry_swap) {
        if (retry_failed_discard(errors) != 0) {
            snprintf(err, errlen, "removing a stale %s file: %s", RETRY_TMP_SUFFIX,
                     strerror(errno));
            return -1;
        }
        return 0;
    }
    if (retry_failed_finish_pending(errors) < 0) {
        snprintf(err, errlen, "%s: finishing --retry-failed: %s", errors, strerror(errno));
        return -1;
    }
    ck->retry_swap = 0;
    if (ckpt_save(ckpt_path, ck, stats) != 0) {
        snprintf(err, errlen, "%s: %s", ckpt_path, strerror(errno));
        return -1;
    }
    return 0;
}
