/*
 * merge_cmd: `llmbatch merge -o RESULTS [--errors FILE] [--report FILE]
 * SHARD_RESULTS...` joins the outputs of one job run as N shards
 * (--shard I/N, shard.h).
 *
 * Each SHARD_RESULTS names a shard's results file; its checkpoint, errors
 * and report are found by the default naming rule (RESULTS.ckpt,
 * RESULTS with .errors before .jsonl, RESULTS with .report.json).  Before
 * writing anything it checks, against the checkpoints, that every job of
 * the input ended exactly once:
 *   - every checkpoint is a shard's, complete, of the same input (size and
 *     hash) and the same N; the indexes are distinct and cover 0..N-1;
 *   - each done bitmap holds only its own shard's jobs; they are disjoint
 *     and their union is every job of the input;
 *   - each shard's results and errors have the committed sizes, and their
 *     line counts add up to its done jobs.
 * Any failure names the shard and refuses (exit 2) with nothing written.
 * Outputs are streamed (plain or .gz in, .gz out when the name ends in
 * .gz) into temporary files renamed into place only when all is well.
 * The merged report sums the shards' counters (see merge_reports).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <jansson.h>
#include "checkpoint.h"
#include "cli.h"
#include "merge_cmd.h"
#include "run.h"
#include "shard.h"

#define MAX_SHARDS 4096

typedef struct shard_in {
    const char *results;
    char       *errors, *report, *ckpt_path;
    ckpt_t      ck;
} shard_in_t;

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Appends src (plain or gzip) to out, counting newlines.  0, -1 (msg). */
static int copy_lines(const char *src, gzFile gout, FILE *fout, uint64_t *lines,
                      char *err, size_t errlen)
{
    static char buf[1 << 16];
    gzFile in;
    int n;

    if (access(src, F_OK) != 0)
        return 0;                       /* an errors file never created: no lines */
    if (!(in = gzopen(src, "rb"))) {
        snprintf(err, errlen, "cannot open %s: %s", src, strerror(errno));
        return -1;
    }
    while ((n = gzread(in, buf, sizeof(buf))) > 0) {
        for (int k = 0; k < n; k++)
            *lines += buf[k] == '\n';
        if (gout ? gzwrite(gout, buf, (unsigned)n) != n
                 : fwrite(buf, 1, (size_t)n, fout) != (size_t)n) {
            snprintf(err, errlen, "writing the merged output failed");
            gzclose(in);
            return -1;
        }
    }
    if (n < 0) {
        int e;
        snprintf(err, errlen, "%s: cannot read (%s)", src, gzerror(in, &e));
        gzclose(in);
        return -1;
    }
    gzclose(in);
    return 0;
}

/* ---- checks ------------------------------------------------------------- */

