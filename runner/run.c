/*
 * run: setup and teardown of `llmbatch run` around the event loop in
 * sched.c: paths, stdin spooling, the price table, keys, the checkpoint
 * (resume or refuse), the validation pass, output files, the final commit,
 * the report and the exit code.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "batch.h"
#include "cli.h"
#include "clock.h"
#include "ledger_shared.h"
#include "paths.h"
#include "hash.h"
#include "report_run.h"
#include "run_int.h"
#include "limits.h"
#include "shard.h"
#include "url.h"

void run_opts_init(run_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->defs.dialect = -1;
    o->concurrency = 64;
    o->max_retries = 6;
    o->timeout_s = 600;
    o->connect_timeout_s = 30;
    o->grace_s = 30;
    o->commit_every = 10000;
    o->progress = -1;
    o->batch_size = 10000;
}

/* 1 if path holds at least one byte of data (a .gz file made only of empty
 * members, as a run leaves before its first result, holds none). */
static int file_nonempty(const char *path)
{
    struct stat st;
    gzFile g;
    char b;
    int n;

    if (stat(path, &st) != 0 || st.st_size == 0)
        return 0;
    if (!(g = gzopen(path, "rb")))
        return 1;
    n = gzread(g, &b, 1);
    gzclose(g);
    return n != 0;
}

/* Renames path to path.old-YYYYmmdd-HHMMSS[-N]; never overwrites. */
static int move_aside(const char *path)
{
    char dst[4200], stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    struct stat st;

    if (stat(path, &st) != 0)
        return 0;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    for (int i = 0; i < 1000; i++) {
        if (i == 0)
            snprintf(dst, sizeof(dst), "%s.old-%s", path, stamp);
        else
            snprintf(dst, sizeof(dst), "%s.old-%s-%d", path, stamp, i);
        if (stat(dst, &st) != 0 && errno == ENOENT) {
            if (rename(path, dst) != 0)
                return -1;
            fprintf(stderr, "llmbatch: moved %s aside to %s\n", path, dst);
            return 0;
        }
    }
    errno = EEXIST;
    return -1;
}

static uint64_t settings_hash(const run_opts_t *o)
{
    char s[1024];
    int n = snprintf(s, sizeof(s), "model=%s|max_tokens=%llu|dialect=%d|skip_invalid=%d",
                     o->defs.model ? o->defs.model : "",
                     (unsigned long long)o->defs.max_tokens, o->defs.dialect,
                     o->skip_invalid);
    if (o->shard_n && n > 0 && (size_t)n < sizeof(s))
        n += snprintf(s + n, sizeof(s) - (size_t)n, "|shard=%u/%u", o->shard_i, o->shard_n);
    return hash64(s, n > 0 ? (size_t)n : 0);
}

static void warn_reservations(run_ctx_t *c)
{
    const run_opts_t *o = c->o;
    money_t room;
    uint64_t fit;
    char a[32], b[32];

    if (!o->have_budget || c->adm.scan.max_reservation <= 0)
        return;
    room = o->budget - budget_spent(&c->ledger.budget);
    if (room <= 0)
        return;
    fit = (uint64_t)(room / c->adm.scan.max_reservation);
    if (fit >= (uint64_t)o->concurrency)
        return;
    if (fit == 0) {
        money_format_min(c->adm.scan.max_reservation, 6, a, sizeof(a));
        money_format_min(room, 6, b, sizeof(b));
        fprintf(stderr, "llmbatch: warning: the $%s left under --budget cannot cover the "
                "largest job's worst case ($%s): such jobs will not start.  Raise --budget, "
                "or set max_tokens (--max-tokens for bare lines) to lower the worst case.\n",
                b, a);
        return;
    }
    money_format(c->adm.scan.max_reservation, 4, a, sizeof(a));
    money_format_min(room, 2, b, sizeof(b));
    fprintf(stderr, "llmbatch: warning: the largest job reserves $%s (its worst case), so "
            "the $%s left under --budget lets only %llu such requests be in flight at once "
            "(--concurrency %d).\n", a, b, (unsigned long long)fit, o->concurrency);
    for (size_t i = 0; i < c->adm.scan.nmodels; i++) {
        scan_model_t *m = &c->adm.scan.models[i];
        if (m->no_max_tokens)
            fprintf(stderr, "llmbatch:   %llu %s jobs set no max_tokens and reserve the model's "
                    "whole output limit: set max_tokens in the requests or pass --max-tokens "
                    "for bare lines.\n", (unsigned long long)m->no_max_tokens, m->model);
    }
}

