/*
 * batch_cancel: `llmbatch cancel RESULTS`.  Finds the run's checkpoint
 * (RESULTS.ckpt or --checkpoint), takes the input path from it, and runs
 * the batch driver in cancel mode (see batch.c): open batches are
 * cancelled, their finished rows collected, nothing new is submitted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "batch.h"
#include "checkpoint.h"
#include "run.h"

int batch_cancel_cmd(run_opts_t *o, const char *results)
{
    char path[4200], err[1024];
    ckpt_t ck;
    int rc;

    snprintf(path, sizeof(path), "%s%s", o->checkpoint ? o->checkpoint : results,
             o->checkpoint ? "" : ".ckpt");
    ckpt_init(&ck);
    rc = ckpt_load(path, &ck, NULL, err, sizeof(err));
    if (rc <= 0 || !ck.input_path) {
        fprintf(stderr, "llmbatch: cancel: %s\n", rc < 0 ? err : "no checkpoint of a "
                "--via batch run next to these results (give --checkpoint FILE)");
        ckpt_release(&ck);
        return RUN_EXIT_USAGE;
    }
    o->results = results;
    o->input = ck.input_path;
    o->via_batch = 1;
    o->cancel_batches = 1;
    o->fresh = 0;
    o->no_wait = 0;
    rc = run_main(o);
    ckpt_release(&ck);
    return rc;
}
