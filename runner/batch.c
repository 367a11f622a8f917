/*
 * batch: the --via batch driver (see batch.h and batch_state.h).
 *
 * Loop: poll the open parts (collect those that ended), plan the next part
 * from the jobs that are neither done nor in an open part, reserve its
 * whole worst case at batch prices, make the intent durable, create the
 * batch, make its id durable; sleep --poll; repeat.  Lines and money go
 * through finish_job() and settle_attempt() like live attempts.
 *
 * Invariants:
 *   - a job is in at most one open part (the `busy` bitmap, rebuilt from
 *     the manifests on resume);
 *   - a part's whole reservation is taken, then one commit writes its
 *     intent (state file) and a durable bound equal to what is reserved
 *     (checkpoint), and only then is the create call made; on resume the
 *     unsettled reservations of open parts are moved from "possibly billed"
 *     back to outstanding, because their rows will still be collected;
 *   - a part is marked closed only after a commit made its lines durable,
 *     so a crash in between re-collects it (done jobs are skipped).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "batch_int.h"

/* ---- setup -------------------------------------------------------------- */

static int load_state(drv_t *d)
{
    run_ctx_t *c = d->c;
    char err[512];
    money_t open = 0;
    int rc;

    snprintf(d->state_path, sizeof(d->state_path), "%s.batches", c->files.ckpt_path);
    snprintf(d->spool, sizeof(d->spool), "%s.batches.d", c->files.ckpt_path);
    if (c->stats.runs <= 1 && access(d->state_path, F_OK) == 0) {
        /* a fresh run: an old state file belongs to another job */
        char old[4300];
        snprintf(old, sizeof(old), "%s.old-%lld", d->state_path, (long long)time(NULL));
        if (rename(d->state_path, old) != 0) {
            run_fatal_io(c, "moving aside", d->state_path);
            return -1;
        }
        fprintf(stderr, "llmbatch: moved the old batch state aside to %s\n", old);
    }
    if (mkdir(d->spool, 0700) != 0 && errno != EEXIST) {
        run_fatal_io(c, "creating", d->spool);
        return -1;
    }
    d->nbusy = c->ckpt.njobs;
    if (!(d->busy = calloc(d->nbusy / 64 + 1, sizeof(uint64_t)))) {
        run_fatal(c, "out of memory");
        return -1;
    }
    rc = bstate_load(d->state_path, &d->st, err, sizeof(err));
    if (rc < 0) {
        run_fatal(c, "%s", err);
        return -1;
    }
    if (rc == 0)
        snprintf(d->st.run, sizeof(d->st.run), "%016llx",
                 (unsigned long long)(c->seed ^ (uint64_t)time(NULL) ^
                                      ((uint64_t)getpid() << 32)));
    /* open parts: their unsettled reservations are outstanding again, not
     * possibly billed (their rows will still be collected) */
    for (size_t i = 0; i < d->st.n; i++) {
        bpart_t *p = &d->st.v[i];
        bman_t *v;
        size_t n;
        if (p->state == BP_CLOSED)
            continue;
        if (bd_manifest_load(d, p, &v, &n) != 0)
            return -1;
        for (size_t j = 0; j < n; j++) {
            bd_busy_set(d, v[j].ord, 1);
            if (!ckpt_done(&c->ckpt, v[j].ord))
                open = money_add(open, v[j].r);
        }
        bd_manifest_free(v, n);
    }
    if (open > 0) {
        /* Every batch commit bounds exactly what is reserved, and the state
         * file (written first) lists at least the parts that bound covered;
         * so the carried bound (prior - spent: this run has not committed
         * yet) is the part of `open` that was counted as possibly billed. */
        budget_t *b = &c->ledger.budget;
        money_t carried = b->prior > c->stats.spent ? b->prior - c->stats.spent : 0;
        money_t back = open < carried ? open : carried;
        b->prior -= back;
        c->stats.unconfirmed = c->stats.unconfirmed > back ? c->stats.unconfirmed - back : 0;
        ledger_take(&c->ledger, open, 0, clock_mono_ns());
    }
    /* the run's first commit: the input's identity, the open parts' money */
    return bd_drv_commit(d);
}

static int open_parts(const drv_t *d)
{
    int n = 0;
    for (size_t i = 0; i < d->st.n; i++)
        n += d->st.v[i].state == BP_SUBMITTED || d->st.v[i].state == BP_INTENT;
    return n;
}

/* ---- the loop ----------------------------------------------------------- */

