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
 *   - a part's reservation is taken only after a commit whose durable bound
 *     covers it, and before its intent is written; on resume the unsettled
 *     reservations of open parts are moved from "possibly billed" back to
 *     outstanding, because their rows will still be collected;
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
#include "batch.h"
#include "batch_state.h"
#include "batchfmt.h"
#include "cli.h"
#include "clock.h"
#include "ctl.h"
#include "provider.h"
#include "run_int.h"
#include "url.h"

typedef struct bman {
    uint64_t ord;
    money_t  r;
    char    *cid;
    int      seen;
} bman_t;

/* What a model's parts may hold after a token-limit failure (learned). */
typedef struct blimit {
    int      dialect;
    char     model[128];
    uint64_t max_jobs;
} blimit_t;

typedef struct drv {
    run_ctx_t *c;
    ctl_t      ctl;
    bstate_t   st;
    char       state_path[4200], spool[4200];
    uint64_t  *busy;
    uint64_t   nbusy;             /* bits */
    int        exhausted;         /* no job left to plan */
    int        money_wait;        /* the next job waits for open parts to settle */
    int        tokens_wait;       /* ... for open parts of its model to finish */
    int64_t    plan_not_before_ms;
    blimit_t   lim[16];
    int        nlim;
} drv_t;

static const char *prov(int d) { return d ? "anthropic" : "openai"; }

/* ---- small helpers ------------------------------------------------------ */

static int busy_get(const drv_t *d, uint64_t i)
{
    return i < d->nbusy && (d->busy[i >> 6] >> (i & 63)) & 1;
}

static void busy_set(drv_t *d, uint64_t i, int on)
{
    if (i >= d->nbusy)
        return;
    if (on)
        d->busy[i >> 6] |= (uint64_t)1 << (i & 63);
    else
        d->busy[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

static void part_path(const drv_t *d, int n, const char *ext, char *out, size_t len)
{
    snprintf(out, len, "%s/part-%d.%s", d->spool, n, ext);
}

/* Commit step: the batch state first, then outputs + checkpoint.  The
 * durable money bound is exactly what is reserved (the open parts): money
 * is only ever reserved here, whole parts at a time, before a commit, so no
 * headroom is needed and a crash books nothing that was not at stake. */
static int drv_commit(drv_t *d)
{
    run_ctx_t *c = d->c;

    if (c->no_commit)
        return -1;
    if (bstate_save(d->state_path, &d->st) != 0) {
        run_fatal_io(c, "writing batch state", d->state_path);
        return -1;
    }
    return sched_commit(c, 1, 0);
}

static int take_signal(drv_t *d)
{
    run_ctx_t *c = d->c;
    int last = 0;

    if (signals_take(&last) == 0)
        return 0;
    if (!c->exit_signal)
        c->exit_signal = last;
    c->stop = STOP_SIGNAL;
    return 1;
}

static api_key_t *key_named(drv_t *d, int dialect, const char *name)
{
    for (size_t i = 0; i < d->c->keys.n; i++) {
        api_key_t *k = &d->c->keys.v[i];
        if ((int)k->dialect == dialect && (!name || !*name || strcmp(k->name, name) == 0))
            return k;
    }
    return NULL;
}

/* Request headers for key k: auth, version, and a JSON content type unless
 * the body is multipart. */
static struct curl_slist *key_headers(api_key_t *k, int json)
{
    char auth[4200];
    const char *h[4];
    int n = 0;
    struct curl_slist *l;

    if (keys_auth_header(k, auth, sizeof(auth)))
        return NULL;
    h[n++] = auth;
    if (json)
        h[n++] = "Content-Type: application/json";
    if (k->dialect == DIALECT_ANTHROPIC)
        h[n++] = "anthropic-version: " PROVIDER_ANTHROPIC_VERSION;
    h[n] = NULL;
    l = pool_headers(h);
    memset(auth, 0, sizeof(auth));
    return l;
}

/* One control call for part p's key.  CTL_* ; resp->body holds the answer. */
static int call(drv_t *d, api_key_t *k, const char *method, const char *path,
                const char *body, const char *upload, const char *stream, FILE *sink,
                int no_resend, ctl_resp_t *resp)
{
    char *url = strncmp(path, "http", 4) == 0 ? strdup(path)
                : url_join(cli_base_url(k->dialect, d->c->o->base_url), path);
    struct curl_slist *h = key_headers(k, !upload);
    ctl_req_t req = { .method = method, .url = url, .headers = h, .body = body,
                      .body_len = body ? strlen(body) : 0, .upload_path = upload,
                      .stream_path = stream, .sink = sink, .no_resend = no_resend };
    int rc = CTL_FAIL;

    if (url && h)
        rc = ctl_request(&d->ctl, &req, resp);
    else
        snprintf(resp->err, sizeof(resp->err), "out of memory");
    pool_headers_free(h);
    free(url);
    if (resp->body.len)
        redact(d->c, resp->body.data, resp->body.len);
    if (rc == CTL_SIGNAL)
        take_signal(d), d->c->stop = STOP_SIGNAL;
    return rc;
}

static json_t *resp_json(const ctl_resp_t *r)
{
    return r->body.len ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
}

/* A control call that did not get a usable answer: exit 5 naming it. */
static void call_failed(drv_t *d, const char *what, const bpart_t *p, const ctl_resp_t *r)
{
    if (d->c->stop == STOP_SIGNAL)
        return;
    run_fatal(d->c, "%s for batch part %d (%s %s) failed: %s%s%.300s", what, p->n,
              prov(p->dialect), p->model, r->status ? "" : r->err,
              r->status ? "server said: " : "", r->status ? r->body.data : "");
}

/* ---- manifests ---------------------------------------------------------- */

static void manifest_free(bman_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].cid);
    free(v);
}

