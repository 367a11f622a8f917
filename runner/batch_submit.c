/*
 * batch_submit: upload (OpenAI), reserve, durable intent, create, and
 * the decision for an intent whose answer was lost (adopt / resubmit / stop);
 * cancel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "batch_int.h"

/* ---- submit ------------------------------------------------------------- */

/* POST the batch (intent already durable).  0 submitted, 1 lost (the call
 * may have been performed), 2 refused on a queue limit (429), -1 refused
 * or stopped. */
static int create_batch(drv_t *d, bpart_t *p, api_key_t *k)
{
    ctl_resp_t r = { 0 };
    char path[4300], body[1024];
    json_t *doc;
    batch_info_t bi;
    int rc;

    if (p->dialect == DIALECT_ANTHROPIC) {
        bd_part_path(d, p->n, "jsonl", path, sizeof(path));
        rc = bd_call(d, k, "POST", "/v1/messages/batches", NULL, NULL, path, NULL, 1, &r);
    } else {
        snprintf(body, sizeof(body), "{\"input_file_id\":\"%s\",\"endpoint\":\"%s\","
                 "\"completion_window\":\"24h\",\"metadata\":{\"llmbatch_run\":\"%s\","
                 "\"llmbatch_part\":\"%d\"}}", p->file_id, p->endpoint, d->st.run, p->n);
        rc = bd_call(d, k, "POST", "/v1/batches", body, NULL, NULL, NULL, 1, &r);
    }
    if (rc == CTL_LOST) {
        buf_release(&r.body);
        return 1;
    }
    if (rc == CTL_FAIL && r.status == 429) {
        /* a queue or enqueued-token limit that outlasted the retries: not a
         * job failure, the jobs wait and go again in smaller parts */
        blimit_t *l = bd_learned(d, p->dialect, p->model, 1);
        if (l && p->jobs > 1 && l->max_jobs > p->jobs / 2)
            l->max_jobs = p->jobs / 2;
        d->plan_not_before_ms = clock_mono_ms() +
            (d->c->o->poll_s > 0 ? (int64_t)(d->c->o->poll_s * 5000) : 60000);
        buf_release(&r.body);
        return 2;
    }
    if (rc != CTL_OK || r.status < 200 || r.status >= 300 ||
        !(doc = bd_resp_json(&r))) {
        bd_call_failed(d, "creating the batch", p, &r);
        buf_release(&r.body);
        return -1;
    }
    rc = batchfmt_parse_batch((dialect_t)p->dialect, doc, &bi);
    json_decref(doc);
    buf_release(&r.body);
    if (rc != 0) {
        run_fatal(d->c, "creating batch part %d: the answer is not a batch object", p->n);
        return -1;
    }
    snprintf(p->batch_id, sizeof(p->batch_id), "%s", bi.id);
    snprintf(p->created_at, sizeof(p->created_at), "%s", bi.created_at);
    snprintf(p->phase, sizeof(p->phase), "%s", batchfmt_phase_name(bi.phase));
    p->total = bi.total;
    p->state = BP_SUBMITTED;
    return 0;
}

/* A create refused on a queue limit: nothing was created; the part's money
 * is released and its jobs are planned again later.  0 or -1. */
static int part_requeue(drv_t *d, bpart_t *p)
{
    ledger_settle(&d->c->ledger, p->reserve, 0, SETTLE_RELEASE);
    bd_busy_part(d, p, 0);
    p->state = BP_CLOSED;
    p->rows_back = p->jobs;
    snprintf(p->note, sizeof(p->note), "refused on a queue limit (429): its jobs "
             "wait and go again");
    d->exhausted = 0;
    return bd_drv_commit(d);
}

/* 1 if a part of this run already owns batch id. */
static int known_batch(const drv_t *d, const char *id)
{
    for (size_t i = 0; i < d->st.n; i++)
        if (strcmp(d->st.v[i].batch_id, id) == 0)
            return 1;
    return 0;
}

