/*
 * reorder: output files into input order (see reorder.h).
 *
 * Two external sorts:
 *   join  (key = hash of custom_id; ties by the full id, then input before
 *          output): records "ID\0" + tag + u64 (+ the line for outputs).
 *          Tag 'i' carries an input position, tag 'o' an output line
 *          number.  Read in order, each id's input positions come first,
 *          then its output lines, so the join holds one id at a time.
 *   place (key = position, or PLACE_TAIL + line number for unmatched
 *          lines): records are the lines; its order is the file written.
 * Each sort gets half of the memory budget.  The temp files of both live in
 * the directory of tmp_out and are unlinked at creation.
 */
#include "reorder.h"
#include "checkpoint.h"
#include "extsort.h"
#include "lineid.h"
#include "output.h"
#include "reader.h"
#include "results.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLACE_TAIL ((uint64_t)1 << 63)
#define MAX_BAD_SHOWN 3

typedef struct ro_ctx {
    const char      *input, *path;
    extsort_t       *join, *place;
    reorder_stats_t *st;
    output_t         out;
    int              out_open;
    buf_t            rec, cid, bid;
    buf_t            cur_id;       /* join: the id being matched */
    int              cur_set;      /* cur_id is valid */
    int              cur_has_pos;
    uint64_t         cur_pos;
    uint64_t         njoin;        /* output lines waiting for the join */
    char            *err;
    size_t           errlen;
} ro_ctx_t;

char *reorder_tmp_path(const char *path)
{
    size_t n = strlen(path) + sizeof REORDER_TMP_SUFFIX;
    char *p = malloc(n);

    if (p)
        snprintf(p, n, "%s%s", path, REORDER_TMP_SUFFIX);
    return p;
}

/* The directory part of path ("." when none), malloc'd. */
static char *ro_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d;

    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    d = malloc((size_t)(slash - path) + 1);
    if (d) {
        memcpy(d, path, (size_t)(slash - path));
        d[slash - path] = '\0';
    }
    return d;
}

/* join order for equal hashes: the id bytes (up to their NUL), then tag */
static int ro_join_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    const char *pa = a, *pb = b;
    size_t la = strnlen(pa, alen), lb = strnlen(pb, blen);
    size_t m = la < lb ? la : lb;
    int c = memcmp(pa, pb, m);

    if (c)
        return c;
    if (la != lb)
        return la < lb ? -1 : 1;
    /* tags: 'i' < 'o' */
    if (la + 1 < alen && lb + 1 < blen && pa[la + 1] != pb[lb + 1])
        return (unsigned char)pa[la + 1] < (unsigned char)pb[lb + 1] ? -1 : 1;
    return 0;
}

static int ro_join_add(ro_ctx_t *c, const char *id, size_t idlen, char tag, uint64_t num,
                       const char *line, size_t len)
{
    buf_reset(&c->rec);
    if (buf_append(&c->rec, id, idlen) < 0 || buf_putc(&c->rec, '\0') < 0 ||
        buf_putc(&c->rec, tag) < 0 || buf_append(&c->rec, &num, sizeof num) < 0 ||
        (len && buf_append(&c->rec, line, len) < 0)) {
        snprintf(c->err, c->errlen, "out of memory");
        return -1;
    }
    if (extsort_add(c->join, lineid_hash(id, idlen), c->rec.data, c->rec.len) != 0) {
        snprintf(c->err, c->errlen, "sorting %s: %s", c->path, extsort_error(c->join));
        return -1;
    }
    return 0;
}

static int ro_place_add(ro_ctx_t *c, uint64_t key, const char *line, size_t len)
{
    if (extsort_add(c->place, key, line, len) != 0) {
        snprintf(c->err, c->errlen, "sorting %s: %s", c->path, extsort_error(c->place));
        return -1;
    }
    return 0;
}

/* Pass 1: the output file.  Lines placed by their id go straight to the
 * place sort; the others wait for the join.  Unreadable lines are counted
 * and reported together at the end. */
