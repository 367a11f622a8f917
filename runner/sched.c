/*
 * sched: the event loop of `llmbatch run` and its commit points (see
 * runner/README.md, data flow and commit protocol).
 *
 * One thread, one wait point (the backend's wait = curl_multi_poll).  Each
 * turn: take signals, admit (admit.c), drive the backend (its outcomes go
 * to settle.c and finish.c), admit again, commit when a second has passed,
 * --commit-every lines were written, or admission asked for a higher
 * durable money bound, then update the progress and wait.  Admission never
 * commits by itself; this loop does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "run_int.h"
#include "run_timeline.h"

#define NS_PER_MS 1000000LL
#define COMMIT_INTERVAL_MS 1000

void run_fatal(run_ctx_t *c, const char *fmt, ...)
{
    va_list ap;

    if (c->stop != STOP_IO) {
        va_start(ap, fmt);
        vsnprintf(c->fatal, sizeof(c->fatal), fmt, ap);
        va_end(ap);
    }
    c->stop = STOP_IO;
}

void run_fatal_io(run_ctx_t *c, const char *what, const char *path)
{
    run_fatal(c, "%s %s: %s", what, path, strerror(errno));
    c->no_commit = 1;
}

/* ---- commit ------------------------------------------------------------ */

int sched_commit(run_ctx_t *c, int final, money_t extra)
{
    run_files_t *f = &c->files;
    money_t bound;

    if (c->no_commit)
        return -1;
    if (output_commit(&f->out_ok) != 0) {
        run_fatal_io(c, "writing", f->out_ok.path);
        return -1;
    }
    if (output_commit(&f->out_err) != 0) {
        run_fatal_io(c, "writing", f->out_err.path);
        return -1;
    }
    if (c->cache)
        cache_flush(c->cache);
    bound = ledger_next_bound(&c->ledger, final, c->o->concurrency, extra);
    run_sync_stats(c);
    if (!f->spooled) {
        c->ckpt.results_size = f->out_ok.committed;
        c->ckpt.errors_size = f->out_err.committed;
        c->ckpt.hwm = bound;
        c->ckpt.complete = c->adm.rd_eof && c->adm.active == 0 && !c->adm.held &&
                           !c->adm.retry_q && ckpt_count_done(&c->ckpt) == ckpt_jobs(&c->ckpt);
        if (ckpt_save(f->ckpt_path, &c->ckpt, &c->stats) != 0) {
            run_fatal_io(c, "writing checkpoint", f->ckpt_path);
            return -1;
        }
    }
    ledger_committed(&c->ledger, bound);
    c->last_commit_ms = clock_mono_ms();
    c->pending_lines = 0;
    run_timeline_commit(c, final);
    return 0;
}

/* ---- the loop ---------------------------------------------------------- */

static void take_signals(run_ctx_t *c)
{
    int last = 0, n = signals_take(&last);

    if (n == 0)
        return;
    if (c->stop != STOP_SIGNAL) {
        if (!c->exit_signal)
            c->exit_signal = last;
        if (c->stop == STOP_NONE || c->stop == STOP_BUDGET || c->stop == STOP_NOKEY)
            c->stop = STOP_SIGNAL;
        c->stop_deadline_ms = clock_mono_ms() + (int64_t)(c->o->grace_s * 1000);
        if (!c->o->quiet && c->backend->inflight(c))
            fprintf(stderr, "\nllmbatch: stopping: waiting up to %.0f s for %d requests "
                    "in flight (press Ctrl-C again to stop now)\n",
                    c->o->grace_s, c->backend->inflight(c));
    }
    if (n >= 2)
        c->stop_deadline_ms = 0;     /* second signal: stop at once */
}

/* Admission asked for a higher durable bound: commit, then admit again.
 * A bound that cannot be raised means the budget is spent. */
static void admit_with_commits(run_ctx_t *c)
{
    for (int i = 0; i < 2 && !c->stop; i++) {
        money_t want;

        admit(c);
        if (!(want = c->adm.want_durable))
            return;
        c->adm.want_durable = 0;
        if (sched_commit(c, 0, want) != 0)
            return;
        if (ledger_needs_durable(&c->ledger, want)) {
            c->stop = STOP_BUDGET;
            return;
        }
    }
}

/* The shared ledger's round trips; losing it stops admission at once and
 * lets what is in flight finish (bounded by --grace), then exit 5. */
static void ledger_round_trips(run_ctx_t *c)
{
    char err[600];

    if (c->ledger.sh && (ledger_sync(&c->ledger, clock_mono_ns(), err, sizeof(err)) != 0 ||
                         keyshare_sync(c, 0, err, sizeof(err)) != 0)) {
        run_fatal(c, "%s; stopped admitting, nothing is counted locally instead", err);
        c->drain_until_ms = clock_mono_ms() + (int64_t)(c->o->grace_s * 1000);
    }
}

int sched_loop(run_ctx_t *c)
{
    for (;;) {
        int64_t now_ms, timeout;

        take_signals(c);
        ledger_round_trips(c);
        if (!c->stop)
            admit_with_commits(c);
        c->backend->perform(c);
        if (!c->stop)
            admit_with_commits(c);
        now_ms = clock_mono_ms();
        if (c->stop == STOP_IO && !(c->drain_until_ms && now_ms < c->drain_until_ms &&
                                    c->backend->inflight(c) > 0))
            break;
        if (c->backend->inflight(c) == 0 &&
            (c->stop || (c->adm.rd_eof && !c->adm.retry_q && !c->adm.held &&
                         c->adm.active == 0)))
            break;
        if (c->stop == STOP_SIGNAL && now_ms >= c->stop_deadline_ms) {
            c->backend->abort_all(c);
            break;
        }
        if (now_ms - c->last_commit_ms >= COMMIT_INTERVAL_MS ||
            c->pending_lines >= c->o->commit_every) {
            if (sched_commit(c, 0, 0) != 0)
                break;
        }
        progress_tick(c, 0);
        run_timeline_tick(c);
        timeout = COMMIT_INTERVAL_MS - (now_ms - c->last_commit_ms);
        if (timeout > 100)
            timeout = 100;               /* progress and signal checks */
        if (c->adm.next_wake_ns) {
            int64_t w = (c->adm.next_wake_ns - clock_mono_ns() + NS_PER_MS - 1) / NS_PER_MS;
            if (w < timeout)
                timeout = w;
        }
        if (c->stop == STOP_SIGNAL && c->stop_deadline_ms - now_ms < timeout)
            timeout = c->stop_deadline_ms - now_ms;
        c->backend->wait(c, (int)(timeout < 0 ? 0 : timeout), signals_fd());
    }
    return 0;
}

/* Ends what is in flight (a fatal error stopped the loop: their
 * reservations settle as possibly billed, nothing is written) and frees
 * every slot still held; their jobs stay pending. */
void sched_release(run_ctx_t *c)
{
    if (c->backend)
        c->backend->abort_all(c);
    admit_release(c);
}