static int check_keys(run_ctx_t *c, unsigned dialects)
{
    static const char *env[] = { "OPENAI_API_KEY", "ANTHROPIC_API_KEY" };
    for (int d = 0; d < 2; d++) {
        int found = 0;
        if (!(dialects & (1u << d)))
            continue;
        for (size_t i = 0; i < c->keys.n; i++)
            if ((int)c->keys.v[i].dialect == d)
                found = 1;
        if (!found) {
            fprintf(stderr, "llmbatch: no API key for the %s jobs: set %s or pass "
                    "--keys-file FILE\n", dialect_name((dialect_t)d), env[d]);
            return -1;
        }
    }
    return 0;
}

/* A checkpoint names the results and errors files it counts: resuming it
 * with others would truncate or append to files it knows nothing of.  0, or
 * -1 with the message in err.  (Checkpoints older than this rule name none.) */
static int same_outputs(run_ctx_t *c, char *err, size_t errlen)
{
    const char *have[2] = { c->o->results, c->files.errors_path };
    const char *want[2] = { c->ckpt.results_path, c->ckpt.errors_path };
    static const char *role[2] = { "results", "errors" };
    char real[PATHS_MAX];

    for (int i = 0; i < 2; i++) {
        if (!want[i] || (paths_resolve(have[i], real, sizeof(real)) == 0 &&
                         strcmp(real, want[i]) == 0))
            continue;
        snprintf(err, errlen, "the checkpoint %s counts the %s file %s, not %s; use the "
                 "same -o/--errors as the run that wrote it, or --fresh to start over (the "
                 "old files are moved aside, not deleted)", c->files.ckpt_path, role[i],
                 want[i], have[i]);
        return -1;
    }
    return 0;
}

/* Loads the checkpoint if any; decides resume / refuse / fresh.
 * Returns 0 to go on, or an exit code. */
static int prepare_checkpoint(run_ctx_t *c, uint64_t isize, uint64_t ihash, int *resumed)
{
    const run_opts_t *o = c->o;
    char err[1024];
    int rc;

    *resumed = 0;
    if (o->fresh) {
        if (move_aside(o->results) || move_aside(c->files.errors_path) ||
            move_aside(c->files.report_path) || move_aside(c->files.ckpt_path)) {
            fprintf(stderr, "llmbatch: --fresh: cannot move old files aside: %s\n",
                    strerror(errno));
            return RUN_EXIT_IO;
        }
        return 0;
    }
    if (c->files.spooled) {
        /* stdin keeps no checkpoint: never write over another run's files */
        if (file_nonempty(o->results) || file_nonempty(c->files.errors_path) ||
            access(c->files.ckpt_path, F_OK) == 0) {
            fprintf(stderr, "llmbatch: %s, %s or %s already exists; a run from stdin or a pipe "
                    "cannot resume it and will not overwrite it.  Use another -o, or "
                    "--fresh to move the old files aside.\n",
                    o->results, c->files.errors_path, c->files.ckpt_path);
            return RUN_EXIT_USAGE;
        }
        return 0;
    }
    rc = ckpt_load(c->files.ckpt_path, &c->ckpt, &c->stats, err, sizeof(err));
    if (rc == 1 && same_outputs(c, err, sizeof(err)) != 0) {
        fprintf(stderr, "llmbatch: %s\n", err);
        return RUN_EXIT_USAGE;
    }
    if (rc < 0 || (rc == 1 && ckpt_check_resume(&c->ckpt, c->files.ckpt_path, o->results,
                                                c->files.errors_path, err, sizeof(err)) != 0)) {
        fprintf(stderr, "llmbatch: %s\n", err);
        return RUN_EXIT_USAGE;
    }
    if (rc == 0) {
        stats_release(&c->stats);
        stats_init(&c->stats);
        if (file_nonempty(o->results) || file_nonempty(c->files.errors_path)) {
            fprintf(stderr, "llmbatch: %s or %s already exists, but there is no checkpoint "
                    "(%s) to resume from; refusing to overwrite it.  Rerun with --fresh "
                    "to move the old files aside and start over.\n",
                    o->results, c->files.errors_path, c->files.ckpt_path);
            return RUN_EXIT_USAGE;
        }
        return 0;
    }
    if (c->ckpt.input_size != isize || c->ckpt.input_hash != ihash) {
        fprintf(stderr, "llmbatch: %s changed since the checkpoint %s was written "
                "(size or content differs); refusing to resume.  Rerun with --fresh to "
                "start over (the old outputs are moved aside).\n", o->input, c->files.ckpt_path);
        return RUN_EXIT_USAGE;
    }
    if (c->ckpt.settings_hash != settings_hash(o)) {
        fprintf(stderr, "llmbatch: --model, --max-tokens, --dialect or --skip-invalid differ "
                "from the run that wrote %s; refusing to resume with other requests.  Use "
                "the same flags, or --fresh to start over.\n", c->files.ckpt_path);
        return RUN_EXIT_USAGE;
    }
    *resumed = 1;
    return 0;
}