/* Lists the key's batches and finds those that may be part p's.  Returns
 * the number of candidates (ids in out, space separated), -1 on error. */
static int find_candidates(drv_t *d, bpart_t *p, api_key_t *k, char *out, size_t outlen)
{
    char path[512], after[160] = "";
    int found = 0;

    out[0] = '\0';
    for (int page = 0; page < 100; page++) {
        ctl_resp_t r = { 0 };
        json_t *doc, *data, *o;
        size_t i;
        int more, old = 0;

        if (p->dialect == DIALECT_ANTHROPIC)
            snprintf(path, sizeof(path), "/v1/messages/batches?limit=100%s%s",
                     *after ? "&after_id=" : "", after);
        else
            snprintf(path, sizeof(path), "/v1/batches?limit=100%s%s",
                     *after ? "&after=" : "", after);
        if (bd_call(d, k, "GET", path, NULL, NULL, NULL, NULL, 0, &r) != CTL_OK ||
            r.status != 200 || !(doc = bd_resp_json(&r))) {
            bd_call_failed(d, "listing batches", p, &r);
            buf_release(&r.body);
            return -1;
        }
        buf_release(&r.body);
        data = json_object_get(doc, "data");
        json_array_foreach(data, i, o) {
            batch_info_t bi;
            int match;
            if (batchfmt_parse_batch((dialect_t)p->dialect, o, &bi) != 0)
                continue;
            if (bi.created_epoch && bi.created_epoch < p->intent_at - 600)
                old = 1;        /* newest first: the rest is older still */
            if (p->dialect == DIALECT_ANTHROPIC)
                /* no metadata: same size, created since the intent (2 min of
                 * clock skew), and not the batch of another part */
                match = bi.total == p->jobs && bi.created_epoch >= p->intent_at - 120 &&
                        !known_batch(d, bi.id);
            else
                match = strcmp(bi.meta_run, d->st.run) == 0 && bi.meta_part == p->n;
            if (match) {
                size_t n = strlen(out);
                snprintf(out + n, outlen - n, "%s%s", n ? " " : "", bi.id);
                found++;
            }
        }
        more = json_is_true(json_object_get(doc, "has_more"));
        snprintf(after, sizeof(after), "%s",
                 json_string_value(json_object_get(doc, "last_id")) ?
                 json_string_value(json_object_get(doc, "last_id")) : "");
        json_decref(doc);
        if (!more || old || !*after)
            break;
    }
    return found;
}

/* A part with an intent and no batch id: adopt, resubmit, or stop (exit 5).
 * 0 decided (submitted), -1 stopped. */
int bd_settle_intent(drv_t *d, bpart_t *p, api_key_t *k)
{
    const run_opts_t *o = d->c->o;
    char cands[2048];
    int n;

    for (int tries = 0; tries < 3 && !d->c->stop; tries++) {
        if (o->resubmit_part == p->n) {
            n = 0;
        } else if ((n = find_candidates(d, p, k, cands, sizeof(cands))) < 0) {
            return -1;
        }
        if (o->adopt_batch && n >= 1 && strstr(cands, o->adopt_batch)) {
            snprintf(cands, sizeof(cands), "%s", o->adopt_batch);
            n = 1;
        }
        if (n > 1) {
            run_fatal(d->c, "batch part %d may have been submitted more than once: "
                      "candidate batches %s.  Rerun with --adopt-batch ID to keep one "
                      "(cancel the others yourself), or --resubmit-part %d", p->n, cands, p->n);
            return -1;
        }
        if (n == 1) {
            snprintf(p->batch_id, sizeof(p->batch_id), "%s", cands);
            p->state = BP_SUBMITTED;
            if (!o->quiet)
                fprintf(stderr, "llmbatch: part %d: adopted batch %s found at the provider\n",
                        p->n, cands);
            return bd_drv_commit(d);
        }
        switch (create_batch(d, p, k)) {
        case 0:  return bd_drv_commit(d);
        case 2:  return part_requeue(d, p);
        case -1: return -1;
        default: break;     /* lost again: look again */
        }
    }
    if (!d->c->stop)
        run_fatal(d->c, "batch part %d: cannot tell whether the batch was created "
                  "(connections keep dropping); rerun later", p->n);
    return -1;
}