static int manifest_load(drv_t *d, const bpart_t *p, bman_t **out, size_t *nout)
{
    char path[4300], *line = NULL;
    size_t cap = 0, n = 0, vcap = 0;
    bman_t *v = NULL;
    ssize_t len;
    FILE *f;

    part_path(d, p->n, "ids", path, sizeof(path));
    if (!(f = fopen(path, "r"))) {
        run_fatal_io(d->c, "reading batch manifest", path);
        return -1;
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        unsigned long long ord;
        long long r;
        int off = 0;
        json_t *cid;
        if (sscanf(line, "%llu %lld %n", &ord, &r, &off) < 2 || off <= 0 ||
            !(cid = json_loads(line + off, JSON_DECODE_ANY, NULL)) || !json_is_string(cid)) {
            run_fatal(d->c, "%s: damaged line %zu", path, n + 1);
            goto fail;
        }
        if (n == vcap) {
            bman_t *nv = realloc(v, (vcap = vcap ? vcap * 2 : 1024) * sizeof(*v));
            if (!nv) {
                json_decref(cid);
                run_fatal(d->c, "out of memory");
                goto fail;
            }
            v = nv;
        }
        v[n] = (bman_t){ ord, r, strdup(json_string_value(cid)), 0 };
        json_decref(cid);
        if (!v[n++].cid) {
            run_fatal(d->c, "out of memory");
            goto fail;
        }
    }
    free(line);
    fclose(f);
    *out = v;
    *nout = n;
    return 0;
fail:
    free(line);
    fclose(f);
    manifest_free(v, n);
    return -1;
}

static bman_t *manifest_find(bman_t *v, size_t n, uint64_t ord)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid].ord == ord)
            return &v[mid];
        if (v[mid].ord < ord)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- planning a part ---------------------------------------------------- */

static const price_t *batch_price(drv_t *d, const char *model, int dialect, price_t *tmp)
{
    const price_t *lp = d->c->prices ? prices_lookup(d->c->prices, model) : NULL;
    if (!lp)
        return NULL;
    price_batch(d->c->prices, lp, (dialect_t)dialect, tmp);
    return tmp;
}

static uint64_t size_limit(int dialect)
{
    return dialect ? 250000000ull : 190000000ull;   /* under 256 MB / 200 MB */
}

static blimit_t *learned(drv_t *d, int dialect, const char *model, int add)
{
    for (int i = 0; i < d->nlim; i++)
        if (d->lim[i].dialect == dialect && strcmp(d->lim[i].model, model) == 0)
            return &d->lim[i];
    if (!add || d->nlim == (int)(sizeof(d->lim) / sizeof(d->lim[0])))
        return NULL;
    d->lim[d->nlim] = (blimit_t){ .dialect = dialect, .max_jobs = UINT64_MAX };
    snprintf(d->lim[d->nlim].model, sizeof(d->lim[0].model), "%s", model);
    return &d->lim[d->nlim++];
}