static void free_ctx(run_ctx_t *c)
{
    char err[600];

    sched_release(c);
    ledger_close(&c->ledger, err, sizeof(err));
    live_release(c);
    buf_release(&c->line);
    output_close(&c->files.out_ok);
    output_close(&c->files.out_err);
    cache_close(c->cache);
    prices_free(c->prices);
    keys_release(&c->keys);
    ckpt_release(&c->ckpt);
    stats_release(&c->stats);
    free(c->files.input_path);
    free(c->files.errors_path);
    free(c->files.report_path);
    free(c->files.ckpt_path);
    spool_close(&c->files.spool);
    run_lock_release(&c->files.lock);       /* after the last write */
    signals_restore();
}

static int exit_code(const run_ctx_t *c)
{
    uint64_t done = ckpt_count_done(&c->ckpt);
    int pending = !(c->adm.rd_eof && done >= ckpt_jobs(&c->ckpt) && c->adm.active == 0);

    switch (c->stop) {
    case STOP_IO:     return RUN_EXIT_IO;
    case STOP_SIGNAL: return c->exit_signal == SIGTERM ? RUN_EXIT_SIGTERM : RUN_EXIT_SIGINT;
    case STOP_BUDGET: if (pending) return RUN_EXIT_BUDGET; break;
    case STOP_NOKEY:  if (pending) return RUN_EXIT_NOKEY; break;
    default: break;
    }
    return c->stats.failed ? RUN_EXIT_FAILED : RUN_EXIT_OK;
}

static int oom(void)
{
    fprintf(stderr, "llmbatch: out of memory\n");
    return RUN_EXIT_IO;
}