static int ro_read_output(ro_ctx_t *c, const reorder_opts_t *o)
{
    char lerr[128], first[512] = "";
    uint64_t lineno = 0, nbad = 0, ord;
    const char *line;
    size_t len;
    reader_t *rd = reader_open(c->path, c->err, c->errlen);
    int got, rc = -1;

    if (!rd)
        return -1;
    while ((got = reader_next(rd, &line, &len, &lineno)) != READER_EOF) {
        if (got == READER_ERR) {
            snprintf(c->err, c->errlen, "%s: %s", c->path, reader_error(rd));
            goto out;
        }
        if (got == READER_TOOLONG) {
            snprintf(lerr, sizeof lerr, "line is longer than %u MiB",
                     (unsigned)(READER_MAX_LINE >> 20));
        } else if (lineid_blank(line, len)) {
            c->st->blank++;
            continue;
        } else if (lineid_output(line, len, &c->cid, &c->bid, lerr, sizeof lerr) == 0) {
            if (o->have_seed && c->bid.len &&
                results_id_ordinal(c->bid.data, c->bid.len, o->seed, &ord) &&
                ord < PLACE_TAIL) {
                if (ro_place_add(c, ord, line, len) != 0)
                    goto out;
                c->st->by_id++;
            } else {
                if (ro_join_add(c, c->cid.len ? c->cid.data : "", c->cid.len, 'o',
                                lineno, line, len) != 0)
                    goto out;
                c->njoin++;
            }
            continue;
        } else if (!strcmp(lerr, "out of memory")) {
            snprintf(c->err, c->errlen, "out of memory");
            goto out;
        }
        if (nbad++ < MAX_BAD_SHOWN) {
            size_t n = strlen(first);
            snprintf(first + n, sizeof first - n, "%s%s:%llu: %s", n ? "; " : "",
                     c->path, (unsigned long long)lineno, lerr);
        }
    }
    if (nbad) {
        snprintf(c->err, c->errlen, "%s (%llu unreadable line%s in all; nothing was changed)",
                 first, (unsigned long long)nbad, nbad == 1 ? "" : "s");
        rc = -2;
        goto out;
    }
    rc = 0;
out:
    reader_free(rd);
    return rc;
}

/* Pass 2 (only when some lines need it): the input's custom_ids. */
static int ro_read_input(ro_ctx_t *c)
{
    uint64_t lineno = 0, ord = 0;
    const char *line;
    size_t len;
    reader_t *rd = reader_open(c->input, c->err, c->errlen);
    int got, rc = -1;

    if (!rd)
        return -1;
    while ((got = reader_next(rd, &line, &len, &lineno)) != READER_EOF) {
        if (got == READER_ERR) {
            snprintf(c->err, c->errlen, "%s: %s", c->input, reader_error(rd));
            goto out;
        }
        if (got == READER_LINE && lineid_blank(line, len))
            continue;
        if (got == READER_TOOLONG) {
            buf_reset(&c->cid);
            if (buf_printf(&c->cid, "line-%llu", (unsigned long long)lineno) < 0) {
                snprintf(c->err, c->errlen, "out of memory");
                goto out;
            }
        } else if (lineid_input(line, len, lineno, &c->cid) != 0) {
            snprintf(c->err, c->errlen, "out of memory");
            goto out;
        }
        if (ro_join_add(c, c->cid.data, c->cid.len, 'i', ord, NULL, 0) != 0)
            goto out;
        ord++;
    }
    rc = 0;
out:
    reader_free(rd);
    return rc;
}

