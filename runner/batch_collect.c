/*
 * batch_collect: polling a part, and collecting a batch that ended:
 * result files streamed to disk, each row ended through finish_job() and
 * settled through settle_attempt(), unrun rows back to pending.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "batch_int.h"
#include "results.h"

/* ---- collect ------------------------------------------------------------ */

/* Downloads a file/URL to part-N.<ext> and feeds each line to rows().
 * 0 or -1. */

static void end_row(drv_t *d, bpart_t *p, api_key_t *k, const batch_row_t *row, bman_t *e,
                    const price_t *bp)
{
    run_ctx_t *c = d->c;
    slot_t *s;
    endpoint_t ep;

    e->seen = 1;
    if (!(s = slot_new(c))) {
        run_fatal(c, "out of memory");
        return;
    }
    s->job.ordinal = e->ord;
    s->job.dialect = (dialect_t)p->dialect;
    s->job.path = job_endpoint_path(p->endpoint, &ep);
    s->job.endpoint = ep;
    s->job.custom_id = strdup(e->cid);
    s->job.model = strdup(p->model);
    s->price = bp;
    s->reservation = e->r;
    s->reserved = 1;
    s->key = k;
    if (!s->job.custom_id || !s->job.model) {
        ledger_settle(&c->ledger, e->r, 0, SETTLE_RELEASE);
        slot_free(c, s);
        run_fatal(c, "out of memory");
        return;
    }
    if (row->kind == ROW_OK) {
        usage_t u;
        job_end_t je = { .ok = 1, .status = row->status, .request_id = row->request_id,
                         .tree = row->body, .mark = RESULTS_MARK_BATCH };
        memset(&u, 0, sizeof(u));
        provider_usage((dialect_t)p->dialect, row->body, &u);
        je.cost = settle_attempt(c, s, SETTLE_HOW_USAGE, &u);
        p->cost = money_add(p->cost, je.cost);
        p->rows_ok++;
        finish_job(c, s, &je);
    } else if (row->kind == ROW_FAILED) {
        job_end_t je = { .ok = 0, .status = row->status, .request_id = row->request_id,
                         .tree = row->body, .code = row->code ? row->code : "batch_row_failed",
                         .message = row->message ? row->message : "the batch row failed" };
        settle_attempt(c, s, SETTLE_HOW_FREE, NULL);
        p->rows_failed++;
        finish_job(c, s, &je);
    } else {
        settle_attempt(c, s, SETTLE_HOW_FREE, NULL);
        p->rows_back++;
        slot_free(c, s);
    }
}

static int download(drv_t *d, bpart_t *p, api_key_t *k, const char *path, const char *ext,
                    bman_t *v, size_t n, const price_t *bp)
{
    char fpath[4300], err[256], *line = NULL;
    ctl_resp_t r = { 0 };
    size_t cap = 0;
    ssize_t len;
    FILE *f;
    int rc;

    bd_part_path(d, p->n, ext, fpath, sizeof(fpath));
    if (!(f = fopen(fpath, "w+"))) {
        run_fatal_io(d->c, "creating", fpath);
        return -1;
    }
    rc = bd_call(d, k, "GET", path, NULL, NULL, NULL, f, 0, &r);
    if (rc != CTL_OK || r.status != 200) {
        bd_call_failed(d, "downloading results", p, &r);
        buf_release(&r.body);
        fclose(f);
        return -1;
    }
    buf_release(&r.body);
    fflush(f);
    rewind(f);
    while (!d->c->stop && (len = getline(&line, &cap, f)) > 0) {
        batch_row_t row;
        bman_t *e;
        if (len <= 1)
            continue;
        redact(d->c, line, (size_t)len);
        if (batchfmt_parse_row((dialect_t)p->dialect, line, (size_t)len, &row, err,
                               sizeof(err)) != 0) {
            fprintf(stderr, "llmbatch: warning: batch %s: skipped a result line: %s\n",
                    p->batch_id, err);
            continue;
        }
        e = bd_manifest_find(v, n, row.ordinal);
        if (e && !e->seen && !ckpt_done(&d->c->ckpt, e->ord))
            end_row(d, p, k, &row, e, bp);
        json_decref(row.root);
    }
    free(line);
    fclose(f);
    unlink(fpath);
    return 0;
}