/* Paths derived from -o, and the input (stdin spooled).  0 or an exit code. */
static int setup_files(run_ctx_t *c)
{
    const run_opts_t *o = c->o;
    run_files_t *f = &c->files;
    char err[1024], *lock_path;

    if (!(f->errors_path = o->errors ? strdup(o->errors) : cli_errors_path(o->results)) ||
        !(f->report_path = o->report ? strdup(o->report) : cli_report_path(o->results)))
        return oom();
    if (o->checkpoint) {
        if (!(f->ckpt_path = strdup(o->checkpoint)))
            return oom();
    } else {
        size_t n = strlen(o->results) + 6;
        if (!(f->ckpt_path = malloc(n)))
            return oom();
        snprintf(f->ckpt_path, n, "%s.ckpt", o->results);
    }
    /* every path checked, then the lock, before anything is moved or written */
    if (!(lock_path = run_lock_path(f->ckpt_path)))
        return oom();
    if (run_paths_check(o, f->errors_path, f->report_path, f->ckpt_path, lock_path,
                        err, sizeof(err)) != 0 ||
        run_lock_acquire(&f->lock, lock_path, err, sizeof(err)) != 0 ||
        run_paths_held(o, f->errors_path, f->report_path, f->ckpt_path, err, sizeof(err))) {
        fprintf(stderr, "llmbatch: %s\n", err);
        free(lock_path);
        return RUN_EXIT_USAGE;
    }
    free(lock_path);
    if (spool_needed(o->input)) {
        if (spool_open(&f->spool, o->input, err, sizeof(err)) != 0) {
            fprintf(stderr, "llmbatch: %s\n", err);
            return RUN_EXIT_USAGE;
        }
        if (!(f->input_path = strdup(f->spool.path)))
            return oom();
        f->spooled = 1;
        if (!o->quiet)
            fprintf(stderr, "llmbatch: reading jobs from %s (not a regular file): no "
                    "checkpoint is kept, so this run cannot be resumed (give a file to "
                    "make it resumable)\n", strcmp(o->input, "-") ? o->input : "stdin");
    } else if (!(f->input_path = strdup(o->input))) {
        return oom();
    }
    return 0;
}

/* Validates the input before anything is sent.  A resumed job was
 * validated by the run that wrote the checkpoint (same input, same
 * settings).  0 or an exit code. */
static int validate_input(run_ctx_t *c, int resumed)
{
    const run_opts_t *o = c->o;
    scan_opts_t so;
    int rc;

    if (resumed && !o->skip_invalid && !o->have_budget)
        return 0;
    so = (scan_opts_t){ &o->defs, c->prices, o->have_budget, o->skip_invalid, o->have_budget,
                        20, stderr, strcmp(o->input, "-") ? o->input : "<stdin>",
                        /* validate with the parser the run will use */
                        !o->have_budget && !o->cache_dir };
    rc = scan_input(c->files.input_path, &so, &c->adm.scan);
    if (rc != 0) {
        if (rc == 2)
            fprintf(stderr, "llmbatch: %s: %llu invalid line%s; nothing was sent "
                    "(fix them, or pass --skip-invalid to send them to the errors file)\n",
                    o->input, (unsigned long long)c->adm.scan.invalid,
                    c->adm.scan.invalid == 1 ? "" : "s");
        return RUN_EXIT_USAGE;
    }
    c->stats.jobs_total = shard_jobs(c->adm.scan.jobs, o->shard_i, o->shard_n);
    if (ckpt_resize(&c->ckpt, c->adm.scan.jobs))
        return oom();
    c->ckpt.dialects = c->adm.scan.dialects;
    return 0;
}

/* The API base of every dialect the input uses must be usable: a typo is
 * refused before anything is sent (exit 2), not found job by job. */
static int check_base_urls(run_ctx_t *c)
{
    char err[200];

    for (int d = 0; d < 2; d++) {
        const char *u = cli_base_url((dialect_t)d, c->o->base_url);
        if (!(c->ckpt.dialects & (1u << d)) || url_check_base(u, err, sizeof(err)) == 0)
            continue;
        fprintf(stderr, "llmbatch: %s \"%.200s\" %s; nothing was sent\n",
                c->o->base_url ? "--base-url" : provider_base_url_env((dialect_t)d), u, err);
        return RUN_EXIT_USAGE;
    }
    return 0;
}

/* Money carried over from earlier runs: settled spend plus what may have
 * been in flight at their last commit. */