/* The join: records arrive grouped by id, input positions first. */
static int ro_join_emit(uint64_t key, const void *data, size_t len, void *arg)
{
    ro_ctx_t *c = arg;
    const char *p = data;
    size_t idlen = strnlen(p, len);
    uint64_t num;
    char tag;

    (void)key;
    if (idlen + 2 + sizeof num > len) {
        snprintf(c->err, c->errlen, "internal error: short join record");
        return -1;
    }
    tag = p[idlen + 1];
    memcpy(&num, p + idlen + 2, sizeof num);
    if (!c->cur_set || c->cur_id.len != idlen || memcmp(c->cur_id.data, p, idlen) != 0) {
        buf_reset(&c->cur_id);
        if (buf_append(&c->cur_id, p, idlen) < 0) {
            snprintf(c->err, c->errlen, "out of memory");
            return -1;
        }
        c->cur_set = 1;
        c->cur_has_pos = 0;
    }
    if (tag == 'i') {
        if (!c->cur_has_pos) {
            c->cur_has_pos = 1;
            c->cur_pos = num;
        }
        return 0;
    }
    p += idlen + 2 + sizeof num;
    len -= idlen + 2 + sizeof num;
    if (c->cur_has_pos) {
        c->st->by_custom_id++;
        return ro_place_add(c, c->cur_pos, p, len);
    }
    c->st->unmatched++;
    if (!c->st->first_unmatched || num < c->st->first_unmatched)
        c->st->first_unmatched = num;
    return ro_place_add(c, PLACE_TAIL + num, p, len);
}

static int ro_write_emit(uint64_t key, const void *data, size_t len, void *arg)
{
    ro_ctx_t *c = arg;

    (void)key;
    buf_reset(&c->rec);
    if (buf_append(&c->rec, data, len) < 0 || buf_putc(&c->rec, '\n') < 0) {
        snprintf(c->err, c->errlen, "out of memory");
        return -1;
    }
    if (output_append(&c->out, c->rec.data, c->rec.len) != 0) {
        snprintf(c->err, c->errlen, "%s: %s", c->out.path, strerror(errno));
        return -1;
    }
    c->st->lines++;
    return 0;
}

static int ro_ends_gz(const char *s)
{
    size_t n = strlen(s);
    return n >= 3 && strcmp(s + n - 3, ".gz") == 0;
}

int reorder_file(const char *input, const char *path, const char *tmp_out,
                 const reorder_opts_t *opts, reorder_stats_t *st,
                 char *err, size_t errlen)
{
    static const reorder_opts_t defaults = { 0, 0, 0, -1 };
    const reorder_opts_t *o = opts ? opts : &defaults;
    reorder_stats_t dummy;
    ro_ctx_t c;
    char *dir = ro_dirname(tmp_out);
    size_t half = (o->mem_budget ? o->mem_budget : EXTSORT_DEFAULT_BUDGET) / 2;
    int rc = -1, erc;

    memset(&c, 0, sizeof c);
    if (errlen)
        err[0] = '\0';
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof *st);
    c.input = input;
    c.path = path;
    c.st = st;
    c.err = err;
    c.errlen = errlen;
    buf_init(&c.rec);
    buf_init(&c.cid);
    buf_init(&c.bid);
    buf_init(&c.cur_id);
    if (!dir || !(c.join = extsort_new(dir, half, ro_join_cmp)) ||
        !(c.place = extsort_new(dir, half, NULL))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if ((erc = ro_read_output(&c, o)) != 0) {
        rc = erc;
        goto out;
    }
    if (c.njoin > 0 && ro_read_input(&c) != 0)
        goto out;
    erc = extsort_finish(c.join, ro_join_emit, &c);
    if (erc != 0) {
        if (erc == -1 && c.err[0] == '\0')
            snprintf(err, errlen, "sorting %s: %s", path, extsort_error(c.join));
        goto out;
    }
    extsort_free(c.join);
    c.join = NULL;
    if (output_open_new(&c.out, tmp_out, o->out_gz < 0 ? ro_ends_gz(path) : o->out_gz,
                        err, errlen) != 0)
        goto out;
    c.out_open = 1;
    erc = extsort_finish(c.place, ro_write_emit, &c);
    if (erc != 0) {
        if (erc == -1 && c.err[0] == '\0')
            snprintf(err, errlen, "sorting %s: %s", path, extsort_error(c.place));
        goto out;
    }
    if (output_commit(&c.out) != 0) {
        snprintf(err, errlen, "%s: %s", tmp_out, strerror(errno));
        goto out;
    }
    st->out_size = c.out.committed;
    rc = 0;
out:
    if (c.out_open)
        output_close(&c.out);
    if (rc != 0)
        unlink(tmp_out);
    extsort_free(c.join);
    extsort_free(c.place);
    buf_release(&c.rec);
    buf_release(&c.cid);
    buf_release(&c.bid);
    buf_release(&c.cur_id);
    free(dir);
    return rc;
}