/* Uploads (OpenAI), reserves, writes the intent, creates.  0 submitted,
 * -1 stopped. */
int bd_submit_part(drv_t *d, bpart_t *p)
{
    run_ctx_t *c = d->c;
    api_key_t *k = bd_key_named(d, p->dialect, NULL);
    ctl_resp_t r = { 0 };
    char path[4300];
    json_t *doc;

    if (!k) {
        c->stop = STOP_NOKEY;
        d->st.n--;
        return -1;
    }
    snprintf(p->key, sizeof(p->key), "%s", k->name);
    if (p->dialect == DIALECT_OPENAI) {
        bd_part_path(d, p->n, "jsonl", path, sizeof(path));
        if (bd_call(d, k, "POST", "/v1/files", NULL, path, NULL, NULL, 0, &r) != CTL_OK ||
            r.status != 200 || !(doc = bd_resp_json(&r)) ||
            !json_string_value(json_object_get(doc, "id"))) {
            bd_call_failed(d, "uploading the input file", p, &r);
            buf_release(&r.body);
            d->st.n--;
            return -1;
        }
        snprintf(p->file_id, sizeof(p->file_id), "%s",
                 json_string_value(json_object_get(doc, "id")));
        json_decref(doc);
        buf_release(&r.body);
    }
    /* the bound covers the part before its money is taken and the call made */
    if (ledger_money(&c->ledger, p->reserve) != LEDGER_GO) {
        d->st.n--;              /* never written: its jobs stay free */
        d->money_wait = 1;
        return -1;
    }
    ledger_take(&c->ledger, p->reserve, 0, clock_mono_ns());
    p->state = BP_INTENT;
    p->intent_at = (int64_t)time(NULL);
    snprintf(p->phase, sizeof(p->phase), "submitting");
    bd_busy_part(d, p, 1);
    if (bd_drv_commit(d) != 0)     /* the intent and the bound covering it */
        return -1;
    switch (create_batch(d, p, k)) {
    case 0:
        if (!c->o->quiet)
            fprintf(stderr, "llmbatch: part %d: %llu %s %s jobs submitted as batch %s\n",
                    p->n, (unsigned long long)p->jobs, bd_prov(p->dialect), p->model, p->batch_id);
        return bd_drv_commit(d);
    case 1:
        return bd_settle_intent(d, p, k);
    case 2:
        return part_requeue(d, p);
    default:
        if (c->stop == STOP_SIGNAL)
            return -1;      /* the intent stays: the next run finds out */
        /* refused: nothing was created; the jobs go back to pending */
        ledger_settle(&c->ledger, p->reserve, 0, SETTLE_RELEASE);
        bd_busy_part(d, p, 0);
        p->state = BP_CLOSED;
        snprintf(p->note, sizeof(p->note), "refused by the provider");
        bstate_save(d->state_path, &d->st);
        return -1;
    }
}

void bd_cancel_part(drv_t *d, bpart_t *p)
{
    api_key_t *k = bd_key_named(d, p->dialect, p->key);
    ctl_resp_t r = { 0 };
    char path[400];

    if (!k)
        return;
    snprintf(path, sizeof(path), p->dialect ? "/v1/messages/batches/%s/cancel"
                                            : "/v1/batches/%s/cancel", p->batch_id);
    if (bd_call(d, k, "POST", path, NULL, NULL, NULL, NULL, 0, &r) != CTL_OK)
        bd_call_failed(d, "cancelling the batch", p, &r);
    else if (!d->c->o->quiet)
        fprintf(stderr, "llmbatch: part %d: batch %s %s\n", p->n, p->batch_id,
                r.status < 300 ? "cancelling" : "had already ended");
    buf_release(&r.body);
}