static void carry_money(run_ctx_t *c, int resumed)
{
    const run_opts_t *o = c->o;

    ledger_init(&c->ledger, o->have_budget, o->budget, o->rpm, o->tpm);
    if (!resumed)
        return;
    c->ledger.budget.prior = money_add(c->stats.spent, c->ckpt.hwm);
    c->stats.unconfirmed = money_add(c->stats.unconfirmed, c->ckpt.hwm);
    c->base_possibly_billed = c->stats.possibly_billed;
    c->base_estimated = c->stats.estimated;
    c->ckpt.hwm = 0;
    if (!o->quiet) {
        char a[32];
        money_format(ledger_spent(&c->ledger), 4, a, sizeof(a));
        fprintf(stderr, "llmbatch: resuming %s: %llu of %llu jobs already done, $%s "
                "spent so far\n", o->input, (unsigned long long)ckpt_count_done(&c->ckpt),
                (unsigned long long)ckpt_jobs(&c->ckpt), a);
    }
}

/* Outputs, the reader, the cache, admission and the backend.  0 or an exit
 * code. */
static int open_run(run_ctx_t *c, int resumed)
{
    const run_opts_t *o = c->o;
    char err[1024];
    int orc;

    if ((orc = output_open(&c->files.out_ok, o->results, resumed ? c->ckpt.results_size : 0,
                           err, sizeof(err))) != 0 ||
        (orc = output_open(&c->files.out_err, c->files.errors_path,
                           resumed ? c->ckpt.errors_size : 0, err, sizeof(err))) != 0) {
        fprintf(stderr, "llmbatch: %s\n", err);
        return orc == -2 ? RUN_EXIT_USAGE : RUN_EXIT_IO;
    }
    if (!(c->adm.rd = reader_open(c->files.input_path, err, sizeof(err)))) {
        fprintf(stderr, "llmbatch: %s\n", err);
        return RUN_EXIT_USAGE;
    }
    if (reader_pin(c->adm.rd, &c->files.pin) != 0) {
        fprintf(stderr, "llmbatch: %s: %s; nothing was sent\n", o->input,
                reader_error(c->adm.rd));
        return RUN_EXIT_USAGE;
    }
    if (o->cache_dir) {
        c->cache = cache_open(o->cache_dir, err, sizeof(err));
        if (!c->cache)
            fprintf(stderr, "llmbatch: warning: %s\n", err);
    }
    c->adm.defs = o->defs;
    if (c->cache)
        c->adm.defs.flags |= JOB_WANT_KEY;      /* canonical: shared across runs */
    else if (o->dedup != RUN_DEDUP_OFF)
        c->adm.defs.flags |= JOB_RAW_KEY;       /* in-run: byte-identical bodies */
    if (!o->have_budget)
        c->adm.defs.flags |= JOB_FAST;          /* exact bounds need the full parse */
    if (admit_init(c))
        return oom();
    c->backend = &live_backend;
    if (live_init(c)) {
        fprintf(stderr, "llmbatch: cannot initialise libcurl\n");
        return RUN_EXIT_IO;
    }
    if (signals_install() != 0) {
        fprintf(stderr, "llmbatch: pipe: %s\n", strerror(errno));
        return RUN_EXIT_IO;
    }
    return 0;
}

/* This run's line of the report's run_log (kept in the checkpoint). */
static void log_this_run(run_ctx_t *c)
{
    run_record_t r = c->run_base;

    r.requests_sent = c->stats.requests_sent - c->run_base.requests_sent;
    r.succeeded = c->stats.succeeded - c->run_base.succeeded;
    r.failed = c->stats.failed - c->run_base.failed;
    r.spent = ledger_spent(&c->ledger) - c->run_base.spent;
    r.elapsed_s = (double)(clock_mono_ms() - c->start_ms) / 1000.0;
    stats_log_run(&c->stats, &r);
}

/* --shard: every output path given carries the shard (shard.h).  0 or an
 * exit code. */
static int shard_names(run_opts_t *o, char **owned)
{
    const char **v[4] = { &o->results, &o->errors, &o->report, &o->checkpoint };

    for (int k = 0; k < 4 && o->shard_n; k++) {
        if (!*v[k])
            continue;
        if (!(owned[k] = shard_path(*v[k], o->shard_i, o->shard_n)))
            return oom();
        *v[k] = owned[k];
    }
    return 0;
}