static int limit_failure(const char *code)
{
    return strstr(code, "token_limit") || strstr(code, "rate_limit") ||
           strstr(code, "queue");
}

/* Part p's batch ended (bi): its lines, its money; then closed. 0 or -1. */
static int collect(drv_t *d, bpart_t *p, api_key_t *k, const batch_info_t *bi)
{
    run_ctx_t *c = d->c;
    bman_t *v = NULL;
    size_t n = 0;
    price_t tmp;
    const price_t *bp = bd_batch_price(d, p->model, p->dialect, &tmp);
    char path[1400];
    int rc = 0;

    if (bd_manifest_load(d, p, &v, &n) != 0)
        return -1;
    if (bi->phase == BPH_FAILED && !limit_failure(bi->error_code)) {
        for (size_t i = 0; i < n && !c->stop; i++) {
            batch_row_t row = { .ordinal = v[i].ord, .kind = ROW_FAILED,
                                .code = *bi->error_code ? bi->error_code : "batch_failed",
                                .message = *bi->error_message ? bi->error_message
                                                              : "the whole batch failed" };
            if (!ckpt_done(&c->ckpt, v[i].ord))
                end_row(d, p, k, &row, &v[i], bp);
        }
    } else if (bi->phase == BPH_FAILED) {
        blimit_t *l = bd_learned(d, p->dialect, p->model, 1);
        snprintf(p->note, sizeof(p->note), "failed on %s: its jobs wait and go again",
                 bi->error_code);
        if (l && p->jobs > 1 && l->max_jobs > p->jobs / 2)
            l->max_jobs = p->jobs / 2;      /* smaller parts from now on */
        d->plan_not_before_ms = clock_mono_ms() +
            (c->o->poll_s > 0 ? (int64_t)(c->o->poll_s * 5000) : 60000);
    } else if (p->dialect == DIALECT_ANTHROPIC) {
        if (*bi->results_url)
            rc = download(d, p, k, bi->results_url, "out", v, n, bp);
    } else {
        if (*bi->output_file_id) {
            snprintf(path, sizeof(path), "/v1/files/%s/content", bi->output_file_id);
            rc = download(d, p, k, path, "out", v, n, bp);
        }
        if (rc == 0 && *bi->error_file_id) {
            snprintf(path, sizeof(path), "/v1/files/%s/content", bi->error_file_id);
            rc = download(d, p, k, path, "err", v, n, bp);
        }
    }
    if (rc != 0 || c->stop) {
        bd_manifest_free(v, n);
        return -1;
    }
    /* rows without a line (never run): back to pending, reservation released */
    for (size_t i = 0; i < n; i++) {
        if (v[i].seen || ckpt_done(&c->ckpt, v[i].ord))
            continue;
        ledger_settle(&c->ledger, v[i].r, 0, SETTLE_RELEASE);
        p->rows_back++;
    }
    bd_manifest_free(v, n);
    /* the lines are durable before the part is marked closed */
    if (bd_drv_commit(d) != 0)
        return -1;
    bd_busy_part(d, p, 0);
    if (p->rows_back && !c->o->cancel_batches) {
        d->exhausted = 0;       /* its unrun rows are to be planned again */
        if (c->o->fallback_live && (bi->phase == BPH_EXPIRED || bi->phase == BPH_CANCELLED ||
                                    bi->phase == BPH_ENDED))
            d->fallback = 1;    /* ... or sent live once no batch is open */
    }
    p->state = BP_CLOSED;
    snprintf(p->ended_at, sizeof(p->ended_at), "%lld", (long long)time(NULL));
    if (p->rows_back && !*p->note)
        snprintf(p->note, sizeof(p->note), "%llu rows not run (%s): back to pending",
                 (unsigned long long)p->rows_back, p->phase);
    if (bd_drv_commit(d) != 0)
        return -1;
    for (const char *ext = "jsonl"; ext; ext = strcmp(ext, "jsonl") == 0 ? "ids" : NULL) {
        bd_part_path(d, p->n, ext, path, sizeof(path));
        unlink(path);
    }
    if (!c->o->quiet)
        fprintf(stderr, "llmbatch: part %d (batch %s) %s: %llu succeeded, %llu failed, "
                "%llu back to pending\n", p->n, p->batch_id, p->phase,
                (unsigned long long)p->rows_ok, (unsigned long long)p->rows_failed,
                (unsigned long long)p->rows_back);
    return 0;
}

