/*
 * sort_cmd: `llmbatch sort RESULTS --input INPUT [-o OUT]`.
 *
 * Puts RESULTS (OpenAI batch output format, plain or gzip, written by
 * llmbatch or another tool) into the order of INPUT with runner/reorder,
 * into OUT, or in place (temp file + rename) without -o.
 *
 * In place, when RESULTS has an llmbatch checkpoint (RESULTS.ckpt), the
 * checkpoint must keep naming the file's size: a resumed run truncates the
 * results file to that size.  So an unfinished run is refused (sort it
 * with -o, or finish it), and a finished one goes through the --ordered
 * crash protocol (reorder.h) for the results file: tmp, "reorder":"ready",
 * rename, new size (but not "ordered":true, which also covers the errors
 * file).  After a crash in between, rerunning the run finishes it
 * (reorder_resume); sort itself refuses to touch a pending reorder.
 */
#include "checkpoint.h"
#include "cli.h"
#include "reader.h"
#include "reorder.h"
#include "run.h"
#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sc_is_gzip(const char *path)
{
    unsigned char m[2];
    FILE *f = fopen(path, "rb");
    int gz = 0;

    if (f) {
        gz = fread(m, 1, 2, f) == 2 && m[0] == 0x1f && m[1] == 0x8b;
        fclose(f);
    }
    return gz;
}

/* 1 when a and b name the same existing file */
static int sc_same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int sc_ends_gz(const char *s)
{
    size_t n = strlen(s);
    return n >= 3 && strcmp(s + n - 3, ".gz") == 0;
}

/* Step 4 of the protocol: the checkpoint names the renamed file. */
static int sc_ckpt_done(const char *ckpt_path, ckpt_t *ck, stats_t *stats)
{
    ck->results_size = ck->reorder_results_size;
    ck->errors_size = ck->reorder_errors_size;
    ck->reorder_ready = 0;    /* "ordered" is left alone: the errors file is not sorted */
    if (ckpt_save(ckpt_path, ck, stats) != 0) {
        fprintf(stderr, "llmbatch: sort: %s: %s\n", ckpt_path, strerror(errno));
        return -1;
    }
    return 0;
}

int sort_cmd(const char *results, const char *input, const char *out)
{
    const char *target = out ? out : results;
    char err[1024], *tmp = NULL, *ckpt_path = NULL;
    reorder_opts_t opts = { 0, 0, 0, -1 };
    reorder_stats_t st;
    uint64_t isize;
    ckpt_t ck;
    stats_t stats;
    int rc = RUN_EXIT_USAGE, have_ckpt = 0, r;

    ckpt_init(&ck);
    stats_init(&stats);
    if (access(results, R_OK) != 0) {
        fprintf(stderr, "llmbatch: sort: %s: %s\n", results, strerror(errno));
        goto out;
    }
    if (access(input, R_OK) != 0) {
        fprintf(stderr, "llmbatch: sort: %s: %s\n", input, strerror(errno));
        goto out;
    }
    if (sc_same_file(results, input) || (out && sc_same_file(out, input))) {
        fprintf(stderr, "llmbatch: sort: the input %s must not be the results file or the "
                "output\n", input);
        goto out;
    }
    rc = RUN_EXIT_IO;
    tmp = reorder_tmp_path(target);
    ckpt_path = malloc(strlen(results) + sizeof ".ckpt");
    if (!tmp || !ckpt_path) {
        fprintf(stderr, "llmbatch: sort: out of memory\n");
        goto out;
    }
    snprintf(ckpt_path, strlen(results) + sizeof ".ckpt", "%s.ckpt", results);
    if (!out) {
        r = ckpt_load(ckpt_path, &ck, &stats, err, sizeof err);
        if (r < 0) {
            fprintf(stderr, "llmbatch: sort: %s\n", err);
            rc = RUN_EXIT_USAGE;
            goto out;
        }
        have_ckpt = r == 1;
        if (have_ckpt && ck.reorder_ready) {
            /* a reorder stopped between its rename and its checkpoint; it
             * may cover the errors file too, which only the run knows */
            fprintf(stderr, "llmbatch: sort: %s records an unfinished reorder: rerun the "
                    "same `llmbatch run` command to finish it\n", ckpt_path);
            rc = RUN_EXIT_USAGE;
            goto out;
        }
        if (have_ckpt && !ck.complete) {
            fprintf(stderr, "llmbatch: sort: %s belongs to an unfinished run (%s): finish "
                    "the run first (or run it with --ordered), or write the sorted copy "
                    "elsewhere with -o OUT\n", results, ckpt_path);
            rc = RUN_EXIT_USAGE;
            goto out;
        }
        opts.out_gz = sc_is_gzip(results);
    } else {
        opts.out_gz = sc_ends_gz(out);
    }
    /* our own lines are placed exactly by their id (seeded by the input) */
    if (input_fingerprint(input, &isize, &opts.seed, err, sizeof err) != 0) {
        fprintf(stderr, "llmbatch: sort: %s\n", err);
        goto out;
    }
    opts.have_seed = 1;
    r = reorder_file(input, results, tmp, &opts, &st, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "llmbatch: sort: %s\n", err);
        rc = r == -2 ? RUN_EXIT_USAGE : RUN_EXIT_IO;
        goto out;
    }
    if (have_ckpt) {
        ck.reorder_ready = 1;
        ck.reorder_results_size = st.out_size;
        ck.reorder_errors_size = ck.errors_size;
        if (ckpt_save(ckpt_path, &ck, &stats) != 0) {
            fprintf(stderr, "llmbatch: sort: %s: %s\n", ckpt_path, strerror(errno));
            unlink(tmp);
            goto out;
        }
    }
    if (reorder_commit(tmp, target) != 0) {
        fprintf(stderr, "llmbatch: sort: %s: %s\n", target, strerror(errno));
        goto out;
    }
    if (have_ckpt && sc_ckpt_done(ckpt_path, &ck, &stats) != 0)
        goto out;
    fprintf(stderr, "llmbatch: sorted %llu lines of %s into the order of %s%s%s\n",
            (unsigned long long)st.lines, results, input, out ? " -> " : "", out ? out : "");
    if (st.unmatched)
        fprintf(stderr, "llmbatch: warning: %llu line%s of %s %s a custom_id that is not "
                "in %s (first at line %llu); kept at the end in their original order\n",
                (unsigned long long)st.unmatched, st.unmatched == 1 ? "" : "s", results,
                st.unmatched == 1 ? "has" : "have",
                input, (unsigned long long)st.first_unmatched);
    if (st.blank)
        fprintf(stderr, "llmbatch: note: %llu blank line%s dropped\n",
                (unsigned long long)st.blank, st.blank == 1 ? "" : "s");
    rc = 0;
out:
    ckpt_release(&ck);
    stats_release(&stats);
    free(tmp);
    free(ckpt_path);
    return rc;
}