static int load_shard(shard_in_t *s, char *err, size_t errlen)
{
    size_t n = strlen(s->results) + 6;
    int rc;

    ckpt_init(&s->ck);
    if (!(s->errors = cli_errors_path(s->results)) ||
        !(s->report = cli_report_path(s->results)) ||
        !(s->ckpt_path = malloc(n))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(s->ckpt_path, n, "%s.ckpt", s->results);
    rc = ckpt_load(s->ckpt_path, &s->ck, NULL, err, errlen);
    if (rc == 0)
        snprintf(err, errlen, "%s: no checkpoint %s (not a shard's results, or it never ran)",
                 s->results, s->ckpt_path);
    else if (rc == 1 && !s->ck.shard_n)
        snprintf(err, errlen, "%s: not a shard's results (its checkpoint names no --shard)",
                 s->results);
    return rc == 1 && s->ck.shard_n ? 0 : -1;
}

static int check_size(const char *path, uint64_t want, char *err, size_t errlen)
{
    struct stat st;
    uint64_t have = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;

    if (have != want) {
        snprintf(err, errlen, "%s has %llu bytes but its checkpoint committed %llu "
                 "(a run in progress, or the file was changed)", path,
                 (unsigned long long)have, (unsigned long long)want);
        return -1;
    }
    return 0;
}

/* Every consistency check of the set; prints each problem.  0 if all hold. */
static int check_set(shard_in_t *v, int nv)
{
    const ckpt_t *a = &v[0].ck;
    unsigned n = a->shard_n;
    char err[600], seen[MAX_SHARDS] = { 0 };
    int bad = 0;

    for (int k = 0; k < nv; k++) {
        const ckpt_t *c = &v[k].ck;
        uint64_t mine = ckpt_jobs(c), done = ckpt_count_done(c);

        if (c->shard_n != n || c->input_size != a->input_size ||
            c->input_hash != a->input_hash || c->njobs != a->njobs) {
            fprintf(stderr, "llmbatch: merge: %s (shard %u/%u) is not of the same job as %s "
                    "(shard %u/%u): other input or other shard count\n", v[k].results,
                    c->shard_i, c->shard_n, v[0].results, a->shard_i, n);
            bad = 1;
            continue;
        }
        if (seen[c->shard_i]++) {
            fprintf(stderr, "llmbatch: merge: shard %u/%u is given twice (%s)\n",
                    c->shard_i, n, v[k].results);
            bad = 1;
        }
        if (!c->complete || done != mine) {
            fprintf(stderr, "llmbatch: merge: shard %u/%u (%s) is incomplete: %llu of %llu "
                    "jobs done; rerun its command to finish it\n", c->shard_i, n,
                    v[k].results, (unsigned long long)done, (unsigned long long)mine);
            bad = 1;
        }
        for (uint64_t j = 0; j < c->njobs; j++) {
            if (ckpt_done(c, j) && j % n != c->shard_i) {
                fprintf(stderr, "llmbatch: merge: shard %u/%u (%s) has job %llu of another "
                        "shard\n", c->shard_i, n, v[k].results, (unsigned long long)j);
                bad = 1;
                break;
            }
        }
        if (check_size(v[k].results, c->results_size, err, sizeof(err)) ||
            check_size(v[k].errors, c->errors_size, err, sizeof(err))) {
            fprintf(stderr, "llmbatch: merge: shard %u/%u: %s\n", c->shard_i, n, err);
            bad = 1;
        }
    }
    if (bad)
        return -1;
    for (unsigned i = 0; i < n; i++)
        if (!seen[i]) {
            fprintf(stderr, "llmbatch: merge: shard %u/%u is missing (give every shard's "
                    "results)\n", i, n);
            bad = 1;
        }
    for (uint64_t j = 0; !bad && j < a->njobs; j++) {
        int ended = 0;
        for (int k = 0; k < nv; k++)
            ended += ckpt_done(&v[k].ck, j);
        if (ended != 1) {
            fprintf(stderr, "llmbatch: merge: job %llu ended %d times across the shards\n",
                    (unsigned long long)j, ended);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

/* ---- reports ------------------------------------------------------------ */

/* Adds b into a: numbers are summed, except those that are one value of
 * the whole job (the budget) or not additive (latency percentiles, elapsed
 * time, the exit code: the largest is kept); objects are merged key by key
 * (the price table is the first shard's); strings, booleans and arrays keep
 * a's. */
static void add_json(json_t *a, const json_t *b, const char *key)
{
    const char *k;
    json_t *bv;

    if (!strcmp(key, "prices"))
        return;                         /* the table the first shard used */
    if (json_is_object(a) && json_is_object(b)) {
        json_object_foreach((json_t *)b, k, bv) {
            json_t *av = json_object_get(a, k);
            if (!av)
                json_object_set(a, k, bv);
            else
                add_json(av, bv, k);
        }
        return;
    }
    if (!json_is_number(a) || !json_is_number(b))
        return;
    if (!strcmp(key, "budget") || !strcmp(key, "llmbatch_report") || (key[0] == 'p' && key[1] >= '0' && key[1] <= '9') ||
        !strcmp(key, "elapsed_s") || !strcmp(key, "exit_code")) {
        if (json_number_value(b) > json_number_value(a)) {
            if (json_is_integer(a) && json_is_integer(b))
                json_integer_set(a, json_integer_value(b));
            else
                json_real_set(a, json_number_value(b));
        }
        return;
    }
    if (json_is_integer(a) && json_is_integer(b))
        json_integer_set(a, json_integer_value(a) + json_integer_value(b));
    else
        json_real_set(a, json_number_value(a) + json_number_value(b));
}

static json_t *merge_reports(shard_in_t *v, int nv, const char *results, const char *errors)
{
    json_t *m = NULL, *cost;
    json_error_t je;

    for (int k = 0; k < nv; k++) {
        json_t *r = json_load_file(v[k].report, 0, &je);
        if (!r) {
            fprintf(stderr, "llmbatch: merge: %s: %s\n", v[k].report, je.text);
            json_decref(m);
            return NULL;
        }
        if (!m)
            m = r;
        else {
            add_json(m, r, "");
            json_decref(r);
        }
    }
    json_object_set_new(m, "results", json_string(results));
    json_object_set_new(m, "errors", json_string(errors));
    json_object_set_new(m, "shards", json_integer(nv));
    cost = json_object_get(m, "cost_usd");
    if (json_is_integer(json_object_get(cost, "total_pp"))) {
        double total = (double)json_integer_value(json_object_get(cost, "total_pp")) / 1e12;
        json_object_set_new(cost, "total", json_real(total));
        if (json_is_number(json_object_get(cost, "budget")))
            json_object_set_new(cost, "remaining",
                                json_real(json_number_value(json_object_get(cost, "budget")) -
                                          total));
    }
    return m;
}

/* ---- writing ------------------------------------------------------------ */

typedef struct out_file {
    const char *path;
    char       *tmp;
    gzFile      gz;
    FILE       *f;
} out_file_t;

static int out_open(out_file_t *o, const char *path)
{
    size_t n = strlen(path) + 40;

    o->path = path;
    if (!(o->tmp = malloc(n)))
        return -1;
    snprintf(o->tmp, n, "%s.merge-tmp-%ld", path, (long)getpid());
    if (ends_with(path, ".gz"))
        o->gz = gzopen(o->tmp, "wb");
    else
        o->f = fopen(o->tmp, "wb");
    return o->gz || o->f ? 0 : -1;
}

static int out_close(out_file_t *o)
{
    int rc = 0;

    if (o->gz)
        rc = gzclose(o->gz) == Z_OK ? 0 : -1;
    if (o->f) {
        rc = fflush(o->f) == 0 && fsync(fileno(o->f)) == 0 ? 0 : -1;
        rc |= fclose(o->f) == 0 ? 0 : -1;
    }
    o->gz = NULL;
    o->f = NULL;
    return rc;
}

static void out_discard(out_file_t *o)
{
    out_close(o);
    if (o->tmp)
        unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: llmbatch merge -o RESULTS [--errors FILE] [--report FILE] "
            "SHARD_RESULTS...\n");
    return RUN_EXIT_USAGE;
}

int merge_cmd(int argc, char **argv)
{
    const char *results = NULL, *errors_arg = NULL, *report_arg = NULL;
    char *errors = NULL, *report = NULL, err[600];
    shard_in_t *v = NULL;
    out_file_t ok = { 0 }, er = { 0 }, rp = { 0 };
    json_t *rep = NULL;
    int nv = 0, rc = RUN_EXIT_USAGE;

    if (!(v = calloc((size_t)argc, sizeof(*v))))
        return RUN_EXIT_IO;
    for (int i = 2; i < argc; i++) {
        const char **dst = !strcmp(argv[i], "-o") || !strcmp(argv[i], "--output") ? &results
                         : !strcmp(argv[i], "--errors") ? &errors_arg
                         : !strcmp(argv[i], "--report") ? &report_arg : NULL;
        if (dst) {
            if (i + 1 >= argc) {
                rc = usage();
                goto out;
            }
            *dst = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "llmbatch: merge: unknown option %s\n", argv[i]);
            rc = usage();
            goto out;
        } else {
            v[nv++].results = argv[i];
        }
    }
    if (!results || nv == 0 || nv > MAX_SHARDS) {
        rc = usage();
        goto out;
    }
    errors = errors_arg ? strdup(errors_arg) : cli_errors_path(results);
    report = report_arg ? strdup(report_arg) : cli_report_path(results);
    if (!errors || !report) {
        rc = RUN_EXIT_IO;
        goto out;
    }
    for (int k = 0; k < nv; k++) {
        if (load_shard(&v[k], err, sizeof(err)) != 0) {
            fprintf(stderr, "llmbatch: merge: %s\n", err);
            goto out;
        }
        if (!strcmp(v[k].results, results) || !strcmp(v[k].errors, errors)) {
            fprintf(stderr, "llmbatch: merge: -o/--errors must not name a shard's file\n");
            goto out;
        }
    }
    if (check_set(v, nv) != 0) {
        fprintf(stderr, "llmbatch: merge: refused; nothing was written\n");
        goto out;
    }
    if (!(rep = merge_reports(v, nv, results, errors)))
        goto out;
    rc = RUN_EXIT_IO;
    if (out_open(&ok, results) || out_open(&er, errors) || out_open(&rp, report)) {
        fprintf(stderr, "llmbatch: merge: cannot create %s: %s\n",
                ok.gz || ok.f ? (er.gz || er.f ? report : errors) : results, strerror(errno));
        goto out;
    }
    for (int k = 0; k < nv; k++) {
        uint64_t lines = 0, done = ckpt_count_done(&v[k].ck);
        if (copy_lines(v[k].results, ok.gz, ok.f, &lines, err, sizeof(err)) ||
            copy_lines(v[k].errors, er.gz, er.f, &lines, err, sizeof(err))) {
            fprintf(stderr, "llmbatch: merge: %s\n", err);
            goto out;
        }
        if (lines != done) {
            fprintf(stderr, "llmbatch: merge: shard %u/%u (%s): %llu lines in its results and "
                    "errors but %llu jobs done in its checkpoint; refused, nothing was "
                    "written\n", v[k].ck.shard_i, v[k].ck.shard_n, v[k].results,
                    (unsigned long long)lines, (unsigned long long)done);
            rc = RUN_EXIT_USAGE;
            goto out;
        }
    }
    if (json_dumpf(rep, rp.f ? rp.f : stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) ||
        out_close(&ok) || out_close(&er) || out_close(&rp)) {
        fprintf(stderr, "llmbatch: merge: writing the merged outputs failed\n");
        goto out;
    }
    if (rename(ok.tmp, results) || rename(er.tmp, errors) || rename(rp.tmp, report)) {
        fprintf(stderr, "llmbatch: merge: cannot rename into place: %s\n", strerror(errno));
        goto out;
    }
    fprintf(stderr, "llmbatch: merged %d shards of %llu jobs into %s, %s and %s\n", nv,
            (unsigned long long)v[0].ck.njobs, results, errors, report);
    rc = 0;
out:
    out_discard(&ok);
    out_discard(&er);
    out_discard(&rp);
    json_decref(rep);
    for (int k = 0; k < nv; k++) {
        free(v[k].errors);
        free(v[k].report);
        free(v[k].ckpt_path);
        ckpt_release(&v[k].ck);
    }
    free(v);
    free(errors);
    free(report);
    return rc;
}