static uint64_t count_limit(drv_t *d, int dialect, const char *model)
{
    uint64_t m = dialect ? 100000 : 50000, b = d->c->o->batch_size;
    blimit_t *l = learned(d, dialect, model, 0);
    if (b && b < m)
        m = b;
    return l && l->max_jobs < m ? l->max_jobs : m;
}

/* Prompt tokens already enqueued in the open parts of this model. */
static uint64_t enqueued(const drv_t *d, int dialect, const char *model)
{
    uint64_t t = 0;
    for (size_t i = 0; i < d->st.n; i++) {
        const bpart_t *p = &d->st.v[i];
        if ((p->state == BP_INTENT || p->state == BP_SUBMITTED) && p->dialect == dialect &&
            strcmp(p->model, model) == 0)
            t += p->tokens;
    }
    return t;
}

/* Writes the next part's upload file and manifest.  Returns the part
 * (state BP_PLANNED) or NULL: nothing left (d->exhausted), the money is
 * short (d->money_wait or c->stop), or an error (c->stop). */
static bpart_t *plan_part(drv_t *d)
{
    run_ctx_t *c = d->c;
    const run_opts_t *o = c->o;
    job_defaults_t defs = c->adm.defs;
    char path[4300], mpath[4300], err[1024];
    FILE *f = NULL, *m = NULL;
    reader_t *rd = NULL;
    bpart_t *p = NULL;
    buf_t line = BUF_INIT;
    uint64_t ord = 0, bytes = 0, lim = 0, tok_room = UINT64_MAX;
    money_t cum = 0;
    const char *l;
    size_t len;
    uint64_t lineno;
    int got;

    defs.flags = 0;
    d->money_wait = 0;
    d->tokens_wait = 0;
    if (!(rd = reader_open(c->files.input_path, err, sizeof(err)))) {
        run_fatal(c, "%s", err);
        return NULL;
    }
    while ((got = reader_next(rd, &l, &len, &lineno)) != READER_EOF) {
        job_t j;
        price_t tmp;
        const price_t *bp;
        money_t r = 0;
        size_t k;

        if (got == READER_ERR) {
            run_fatal(c, "%s: %s", o->input, reader_error(rd));
            goto out;
        }
        if (got == READER_LINE) {
            for (k = 0; k < len && (l[k] == ' ' || l[k] == '\t' || l[k] == '\r'); k++)
                ;
            if (k == len)
                continue;
        }
        ord++;
        if (ckpt_done(&c->ckpt, ord - 1) || busy_get(d, ord - 1))
            continue;
        if (got == READER_TOOLONG) {
            finish_invalid(c, ord - 1, lineno, NULL, "line is longer than 32 MiB");
            continue;
        }
        if (job_parse(l, len, lineno, &defs, &j, err, sizeof(err)) != 0) {
            if (!o->skip_invalid) {
                run_fatal(c, "%s:%llu: %s (the input changed during the run)", o->input,
                          (unsigned long long)lineno, err);
                goto out;
            }
            finish_invalid(c, ord - 1, lineno, NULL, err);
            continue;
        }
        j.ordinal = ord - 1;
        if (p && ((int)j.dialect != p->dialect || strcmp(j.model, p->model) != 0 ||
                  strcmp(j.path, p->endpoint) != 0)) {
            job_release(&j);
            continue;
        }
        if ((bp = batch_price(d, j.model, j.dialect, &tmp)) &&
            price_reservation(bp, &j, &r, err, sizeof(err)) != 0)
            r = 0;
        if (c->ledger.budget.capped && (!bp || ledger_money(&c->ledger, money_add(cum, r)) != LEDGER_GO)) {
            job_release(&j);
            if (!p || p->jobs == 0)
                d->money_wait = 1;
            break;
        }
        buf_reset(&line);
        if (batchfmt_request(&line, &j) != 0) {
            job_release(&j);
            run_fatal(c, "out of memory");
            goto out;
        }
        if (!p) {
            if (!(p = bstate_add(&d->st))) {
                job_release(&j);
                run_fatal(c, "out of memory");
                goto out;
            }
            p->state = BP_PLANNED;
            p->dialect = j.dialect;
            snprintf(p->model, sizeof(p->model), "%s", j.model);
            snprintf(p->endpoint, sizeof(p->endpoint), "%s", j.path);
            lim = count_limit(d, p->dialect, p->model);
            if (o->max_enqueued_tokens) {
                uint64_t used = enqueued(d, p->dialect, p->model);
                tok_room = used < o->max_enqueued_tokens ? o->max_enqueued_tokens - used : 0;
                if (used && (j.body_len + 3) / 4 > tok_room) {
                    /* wait for open parts of this model to finish */
                    job_release(&j);
                    d->st.n--;
                    p = NULL;
                    d->money_wait = 0;
                    d->tokens_wait = 1;
                    break;
                }
            }
            part_path(d, p->n, "jsonl", path, sizeof(path));
            part_path(d, p->n, "ids", mpath, sizeof(mpath));
            if (!(f = fopen(path, "w")) || !(m = fopen(mpath, "w"))) {
                job_release(&j);
                run_fatal_io(c, "creating", path);
                goto out;
            }
            if (p->dialect == DIALECT_ANTHROPIC)
                fputs("{\"requests\":[\n", f);
        } else if (bytes + line.len + 8 > size_limit(p->dialect) ||
                   p->tokens + (j.body_len + 3) / 4 > tok_room) {
            job_release(&j);
            break;
        }
        if (p->dialect == DIALECT_ANTHROPIC && p->jobs)
            fputs(",\n", f);
        fwrite(line.data, 1, line.len, f);
        if (p->dialect != DIALECT_ANTHROPIC)
            fputc('\n', f);
        buf_reset(&line);
        buf_json_str(&line, j.custom_id, strlen(j.custom_id));
        fprintf(m, "%llu %lld %s\n", (unsigned long long)j.ordinal, (long long)r, line.data);
        bytes += line.len + 2;
        cum = money_add(cum, r);
        p->jobs++;
        p->tokens += (j.body_len + 3) / 4;
        job_release(&j);
        if (p->jobs >= lim)
            break;
    }
    if (!p && !d->money_wait && !d->tokens_wait && !c->stop)
        d->exhausted = 1;
out:
    if (f && p && p->dialect == DIALECT_ANTHROPIC)
        fputs("\n]}\n", f);
    if ((f && (fflush(f) || fsync(fileno(f)))) || (m && (fflush(m) || fsync(fileno(m)))))
        run_fatal_io(c, "writing", path);
    if (f)
        fclose(f);
    if (m)
        fclose(m);
    reader_free(rd);
    buf_release(&line);
    if (p) {
        p->reserve = cum;
        if (c->stop) {
            d->st.n--;          /* the last one added: never written */
            return NULL;
        }
    }
    return p;
}