/* ---- poll --------------------------------------------------------------- */

static void show(drv_t *d, const bpart_t *p)
{
    run_ctx_t *c = d->c;
    uint64_t inb = 0, done = ckpt_count_done(&c->ckpt);
    char sp[32];

    if (c->o->quiet)
        return;
    for (size_t i = 0; i < d->st.n; i++)
        if (d->st.v[i].state == BP_SUBMITTED || d->st.v[i].state == BP_INTENT)
            inb += d->st.v[i].jobs;
    money_format(ledger_spent(&c->ledger), 4, sp, sizeof(sp));
    fprintf(stderr, "llmbatch: part %d %s: %s, %llu/%llu rows done (%llu failed) | "
            "jobs: %llu done, %llu in batches, %llu not submitted | $%s spent\n",
            p->n, p->batch_id, p->phase, (unsigned long long)p->done,
            (unsigned long long)p->total, (unsigned long long)p->failed,
            (unsigned long long)done, (unsigned long long)inb,
            (unsigned long long)(c->ckpt.njobs > done + inb ? c->ckpt.njobs - done - inb : 0),
            sp);
}

/* Polls part p once; collects it when it ended.  1 changed, 0 not, -1 stop. */
int bd_poll_part(drv_t *d, bpart_t *p)
{
    api_key_t *k = bd_key_named(d, p->dialect, p->key);
    ctl_resp_t r = { 0 };
    char path[400];
    batch_info_t bi;
    json_t *doc;
    int changed;

    if (!k) {
        run_fatal(d->c, "batch part %d was submitted with key %s, which is not loaded now",
                  p->n, p->key);
        return -1;
    }
    snprintf(path, sizeof(path), p->dialect ? "/v1/messages/batches/%s" : "/v1/batches/%s",
             p->batch_id);
    if (bd_call(d, k, "GET", path, NULL, NULL, NULL, NULL, 0, &r) != CTL_OK || r.status != 200 ||
        !(doc = bd_resp_json(&r))) {
        bd_call_failed(d, "polling the batch", p, &r);
        buf_release(&r.body);
        return -1;
    }
    buf_release(&r.body);
    if (batchfmt_parse_batch((dialect_t)p->dialect, doc, &bi) != 0) {
        json_decref(doc);
        run_fatal(d->c, "polling batch %s: the answer is not a batch object", p->batch_id);
        return -1;
    }
    json_decref(doc);
    changed = strcmp(p->phase, batchfmt_phase_name(bi.phase)) != 0 || p->done != bi.done;
    snprintf(p->phase, sizeof(p->phase), "%s", batchfmt_phase_name(bi.phase));
    p->total = bi.total;
    p->done = bi.done;
    p->failed = bi.failed;
    if (changed)
        show(d, p);
    if (batchfmt_phase_final(bi.phase))
        return collect(d, p, k, &bi) == 0 ? 1 : -1;
    return changed;
}

/* Asks the provider to cancel part p's batch (a batch that already ended
 * answers 4xx: nothing to do). */