int reorder_commit(const char *tmp_out, const char *path)
{
    return staged_commit(tmp_out, path);
}

int reorder_finish_pending(const char *path)
{
    return staged_finish_pending(path, REORDER_TMP_SUFFIX);
}

int reorder_discard(const char *path)
{
    return staged_discard(path, REORDER_TMP_SUFFIX);
}

/* Step 4: the checkpoint names the renamed files. */
static int ro_ckpt_step4(ckpt_t *ck, const char *ckpt_path, const stats_t *stats,
                         char *err, size_t errlen)
{
    ck->results_size = ck->reorder_results_size;
    ck->errors_size = ck->reorder_errors_size;
    ck->reorder_ready = 0;
    ck->ordered = 1;
    if (ckpt_save(ckpt_path, ck, stats) != 0) {
        snprintf(err, errlen, "%s: %s", ckpt_path, strerror(errno));
        return -1;
    }
    return 0;
}

int reorder_run_outputs(ckpt_t *ck, const char *ckpt_path, const stats_t *stats,
                        const char *input, const char *results, const char *errors,
                        size_t mem_budget, reorder_stats_t *st, char *err, size_t errlen)
{
    reorder_opts_t o = { mem_budget, 1, ck->input_hash, -1 };
    reorder_stats_t local[2];
    char *tr = reorder_tmp_path(results), *te = reorder_tmp_path(errors);
    int rc = -1, have_errors = access(errors, F_OK) == 0;

    if (!st)
        st = local;
    memset(st, 0, 2 * sizeof *st);
    if (!tr || !te) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* step 1 */
    if (reorder_file(input, results, tr, &o, &st[0], err, errlen) != 0)
        goto out;
    if (have_errors && reorder_file(input, errors, te, &o, &st[1], err, errlen) != 0) {
        unlink(tr);
        goto out;
    }
    test_kill_point("reorder:1");
    /* step 2 */
    ck->reorder_ready = 1;
    ck->reorder_results_size = st[0].out_size;
    ck->reorder_errors_size = have_errors ? st[1].out_size : ck->errors_size;
    if (ckpt_save(ckpt_path, ck, stats) != 0) {
        snprintf(err, errlen, "%s: %s", ckpt_path, strerror(errno));
        ck->reorder_ready = 0;
        unlink(tr);
        unlink(te);
        goto out;
    }
    test_kill_point("reorder:2");
    /* step 3 */
    if (reorder_commit(tr, results) != 0) {
        snprintf(err, errlen, "%s: rename: %s (rerun to finish)", results, strerror(errno));
        goto out;
    }
    test_kill_point("reorder:3");
    if (have_errors && reorder_commit(te, errors) != 0) {
        snprintf(err, errlen, "%s: rename: %s (rerun to finish)", errors, strerror(errno));
        goto out;
    }
    test_kill_point("reorder:4");
    /* step 4 */
    rc = ro_ckpt_step4(ck, ckpt_path, stats, err, errlen);
out:
    free(tr);
    free(te);
    return rc;
}

int reorder_resume(ckpt_t *ck, const char *ckpt_path, const stats_t *stats,
                   const char *results, const char *errors, char *err, size_t errlen)
{
    if (!ck->reorder_ready) {
        if (reorder_discard(results) != 0 || reorder_discard(errors) != 0) {
            snprintf(err, errlen, "removing a stale %s file: %s", REORDER_TMP_SUFFIX,
                     strerror(errno));
            return -1;
        }
        return 0;
    }
    if (reorder_finish_pending(results) < 0 || reorder_finish_pending(errors) < 0) {
        snprintf(err, errlen, "finishing the reorder of %s: %s", results, strerror(errno));
        return -1;
    }
    return ro_ckpt_step4(ck, ckpt_path, stats, err, errlen);
}