static blimit_t *learned(drv_t *d, int dialect, const char *model, int add);

/* ---- submit ------------------------------------------------------------- */

static void busy_part(drv_t *d, const bpart_t *p, int on)
{
    bman_t *v;
    size_t n;

    if (manifest_load(d, p, &v, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (on || !ckpt_done(&d->c->ckpt, v[i].ord))
            busy_set(d, v[i].ord, on);
    manifest_free(v, n);
}

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
        part_path(d, p->n, "jsonl", path, sizeof(path));
        rc = call(d, k, "POST", "/v1/messages/batches", NULL, NULL, path, NULL, 1, &r);
    } else {
        snprintf(body, sizeof(body), "{\"input_file_id\":\"%s\",\"endpoint\":\"%s\","
                 "\"completion_window\":\"24h\",\"metadata\":{\"llmbatch_run\":\"%s\","
                 "\"llmbatch_part\":\"%d\"}}", p->file_id, p->endpoint, d->st.run, p->n);
        rc = call(d, k, "POST", "/v1/batches", body, NULL, NULL, NULL, 1, &r);
    }
    if (rc == CTL_LOST) {
        buf_release(&r.body);
        return 1;
    }
    if (rc == CTL_FAIL && r.status == 429) {
        /* a queue or enqueued-token limit that outlasted the retries: not a
         * job failure, the jobs wait and go again in smaller parts */
        blimit_t *l = learned(d, p->dialect, p->model, 1);
        if (l && p->jobs > 1 && l->max_jobs > p->jobs / 2)
            l->max_jobs = p->jobs / 2;
        d->plan_not_before_ms = clock_mono_ms() +
            (d->c->o->poll_s > 0 ? (int64_t)(d->c->o->poll_s * 5000) : 60000);
        buf_release(&r.body);
        return 2;
    }
    if (rc != CTL_OK || r.status < 200 || r.status >= 300 ||
        !(doc = resp_json(&r))) {
        call_failed(d, "creating the batch", p, &r);
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
    busy_part(d, p, 0);
    p->state = BP_CLOSED;
    p->rows_back = p->jobs;
    snprintf(p->note, sizeof(p->note), "refused on a queue limit (429): its jobs "
             "wait and go again");
    d->exhausted = 0;
    return drv_commit(d);
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
        if (call(d, k, "GET", path, NULL, NULL, NULL, NULL, 0, &r) != CTL_OK ||
            r.status != 200 || !(doc = resp_json(&r))) {
            call_failed(d, "listing batches", p, &r);
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
static int settle_intent(drv_t *d, bpart_t *p, api_key_t *k)
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
            return drv_commit(d);
        }
        switch (create_batch(d, p, k)) {
        case 0:  return drv_commit(d);
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
static int submit_part(drv_t *d, bpart_t *p)
{
    run_ctx_t *c = d->c;
    api_key_t *k = key_named(d, p->dialect, NULL);
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
        part_path(d, p->n, "jsonl", path, sizeof(path));
        if (call(d, k, "POST", "/v1/files", NULL, path, NULL, NULL, 0, &r) != CTL_OK ||
            r.status != 200 || !(doc = resp_json(&r)) ||
            !json_string_value(json_object_get(doc, "id"))) {
            call_failed(d, "uploading the input file", p, &r);
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
    busy_part(d, p, 1);
    if (drv_commit(d) != 0)     /* the intent and the bound covering it */
        return -1;
    switch (create_batch(d, p, k)) {
    case 0:
        if (!c->o->quiet)
            fprintf(stderr, "llmbatch: part %d: %llu %s %s jobs submitted as batch %s\n",
                    p->n, (unsigned long long)p->jobs, prov(p->dialect), p->model, p->batch_id);
        return drv_commit(d);
    case 1:
        return settle_intent(d, p, k);
    case 2:
        return part_requeue(d, p);
    default:
        if (c->stop == STOP_SIGNAL)
            return -1;      /* the intent stays: the next run finds out */
        /* refused: nothing was created; the jobs go back to pending */
        ledger_settle(&c->ledger, p->reserve, 0, SETTLE_RELEASE);
        busy_part(d, p, 0);
        p->state = BP_CLOSED;
        snprintf(p->note, sizeof(p->note), "refused by the provider");
        bstate_save(d->state_path, &d->st);
        return -1;
    }
}

/* ---- collect ------------------------------------------------------------ */

/* Downloads a file/URL to part-N.<ext> and feeds each line to rows().
 * 0 or -1. */
static int download(drv_t *d, bpart_t *p, api_key_t *k, const char *path, const char *ext,
                    bman_t *v, size_t n, const price_t *bp);

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
                         .tree = row->body };
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

    part_path(d, p->n, ext, fpath, sizeof(fpath));
    if (!(f = fopen(fpath, "w+"))) {
        run_fatal_io(d->c, "creating", fpath);
        return -1;
    }
    rc = call(d, k, "GET", path, NULL, NULL, NULL, f, 0, &r);
    if (rc != CTL_OK || r.status != 200) {
        call_failed(d, "downloading results", p, &r);
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
        e = manifest_find(v, n, row.ordinal);
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
    const price_t *bp = batch_price(d, p->model, p->dialect, &tmp);
    char path[1400];
    int rc = 0;

    if (manifest_load(d, p, &v, &n) != 0)
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
        blimit_t *l = learned(d, p->dialect, p->model, 1);
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
        manifest_free(v, n);
        return -1;
    }
    /* rows without a line (never run): back to pending, reservation released */
    for (size_t i = 0; i < n; i++) {
        if (v[i].seen || ckpt_done(&c->ckpt, v[i].ord))
            continue;
        ledger_settle(&c->ledger, v[i].r, 0, SETTLE_RELEASE);
        p->rows_back++;
    }
    manifest_free(v, n);
    /* the lines are durable before the part is marked closed */
    if (drv_commit(d) != 0)
        return -1;
    busy_part(d, p, 0);
    if (p->rows_back && !c->o->cancel_batches)
        d->exhausted = 0;       /* its unrun rows are to be planned again */
    p->state = BP_CLOSED;
    snprintf(p->ended_at, sizeof(p->ended_at), "%lld", (long long)time(NULL));
    if (p->rows_back && !*p->note)
        snprintf(p->note, sizeof(p->note), "%llu rows not run (%s): back to pending",
                 (unsigned long long)p->rows_back, p->phase);
    if (drv_commit(d) != 0)
        return -1;
    for (const char *ext = "jsonl"; ext; ext = strcmp(ext, "jsonl") == 0 ? "ids" : NULL) {
        part_path(d, p->n, ext, path, sizeof(path));
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
static int poll_part(drv_t *d, bpart_t *p)
{
    api_key_t *k = key_named(d, p->dialect, p->key);
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
    if (call(d, k, "GET", path, NULL, NULL, NULL, NULL, 0, &r) != CTL_OK || r.status != 200 ||
        !(doc = resp_json(&r))) {
        call_failed(d, "polling the batch", p, &r);
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
static void cancel_part(drv_t *d, bpart_t *p)
{
    api_key_t *k = key_named(d, p->dialect, p->key);
    ctl_resp_t r = { 0 };
    char path[400];

    if (!k)
        return;
    snprintf(path, sizeof(path), p->dialect ? "/v1/messages/batches/%s/cancel"
                                            : "/v1/batches/%s/cancel", p->batch_id);
    if (call(d, k, "POST", path, NULL, NULL, NULL, NULL, 0, &r) != CTL_OK)
        call_failed(d, "cancelling the batch", p, &r);
    else if (!d->c->o->quiet)
        fprintf(stderr, "llmbatch: part %d: batch %s %s\n", p->n, p->batch_id,
                r.status < 300 ? "cancelling" : "had already ended");
    buf_release(&r.body);
}

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
    if (rc == 0) {
        snprintf(d->st.run, sizeof(d->st.run), "%016llx",
                 (unsigned long long)(c->seed ^ (uint64_t)time(NULL) ^
                                      ((uint64_t)getpid() << 32)));
        return 0;
    }
    /* open parts: their unsettled reservations are outstanding again, not
     * possibly billed (their rows will still be collected) */
    for (size_t i = 0; i < d->st.n; i++) {
        bpart_t *p = &d->st.v[i];
        bman_t *v;
        size_t n;
        if (p->state == BP_CLOSED)
            continue;
        if (manifest_load(d, p, &v, &n) != 0)
            return -1;
        for (size_t j = 0; j < n; j++) {
            busy_set(d, v[j].ord, 1);
            if (!ckpt_done(&c->ckpt, v[j].ord))
                open = money_add(open, v[j].r);
        }
        manifest_free(v, n);
    }
    if (open > 0) {
        budget_t *b = &c->ledger.budget;
        b->prior = b->prior > open ? b->prior - open : 0;
        c->stats.unconfirmed = c->stats.unconfirmed > open ? c->stats.unconfirmed - open : 0;
        ledger_take(&c->ledger, open, 0, clock_mono_ns());
        if (drv_commit(d) != 0)
            return -1;
    }
    return 0;
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
        if (!(k = key_named(&d, p->dialect, p->key))) {
            run_fatal(c, "batch part %d was submitted with key %s, which is not loaded now",
                      p->n, p->key);
            break;
        }
        settle_intent(&d, p, k);
    }
    if (o->cancel_batches) {
        d.exhausted = 1;        /* nothing new is planned */
        for (size_t i = 0; i < d.st.n && !c->stop; i++)
            if (d.st.v[i].state == BP_SUBMITTED)
                cancel_part(&d, &d.st.v[i]);
    }
    while (!c->stop) {
        int progressed = 0;

        if (take_signal(&d))
            break;
        /* poll and collect */
        for (size_t i = 0; i < d.st.n && !c->stop; i++) {
            bpart_t *p = &d.st.v[i];
            int r;
            if (p->state != BP_SUBMITTED)
                continue;
            if ((r = poll_part(&d, p)) < 0)
                break;
            progressed |= r;
        }
        if (c->stop)
            break;
        /* plan and submit what fits */
        while (!c->stop && !d.exhausted && clock_mono_ms() >= d.plan_not_before_ms) {
            bpart_t *p = plan_part(&d);
            if (!p)
                break;
            if (submit_part(&d, p) != 0)
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
            take_signal(&d);
            break;
        }
        if (o->poll_s <= 0 && !progressed && poll_ms < 120000)
            poll_ms = poll_ms * 2 > 120000 ? 120000 : poll_ms * 2;
    }
    if (!c->no_commit)
        bstate_save(d.state_path, &d.st);
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