int batch_run(run_ctx_t *c)
{
    const run_opts_t *o = c->o;
    drv_t d = { .c = c };
    int64_t poll_ms = o->poll_s > 0 ? (int64_t)(o->poll_s * 1000) : 5000;
    int rc = 0;

    c->adm.rd_eof = 1;         /* this driver reads the input itself */
    if (c->files.spooled) {
        run_fatal(c, "--via batch needs an input file (stdin keeps no checkpoint)");
        return 0;
    }
    if (ctl_init(&d.ctl, o->cacert, o->insecure, o->connect_timeout_s, o->timeout_s) != 0) {
        run_fatal(c, "cannot initialise libcurl");
        return 0;
    }
    if (o->poll_s > 0 && o->poll_s < 0.5)
        d.ctl.first_backoff_ms = (long)(o->poll_s * 1000) + 1;
    if (load_state(&d) != 0)
        goto out;
    /* intents left by a run that died between the intent and the answer */
    for (size_t i = 0; i < d.st.n && !c->stop; i++) {
        bpart_t *p = &d.st.v[i];
        api_key_t *k;
        if (p->state != BP_INTENT)
            continue;
        if (!(k = bd_key_named(&d, p->dialect, p->key))) {
            run_fatal(c, "batch part %d was submitted with key %s, which is not loaded now",
                      p->n, p->key);
            break;
        }
        bd_settle_intent(&d, p, k);
    }
    if (o->cancel_batches) {
        d.exhausted = 1;        /* nothing new is planned */
        for (size_t i = 0; i < d.st.n && !c->stop; i++)
            if (d.st.v[i].state == BP_SUBMITTED)
                bd_cancel_part(&d, &d.st.v[i]);
    }
    while (!c->stop) {
        int progressed = 0;

        if (bd_take_signal(&d))
            break;
        /* poll and collect */
        for (size_t i = 0; i < d.st.n && !c->stop; i++) {
            bpart_t *p = &d.st.v[i];
            int r;
            if (p->state != BP_SUBMITTED)
                continue;
            if ((r = bd_poll_part(&d, p)) < 0)
                break;
            progressed |= r;
        }
        if (c->stop)
            break;
        if (d.fallback) {
            if (!open_parts(&d))
                break;          /* what is left goes live (below) */
            d.exhausted = 1;    /* no new batches meanwhile */
        }
        /* plan and submit what fits */
        while (!c->stop && !d.exhausted && clock_mono_ms() >= d.plan_not_before_ms) {
            bpart_t *p = bd_plan_part(&d);
            if (!p)
                break;
            if (bd_submit_part(&d, p) != 0)
                break;
            progressed = 1;
        }
        if (c->stop)
            break;
        if (!open_parts(&d)) {
            if (d.money_wait) {
                c->stop = STOP_BUDGET;
                break;
            }
            if (d.exhausted)
                break;
        }
        if (o->no_wait && open_parts(&d) &&
            (d.exhausted || d.money_wait || d.tokens_wait ||
             clock_mono_ms() < d.plan_not_before_ms)) {
            rc = RUN_EXIT_SUBMITTED;
            if (!o->quiet)
                fprintf(stderr, "llmbatch: %d batch%s submitted and still running; rerun "
                        "the same command to collect\n", open_parts(&d),
                        open_parts(&d) == 1 ? "" : "es");
            break;
        }
        if (progressed && o->poll_s <= 0)
            poll_ms = 5000;
        if (ctl_sleep((int)poll_ms)) {
            bd_take_signal(&d);
            break;
        }
        if (o->poll_s <= 0 && !progressed && poll_ms < 120000)
            poll_ms = poll_ms * 2 > 120000 ? 120000 : poll_ms * 2;
    }
    if (!c->no_commit)
        bstate_save(d.state_path, &d.st);
    if (d.fallback && !c->stop && !open_parts(&d)) {
        /* --fallback live: no batch is open, so the jobs still pending
         * (rows a batch did not run, and any never submitted) go live
         * through the live scheduler, at live prices */
        if (!o->quiet)
            fprintf(stderr, "llmbatch: --fallback live: sending the %llu pending jobs "
                    "live\n", (unsigned long long)(c->ckpt.njobs - ckpt_count_done(&c->ckpt)));
        c->adm.rd_eof = 0;
        sched_loop(c);
    }
out:
    free(d.busy);
    ctl_release(&d.ctl);
    bstate_release(&d.st);
    return rc;
}

int batch_has_open_parts(const char *ckpt_path)
{
    char path[4300], err[256];
    bstate_t st;
    int open = 0;

    snprintf(path, sizeof(path), "%s.batches", ckpt_path);
    if (bstate_load(path, &st, err, sizeof(err)) != 1)
        return 0;
    for (size_t i = 0; i < st.n; i++)
        open |= st.v[i].state == BP_INTENT || st.v[i].state == BP_SUBMITTED;
    bstate_release(&st);
    return open;
}

void batch_report(run_ctx_t *c)
{
    char path[4300];
    bstate_t st;
    json_t *rep, *arr;
    char err[256], *text;

    snprintf(path, sizeof(path), "%s.batches", c->files.ckpt_path);
    if (bstate_load(path, &st, err, sizeof(err)) != 1)
        return;
    if (!(rep = json_load_file(c->files.report_path, 0, NULL)) || !(arr = json_array())) {
        json_decref(rep);
        bstate_release(&st);
        return;
    }
    for (size_t i = 0; i < st.n; i++) {
        json_t *b = bpart_json(&st.v[i]);
        char usd[32];
        money_format(st.v[i].cost, 6, usd, sizeof(usd));
        json_object_set_new(b, "cost_usd", json_string(usd));
        json_array_append_new(arr, b);
    }
    json_object_set_new(rep, "batches", arr);
    json_object_set_new(rep, "batch_run", json_string(st.run));
    if ((text = json_dumps(rep, JSON_INDENT(2)))) {
        if (write_file_atomic(c->files.report_path, text, strlen(text)) != 0)
            fprintf(stderr, "llmbatch: warning: cannot add batches to %s\n",
                    c->files.report_path);
        free(text);
    }
    json_decref(rep);
    bstate_release(&st);
}
