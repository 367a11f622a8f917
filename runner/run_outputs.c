/*
 * run_outputs: where `run --ordered` and `run --retry-failed` meet the run
 * (the two call sites in run_main).  The protocols themselves live in
 * reorder.c and retry_failed.c; this file only decides when to call them
 * and what to tell the user.
 *
 *  run_outputs_resume  right after the checkpoint is loaded, before the
 *                      outputs are opened: finishes a reorder or an
 *                      errors-file swap that a crash interrupted (or drops
 *                      their stale temp files), then applies
 *                      --retry-failed.
 *  run_outputs_finish  after the last commit of a complete run: --ordered.
 */
#include "reorder.h"
#include "retry_failed.h"
#include "run_int.h"

#include <stdio.h>
#include <string.h>

static int ro_ends_gz(const char *s)
{
    size_t n = strlen(s);
    return n >= 3 && strcmp(s + n - 3, ".gz") == 0;
}

int run_outputs_resume(run_ctx_t *c, int resumed)
{
    const run_opts_t *o = c->o;
    retry_result_t rr;
    char err[1024];

    if (c->files.spooled)
        return 0;
    if (!resumed) {
        /* no checkpoint: leftovers of an older run's protocols are stale */
        if (reorder_discard(o->results) != 0 || reorder_discard(c->files.errors_path) != 0 ||
            retry_failed_discard(c->files.errors_path) != 0)
            fprintf(stderr, "llmbatch: warning: cannot remove an old temporary file next to "
                    "%s\n", o->results);
        if (o->retry_failed && !o->quiet)
            fprintf(stderr, "llmbatch: --retry-failed: no checkpoint, so no earlier failures "
                    "to retry\n");
        return 0;
    }
    if (reorder_resume(&c->ckpt, c->files.ckpt_path, &c->stats, o->results,
                       c->files.errors_path, err, sizeof(err)) != 0 ||
        retry_failed_resume(&c->ckpt, c->files.ckpt_path, &c->stats, c->files.errors_path,
                            err, sizeof(err)) != 0) {
        fprintf(stderr, "llmbatch: %s\n", err);
        return RUN_EXIT_IO;
    }
    if (!o->retry_failed)
        return 0;
    if (retry_failed_apply(&c->ckpt, c->files.ckpt_path, &c->stats, c->files.errors_path,
                           ro_ends_gz(c->files.errors_path), &o->retry_codes, &rr,
                           err, sizeof(err)) != 0) {
        fprintf(stderr, "llmbatch: --retry-failed: %s\n", err);
        return RUN_EXIT_IO;
    }
    if (!o->quiet) {
        fprintf(stderr, "llmbatch: --retry-failed: %llu failed job%s pending again",
                (unsigned long long)rr.n_retry, rr.n_retry == 1 ? "" : "s");
        for (size_t i = 0; i < rr.ncodes; i++)
            fprintf(stderr, "%s%s %llu", i ? ", " : " (",
                    rr.by_code[i].code[0] ? rr.by_code[i].code : "no code",
                    (unsigned long long)rr.by_code[i].n);
        if (rr.other)
            fprintf(stderr, ", other codes %llu", (unsigned long long)rr.other);
        fprintf(stderr, "%s\n", rr.ncodes ? ")" : "");
        if (rr.not_ours || rr.unreadable)
            fprintf(stderr, "llmbatch: --retry-failed: kept %llu line%s of %s that this run "
                    "did not write\n", (unsigned long long)(rr.not_ours + rr.unreadable),
                    rr.not_ours + rr.unreadable == 1 ? "" : "s", c->files.errors_path);
    }
    return 0;
}

int run_outputs_finish(run_ctx_t *c, int rc)
{
    const run_opts_t *o = c->o;
    reorder_stats_t rs[2];
    char err[1024];

    if (!o->ordered || c->files.spooled || !c->ckpt.complete || c->ckpt.ordered ||
        (rc != RUN_EXIT_OK && rc != RUN_EXIT_FAILED))
        return rc;
    /* the renames replace the files under any open descriptor */
    output_close(&c->files.out_ok);
    output_close(&c->files.out_err);
    if (reorder_run_outputs(&c->ckpt, c->files.ckpt_path, &c->stats, c->files.input_path,
                            o->results, c->files.errors_path, 0, rs, err, sizeof(err)) != 0) {
        fprintf(stderr, "llmbatch: --ordered: %s; the outputs are complete but in completion "
                "order: rerun the same command to sort them\n", err);
        return RUN_EXIT_IO;
    }
    if (rs[0].unmatched + rs[1].unmatched)
        fprintf(stderr, "llmbatch: --ordered: warning: %llu lines with a custom_id that is "
                "not in the input were kept at the end\n",
                (unsigned long long)(rs[0].unmatched + rs[1].unmatched));
    return rc;
}