/* Joins (or creates) the shared ledger with this run's terms; the run then
 * uses the ledger's budget and ceilings.  0 or an exit code. */
static int open_shared(run_opts_t *o, ledger_shared_t *sh)
{
    rledger_terms_t t = { .have_budget = o->have_budget, .budget = o->budget,
                          .raise_budget = o->raise_budget, .rpm = o->rpm, .tpm = o->tpm };
    char err[600];

    if (lsh_open(sh, &t, clock_mono_ns(), err, sizeof(err)) != 0) {
        fprintf(stderr, "llmbatch: shared ledger '%s': %s; nothing was sent\n",
                o->ledger_name, err);
        return RUN_EXIT_USAGE;
    }
    o->have_budget = t.have_budget;
    o->budget = t.budget;
    o->rpm = t.rpm;
    o->tpm = t.tpm;
    return 0;
}

int run_main(const run_opts_t *opts)
{
    run_ctx_t ctx, *c = &ctx;
    run_opts_t oc = *opts, *o = &oc;    /* a shared ledger may set budget and ceilings */
    char err[1024], *owned[4] = { NULL, NULL, NULL, NULL };
    ledger_shared_t *sh = NULL;
    uint64_t isize = 0, ihash = 0;
    int rc, resumed = 0, via_rc = 0;
    run_opts_t fitted = *o;         /* --concurrency fitted to the open-file limit */

    if (limits_fit_concurrency(o->concurrency, &fitted.concurrency, err, sizeof(err)))
        fprintf(stderr, "llmbatch: warning: %s\n", err);
    o = &fitted;
    memset(c, 0, sizeof(*c));
    c->o = o;
    c->files.lock = (run_lock_t)RUN_LOCK_INIT;
    c->files.spool = (spool_t)SPOOL_INIT;
    stats_init(&c->stats);
    ckpt_init(&c->ckpt);
    c->start_ms = clock_mono_ms();

    if ((rc = shard_names(o, owned)) != 0 || (rc = setup_files(c)) != 0)
        goto out;
    if (o->ledger_name && !(sh = lsh_connect(o->ledger_name, o->redis_url, err, sizeof(err)))) {
        fprintf(stderr, "llmbatch: shared ledger '%s': %s; nothing was sent\n",
                o->ledger_name, err);
        rc = RUN_EXIT_USAGE;
        goto out;
    }
    rc = RUN_EXIT_USAGE;
    if (!(c->prices = prices_load(cli_prices_path(o->prices), err, sizeof(err)))) {
        fprintf(stderr, "llmbatch: %s\n", err);
        goto out;
    }
    if (keys_load(&c->keys, o->keys_file, err, sizeof(err))) {
        fprintf(stderr, "llmbatch: %s\n", err);
        goto out;
    }
    if (o->no_slow_start)
        for (size_t i = 0; i < c->keys.n; i++)
            c->keys.v[i].rl.window = 0;
    if (input_pin(c->files.input_path, &c->files.pin, err, sizeof(err)) != 0 ||
        input_fingerprint(c->files.input_path, &isize, &ihash, err, sizeof(err)) != 0 ||
        input_pin_check(c->files.input_path, &c->files.pin, err, sizeof(err)) != 0) {
        fprintf(stderr, "llmbatch: %s\n", err);
        goto out;
    }
    c->seed = ihash;
    if ((rc = prepare_checkpoint(c, isize, ihash, &resumed)) != 0)
        goto out;
    if (resumed && !o->via_batch && batch_has_open_parts(c->files.ckpt_path)) {
        fprintf(stderr, "llmbatch: this job has batches still open at the provider "
                "(--via batch); rerun with --via batch to collect them, or `llmbatch "
                "cancel %s` first\n", o->results);
        rc = RUN_EXIT_USAGE;
        goto out;
    }
    if ((rc = run_outputs_resume(c, resumed)) != 0)
        goto out;
    if ((rc = validate_input(c, resumed)) != 0)
        goto out;
    rc = RUN_EXIT_USAGE;
    if (check_keys(c, c->ckpt.dialects))
        goto out;
    c->ckpt.input_size = isize;
    c->ckpt.input_hash = ihash;
    c->ckpt.settings_hash = settings_hash(o);
    c->ckpt.shard_i = o->shard_i;
    c->ckpt.shard_n = o->shard_n;
    free(c->ckpt.input_path);
    c->ckpt.input_path = strdup(o->input);
    {
        char real[PATHS_MAX];
        free(c->ckpt.results_path);
        free(c->ckpt.errors_path);
        c->ckpt.results_path = paths_resolve(o->results, real, sizeof(real)) == 0
                               ? strdup(real) : NULL;
        c->ckpt.errors_path = paths_resolve(c->files.errors_path, real, sizeof(real)) == 0
                              ? strdup(real) : NULL;
    }

    if ((rc = check_base_urls(c)) != 0)
        goto out;
    if (sh && (rc = open_shared(o, sh)) != 0)
        goto out;
    carry_money(c, resumed);
    if (sh) {
        ledger_attach(&c->ledger, sh);
        sh = NULL;
        if (keyshare_sync(c, 1, err, sizeof(err)) != 0) {
            fprintf(stderr, "llmbatch: %s; nothing was sent\n", err);
            rc = RUN_EXIT_USAGE;
            goto out;
        }
    }
    c->stats.runs++;
    c->run_base.run = c->stats.runs;
    c->run_base.requests_sent = c->stats.requests_sent;
    c->run_base.succeeded = c->stats.succeeded;
    c->run_base.failed = c->stats.failed;
    c->run_base.spent = ledger_spent(&c->ledger);
    warn_reservations(c);
    if (o->shard_n > 1 && o->have_budget && !c->ledger.sh)
        fprintf(stderr, "llmbatch: warning: --shard without --ledger: this shard's --budget "
                "is its own, not shared with the other shards (add --ledger NAME --redis URL "
                "to share one budget)\n");
    if (o->insecure)
        fprintf(stderr, "llmbatch: warning: --insecure: TLS certificates are NOT verified\n");
    if ((rc = open_run(c, resumed)) != 0)
        goto out;

    /* the first commit records the input's identity before anything is sent
     * (--via batch: batch_run() makes it, with the money of open batches) */
    c->last_commit_ms = clock_mono_ms();
    if (!o->via_batch && sched_commit(c, 0, 0) != 0) {
        fprintf(stderr, "llmbatch: fatal: %s; nothing was sent.  Rerun the same command "
                "to start once there is room.\n", c->fatal);
        rc = RUN_EXIT_IO;
        goto out;
    }
    progress_tick(c, 1);
    if (o->via_batch)
        via_rc = batch_run(c);
    else
        sched_loop(c);
    sched_release(c);
    c->stats.elapsed_s += (double)(clock_mono_ms() - c->start_ms) / 1000.0;
    log_this_run(c);
    if (!c->no_commit)
        sched_commit(c, 1, 0);
    if (keyshare_sync(c, 1, err, sizeof(err)) != 0 ||
        ledger_close(&c->ledger, err, sizeof(err)) != 0)
        fprintf(stderr, "llmbatch: warning: %s (this process's lease stays counted as "
                "possibly billed)\n", err);
    progress_finish(c);
    rc = exit_code(c);
    if (via_rc && (rc == RUN_EXIT_OK || rc == RUN_EXIT_FAILED))
        rc = via_rc;
    rc = run_outputs_finish(c, rc);
    if (c->stop == STOP_IO)
        fprintf(stderr, "llmbatch: fatal: %s; stopped.  The checkpoint holds the last "
                "commit; once the cause is fixed, rerun the same command to resume.\n", c->fatal);
    report_finish(c, rc);
    if (o->via_batch)
        batch_report(c);
out:
    free_ctx(c);
    if (sh)
        lsh_close(sh, err, sizeof(err));
    for (int k = 0; k < 4; k++)
        free(owned[k]);
    return rc;
}
