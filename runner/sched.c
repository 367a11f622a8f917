/*
 * sched: the event loop of `llmbatch run` (DESIGN.md data flow, steps
 * admission -> transfer -> outcome -> settle + write -> commit).
 *
 * One thread, one wait point (pool_wait = curl_multi_poll).  A job is read
 * from the input only when a slot is free; it starts only when the cache,
 * in-run dedup, the budget, the global and per-key rate limits and a usable
 * key all allow it.  A retry goes back to retry_q with a not-before time;
 * nothing sleeps.  Every finished job gets exactly one line (results or
 * errors) and its bit in the checkpoint bitmap, made durable together at the
 * next commit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "clock.h"
#include "jsonscan.h"
#include "results.h"
#include "run_int.h"
#include "url.h"

#define NS_PER_MS 1000000LL
#define BACKOFF_BASE_MS 500
#define BACKOFF_CAP_MS 60000
#define COMMIT_INTERVAL_MS 1000
#define RATE_LIMITED_MAX 100

volatile sig_atomic_t g_signals;      /* count of SIGINT/SIGTERM seen */
volatile sig_atomic_t g_last_signal;

/* ---- small helpers ---------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static void fatal_io(run_ctx_t *c, const char *what, const char *path)
{
    if (c->stop != STOP_IO)
        snprintf(c->fatal, sizeof(c->fatal), "%s %s: %s", what, path, strerror(errno));
    c->stop = STOP_IO;
    c->no_commit = 1;
}

static void seen_add(slot_t *s, const char *what)
{
    size_t n = strlen(s->seen);
    if (n + strlen(what) + 2 >= sizeof(s->seen))
        return;
    snprintf(s->seen + n, sizeof(s->seen) - n, "%s%s", n ? "," : "", what);
}

/* ---- slots ------------------------------------------------------------ */

static slot_t *slot_new(run_ctx_t *c)
{
    slot_t *s = c->free_slots;

    if (s)
        c->free_slots = s->next;
    else if (!(s = malloc(sizeof(*s))))
        return NULL;
    memset(s, 0, sizeof(*s));
    c->active++;
    return s;
}

static void slot_free(run_ctx_t *c, slot_t *s)
{
    job_release(&s->job);
    free(s->last_body);
    s->last_body = NULL;
    s->next = c->free_slots;
    c->free_slots = s;
    c->active--;
}

/* ---- dedup index: leaders by request hash ------------------------------ */

static size_t dedup_bucket(const run_ctx_t *c, const cache_key_t *k)
{
    uint64_t h;
    memcpy(&h, k->b, sizeof(h));
    return (size_t)h & c->dedup_mask;
}

static slot_t *dedup_find(run_ctx_t *c, const cache_key_t *k)
{
    if (!c->dedup)
        return NULL;
    for (slot_t *s = c->dedup[dedup_bucket(c, k)]; s; s = s->hnext)
        if (memcmp(s->ckey.b, k->b, sizeof(k->b)) == 0)
            return s;
    return NULL;
}

static void dedup_insert(run_ctx_t *c, slot_t *s)
{
    size_t b;
    if (!c->dedup || !s->has_ckey)
        return;
    b = dedup_bucket(c, &s->ckey);
    s->hnext = c->dedup[b];
    c->dedup[b] = s;
}

static void dedup_remove(run_ctx_t *c, slot_t *s)
{
    slot_t **pp;
    if (!c->dedup || !s->has_ckey)
        return;
    for (pp = &c->dedup[dedup_bucket(c, &s->ckey)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == s) {
            *pp = s->hnext;
            s->hnext = NULL;
            return;
        }
    }
}

/* ---- retry queue (sorted by not_before) -------------------------------- */

static void retry_push(run_ctx_t *c, slot_t *s)
{
    slot_t **pp = &c->retry_q;
    while (*pp && (*pp)->not_before_ns <= s->not_before_ns)
        pp = &(*pp)->next;
    s->next = *pp;
    *pp = s;
}

/* ---- writing lines ----------------------------------------------------- */

static void mark_done(run_ctx_t *c, const slot_t *s)
{
    ckpt_mark(&c->ckpt, s->job.ordinal);
    c->pending_lines++;
    c->done_this_run++;
}

static void emit(run_ctx_t *c, output_t *out, buf_t *line)
{
    if (line->len == 0 || output_append(out, line->data, line->len) != 0)
        fatal_io(c, "writing", out->path);
}

static void write_success(run_ctx_t *c, slot_t *s, long status, const char *reqid,
                          const char *raw, size_t raw_len, const json_t *body, int mark)
{
    buf_t line = BUF_INIT;

    if (results_success_raw(&line, c->seed, s->job.ordinal, s->job.custom_id,
                            status, reqid, raw, raw_len, body, mark) == 0)
        emit(c, &c->out_ok, &line);
    else
        fatal_io(c, "formatting a result for", c->o->results);
    buf_release(&line);
    c->stats.succeeded++;
    mark_done(c, s);
}

static void write_failure(run_ctx_t *c, slot_t *s, const char *code, const char *msg)
{
    buf_t line = BUF_INIT;
    json_t *body = NULL;

    if (s->last_body && s->last_body_len)
        body = json_loadb(s->last_body, s->last_body_len, JSON_ALLOW_NUL, NULL);
    if (results_error_line(&line, c->seed, s->job.ordinal, s->job.custom_id,
                           s->last_status,
                           s->last_request_id[0] ? s->last_request_id : NULL, body,
                           body ? NULL : s->last_body, s->last_body_len,
                           code, msg) == 0)
        emit(c, &c->out_err, &line);
    else
        fatal_io(c, "formatting an error line for", c->errors_path);
    json_decref(body);
    buf_release(&line);
    c->stats.failed++;
    mark_done(c, s);
}

/* A job that could not even be parsed (with --skip-invalid). */
static void write_invalid(run_ctx_t *c, uint64_t ordinal, uint64_t lineno,
                          const char *custom_id, const char *msg)
{
    buf_t line = BUF_INIT;
    char id[40];

    if (!custom_id) {
        snprintf(id, sizeof(id), "line-%llu", (unsigned long long)lineno);
        custom_id = id;
    }
    if (results_error_line(&line, c->seed, ordinal, custom_id, 0, NULL, NULL, NULL, 0,
                           "invalid_input", msg) == 0)
        emit(c, &c->out_err, &line);
    buf_release(&line);
    c->stats.failed++;
    c->stats.invalid++;
    ckpt_mark(&c->ckpt, ordinal);
    c->pending_lines++;
    c->done_this_run++;
}

/* Ends a leader: its followers get the same outcome, then all are freed. */
static void finish_group(run_ctx_t *c, slot_t *s, int ok, long status, const char *reqid,
                         const char *raw, size_t raw_len, const json_t *body,
                         money_t cost, const char *code, const char *msg)
{
    slot_t *f, *next;

    dedup_remove(c, s);
    for (f = s->followers; f; f = next) {
        next = f->next;
        if (ok) {
            write_success(c, f, status, reqid, raw, raw_len, body, RESULTS_MARK_COALESCED);
            c->stats.cache_saved = money_add(c->stats.cache_saved, cost);
        } else {
            f->last_status = s->last_status;
            write_failure(c, f, code, msg);
        }
        slot_free(c, f);
    }
    s->followers = NULL;
    slot_free(c, s);
}

/* Frees a slot whose job stays pending (run stopping). */
static void drop_pending(run_ctx_t *c, slot_t *s)
{
    slot_t *f, *next;
    dedup_remove(c, s);
    for (f = s->followers; f; f = next) {
        next = f->next;
        slot_free(c, f);
    }
    s->followers = NULL;
    slot_free(c, s);
}

/* ---- reading jobs ------------------------------------------------------ */

static int bad_reason(run_ctx_t *c, uint64_t ordinal)
{
    const scan_result_t *r = &c->scan;
    while (c->bad_cursor < r->nbad && SCAN_BAD_ORD(r->bad[c->bad_cursor]) < ordinal)
        c->bad_cursor++;
    if (c->bad_cursor < r->nbad && SCAN_BAD_ORD(r->bad[c->bad_cursor]) == ordinal)
        return SCAN_BAD_REASON(r->bad[c->bad_cursor]);
    return 0;
}

/* Reads the next job that is not done yet.  NULL at EOF, on error (stop is
 * set), or after writing an invalid line (then *again = 1). */
static slot_t *read_job(run_ctx_t *c, int *again)
{
    const char *line;
    size_t len;
    uint64_t lineno, ord;
    char err[1024];
    slot_t *s;
    int got, bad;

    *again = 0;
    for (;;) {
        got = reader_next_job(c->rd, &line, &len, &lineno);   /* skips blank lines */
        if (got == READER_EOF) {
            c->rd_eof = 1;
            return NULL;
        }
        if (got == READER_ERR) {
            snprintf(c->fatal, sizeof(c->fatal), "%s: %s", c->o->input, reader_error(c->rd));
            c->stop = STOP_IO;
            c->rd_eof = 1;
            return NULL;
        }
        ord = c->next_ordinal++;
        if (ckpt_done(&c->ckpt, ord))
            continue;
        if (ord >= c->ckpt.njobs && ckpt_resize(&c->ckpt, ord + 1)) {
            snprintf(c->fatal, sizeof(c->fatal), "out of memory");
            c->stop = STOP_IO;
            return NULL;
        }
        bad = got == READER_TOOLONG ? SCAN_BAD_TOOLONG : bad_reason(c, ord);
        if (bad == SCAN_BAD_TOOLONG) {
            write_invalid(c, ord, lineno, NULL, "line is longer than 32 MiB");
            *again = 1;
            return NULL;
        }
        if (!(s = slot_new(c))) {
            snprintf(c->fatal, sizeof(c->fatal), "out of memory");
            c->stop = STOP_IO;
            return NULL;
        }
        if (job_parse(line, len, lineno, &c->defs, &s->job, err, sizeof(err)) != 0) {
            slot_free(c, s);
            if (c->o->skip_invalid) {
                json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
                const char *id = json_string_value(json_object_get(j, "custom_id"));
                write_invalid(c, ord, lineno, id && *id ? id : NULL, err);
                json_decref(j);
                *again = 1;
                return NULL;
            }
            /* the file changed since it was validated */
            snprintf(c->fatal, sizeof(c->fatal), "%s:%llu: %s (the input changed during the run)",
                     c->o->input, (unsigned long long)lineno, err);
            c->stop = STOP_IO;
            return NULL;
        }
        s->job.ordinal = ord;
        if (bad == SCAN_BAD_DUP) {
            write_invalid(c, ord, lineno, s->job.custom_id, "duplicate custom_id");
            slot_free(c, s);
            *again = 1;
            return NULL;
        }
        s->price = c->prices ? prices_lookup(c->prices, s->job.model) : NULL;
        if (s->price && price_reservation(s->price, &s->job, &s->reservation,
                                          err, sizeof(err)) != 0) {
            if (c->budget.capped) {
                write_invalid(c, ord, lineno, s->job.custom_id, err);
                slot_free(c, s);
                *again = 1;
                return NULL;
            }
            s->price = NULL;
            s->reservation = 0;
        }
        if (!s->price && c->budget.capped) {
            write_invalid(c, ord, lineno, s->job.custom_id,
                          "model is not in the price table; its cost cannot be bounded");
            slot_free(c, s);
            *again = 1;
            return NULL;
        }
        s->weight = job_token_weight(s->price, &s->job);
        if (s->job.has_key && (c->dedup || c->cache)) {
            memcpy(s->ckey.b, s->job.key, sizeof(s->ckey.b));
            s->has_ckey = 1;
        }
        return s;
    }
}

/* ---- admission --------------------------------------------------------- */

static void put_back(run_ctx_t *c, slot_t *s, int from_retry)
{
    if (from_retry)
        retry_push(c, s);
    else
        c->held = s;
}

/* The header list of key k (auth, content type, dialect headers), built on
 * first use and kept for the run. */
static const struct curl_slist *key_headers(run_ctx_t *c, api_key_t *k)
{
    size_t i = (size_t)(k - c->keys.v);
    char auth[4200];
    const char *h[4];
    int n = 0;

    if (c->key_hdrs[i])
        return c->key_hdrs[i];
    if (keys_auth_header(k, auth, sizeof(auth)))
        return NULL;
    h[n++] = "Content-Type: application/json";
    h[n++] = auth;
    if (k->dialect == DIALECT_ANTHROPIC)
        h[n++] = PROVIDER_ANTHROPIC_VERSION_HEADER;
    h[n] = NULL;
    c->key_hdrs[i] = pool_headers(h);
    memset(auth, 0, sizeof(auth));
    return c->key_hdrs[i];
}

static const char *job_url(run_ctx_t *c, const job_t *j)
{
    char **u = &c->urls[j->dialect][j->endpoint];
    if (!*u)
        *u = url_join(c->base_url[j->dialect], j->path);
    return *u;
}

static int start_slot(run_ctx_t *c, slot_t *s, api_key_t *k, int64_t now_ns)
{
    const struct curl_slist *hdrs = key_headers(c, k);
    const char *url = job_url(c, &s->job);

    if (!hdrs || !url ||
        pool_start(&c->pool, url, hdrs, s->job.body, s->job.body_len, s) != 0)
        return -1;
    budget_reserve(&c->budget, s->reservation);
    c->reserved_since_commit = money_add(c->reserved_since_commit, s->reservation);
    s->reserved = 1;
    gcra_take(&c->g_req, now_ns, 1);
    gcra_take(&c->g_tok, now_ns, s->weight);
    rl_key_take(&k->rl, now_ns, s->weight);
    s->key = k;
    s->inflight = 1;
    s->attempts++;
    k->inflight++;
    k->requests++;
    c->stats.requests_sent++;
    if (s->starts++ > 0)
        c->stats.retries++;
    return 0;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static int commit(run_ctx_t *c, int final, money_t extra);

/* 0: consumed (started, served, coalesced); 1: must wait; -1: stop. */
static int try_start(run_ctx_t *c, slot_t *s, int from_retry, int64_t now_ns)
{
    api_key_t *k;
    int64_t wait, kw;

    if (!s->looked_up && s->has_ckey) {
        char *body = NULL;
        size_t blen = 0;
        long status = 0;
        money_t cost = 0;
        slot_t *lead;

        s->looked_up = 1;
        if (c->cache && cache_usable(c->cache)) {
            int hit = cache_get(c->cache, &s->ckey, &body, &blen, &status, &cost);
            if (hit == 1) {
                json_t *j = json_loadb(body, blen, JSON_ALLOW_NUL, NULL);
                if (j || jsonscan_validate_rfc(body, blen) == 0) {   /* valid JSON */
                    write_success(c, s, status, NULL, body, blen, j, RESULTS_MARK_CACHE);
                    json_decref(j);
                    free(body);
                    c->stats.cache_hits++;
                    c->stats.cache_saved = money_add(c->stats.cache_saved, cost);
                    cache_count_hits(c->cache, 1, cost);
                    slot_free(c, s);
                    return 0;
                }
                free(body);
            }
            c->stats.cache_misses++;
        }
        if (c->dedup && (lead = dedup_find(c, &s->ckey)) != NULL &&
            (c->cache || (lead->job.body_len == s->job.body_len &&
                          lead->job.dialect == s->job.dialect &&
                          lead->job.endpoint == s->job.endpoint &&
                          memcmp(lead->job.body, s->job.body, s->job.body_len) == 0))) {
            /* (with --cache the key is SHA-256 of the canonical request;
             * otherwise a fast hash, so the bytes are compared) */
            s->leader = lead;
            s->next = lead->followers;
            lead->followers = s;
            c->stats.coalesced++;
            return 0;
        }
    }
    if (!keys_any_usable(&c->keys, s->job.dialect)) {
        put_back(c, s, from_retry);
        c->stop = STOP_NOKEY;
        return -1;
    }
    if (!budget_fits(&c->budget, s->reservation)) {
        put_back(c, s, from_retry);
        if (c->budget.reserved > 0 && budget_could_fit(&c->budget, s->reservation)) {
            return 1;                 /* settlements will free money */
        }
        c->stop = STOP_BUDGET;
        return -1;
    }
    wait = max64(gcra_wait_ns(&c->g_req, now_ns), gcra_wait_ns(&c->g_tok, now_ns));
    k = keys_pick(&c->keys, s->job.dialect, now_ns, &kw);
    if (!k) {
        put_back(c, s, from_retry);
        c->stop = STOP_NOKEY;
        return -1;
    }
    wait = max64(wait, kw);
    if (wait > 0) {
        put_back(c, s, from_retry);
        if (!c->next_wake_ns || now_ns + wait < c->next_wake_ns)
            c->next_wake_ns = now_ns + wait;
        return 1;
    }
    if (budget_needs_durable(&c->budget, s->reservation)) {
        /* group commit: raise the durable bound before the money can move */
        if (commit(c, 0, s->reservation) != 0 ||
            budget_needs_durable(&c->budget, s->reservation)) {
            put_back(c, s, from_retry);
            if (c->stop != STOP_IO)
                c->stop = STOP_BUDGET;
            return -1;
        }
    }
    if (start_slot(c, s, k, now_ns) != 0) {
        /* could not even hand it to curl: count as a failed attempt */
        s->attempts++;
        seen_add(s, "start_failed");
        s->not_before_ns = now_ns + 1000 * NS_PER_MS;
        retry_push(c, s);
        return 1;
    }
    if (!from_retry)
        dedup_insert(c, s);
    return 0;
}

static void admit(run_ctx_t *c)
{
    int64_t now_ns = clock_mono_ns();

    c->next_wake_ns = 0;
    while (!c->stop && c->pool.inflight < c->o->concurrency) {
        slot_t *s = NULL;
        int from_retry = 0, again = 0;

        if (c->retry_q && c->retry_q->not_before_ns <= now_ns) {
            s = c->retry_q;
            c->retry_q = s->next;
            s->next = NULL;
            from_retry = 1;
        } else if (c->held) {
            s = c->held;
            c->held = NULL;
        } else if (!c->rd_eof && c->active < c->max_active) {
            s = read_job(c, &again);
            if (!s) {
                if (again)
                    continue;
                if (c->stop)
                    break;
            }
        }
        if (!s) {
            if (c->retry_q && (!c->next_wake_ns || c->retry_q->not_before_ns < c->next_wake_ns))
                c->next_wake_ns = c->retry_q->not_before_ns;
            break;
        }
        if (try_start(c, s, from_retry, now_ns) != 0)
            break;
    }
}

/* ---- outcomes ---------------------------------------------------------- */

static void keep_body(run_ctx_t *c, slot_t *s, long status, const char *body, size_t len);

static void retry_or_fail(run_ctx_t *c, slot_t *s, int64_t retry_after_ms,
                          const char *last_code)
{
    int64_t now_ns = clock_mono_ns(), delay_ms;

    if (s->attempts > c->o->max_retries) {
        char msg[400];
        snprintf(msg, sizeof(msg), "gave up after %d attempts (%s); last: %s",
                 s->attempts, s->seen, s->last_message[0] ? s->last_message : last_code);
        write_failure(c, s, "max_retries_exceeded", msg);
        finish_group(c, s, 0, s->last_status, NULL, NULL, 0, NULL, 0, "max_retries_exceeded", msg);
        return;
    }
    if (retry_after_ms >= 0) {
        delay_ms = retry_after_ms;
    } else {
        int64_t cap = BACKOFF_BASE_MS;
        for (int i = 1; i < s->attempts && cap < BACKOFF_CAP_MS; i++)
            cap *= 2;
        if (cap > BACKOFF_CAP_MS)
            cap = BACKOFF_CAP_MS;
        delay_ms = (int64_t)(rng_next() % (uint64_t)(cap + 1));   /* full jitter */
    }
    s->not_before_ns = now_ns + delay_ms * NS_PER_MS;
    retry_push(c, s);
}

/* Overwrites every loaded API key found in buf with '*': a server may echo
 * the request's credentials in an error body or message. */
static void scrub_secrets(run_ctx_t *c, char *buf, size_t len)
{
    for (size_t i = 0; i < c->keys.n; i++) {
        const char *k = c->keys.v[i].secret;
        size_t kl = strlen(k);
        char *p = buf, *end = buf + len;
        while (kl && (p = memmem(p, (size_t)(end - p), k, kl)) != NULL) {
            memset(p, '*', kl);
            p += kl;
        }
    }
}

static void keep_body(run_ctx_t *c, slot_t *s, long status, const char *body, size_t len)
{
    s->last_request_id[0] = '\0';
    free(s->last_body);
    s->last_body = NULL;
    s->last_body_len = 0;
    s->last_status = status;
    if (len > 65536)
        len = 65536;
    if (len && (s->last_body = malloc(len + 1))) {
        memcpy(s->last_body, body, len);
        s->last_body[len] = '\0';
        s->last_body_len = len;
        scrub_secrets(c, s->last_body, len);
    }
}

static void keep_request_id(slot_t *s, const headers_t *h)
{
    const char *id = provider_request_id(h);
    snprintf(s->last_request_id, sizeof(s->last_request_id), "%s", id ? id : "");
}

/* A failed attempt charged at its reservation shows in its model's and key's
 * cost, so the breakdowns add up to the total. */
static void account_possibly_billed(run_ctx_t *c, slot_t *s)
{
    model_stats_t *m = stats_model(&c->stats, s->job.model);
    key_stats_t *ks = s->key ? stats_key(&c->stats, s->key->name) : NULL;

    if (m)
        m->cost = money_add(m->cost, s->reservation);
    if (ks)
        ks->cost = money_add(ks->cost, s->reservation);
    if (s->key)
        s->key->cost = money_add(s->key->cost, s->reservation);
}

static void account_success(run_ctx_t *c, slot_t *s, const usage_t *u, money_t cost)
{
    model_stats_t *m = stats_model(&c->stats, s->job.model);
    key_stats_t *ks = s->key ? stats_key(&c->stats, s->key->name) : NULL;

    stats_add_usage(&c->stats.tok, u);
    c->tokens_this_run += u->input + u->cached_input + u->cache_write + u->output;
    if (m) {
        m->requests++;
        stats_add_usage(&m->tok, u);
        m->cost = money_add(m->cost, cost);
        m->unpriced = s->price == NULL;
    }
    if (!s->price)
        c->stats.unpriced_requests++;
    if (ks) {
        ks->tokens_in += u->input + u->cached_input + u->cache_write;
        ks->tokens_out += u->output;
        ks->cost = money_add(ks->cost, cost);
    }
    if (s->key)
        s->key->cost = money_add(s->key->cost, cost);
}

static void on_done(void *ctx, void *user, const xfer_result_t *r)
{
    run_ctx_t *c = ctx;
    slot_t *s = user;
    api_key_t *k = s->key;
    int64_t now_ns = clock_mono_ns();
    outcome_t o;
    rl_info_t rli;
    key_stats_t *ks;

    s->inflight = 0;
    if (k)
        k->inflight--;
    ks = k ? stats_key(&c->stats, k->name) : NULL;
    if (ks)
        ks->requests++;

    if (r->code != CURLE_OK) {
        const char *what = r->timed_out ? "timeout" : "network_error";
        if (s->reserved) {
            budget_settle(&c->budget, s->reservation, 0,
                          r->reached ? SETTLE_POSSIBLY_BILLED : SETTLE_RELEASE);
            if (r->reached)
                account_possibly_billed(c, s);
            s->reserved = 0;
        }
        if (r->timed_out)
            c->stats.timeouts++;
        else if (r->code != CURLE_ABORTED_BY_CALLBACK)
            c->stats.network_errors++;
        if (r->code == CURLE_ABORTED_BY_CALLBACK) {
            drop_pending(c, s);       /* stopped: stays pending */
            return;
        }
        if (r->code == CURLE_PEER_FAILED_VERIFICATION || r->code == CURLE_SSL_CACERT_BADFILE ||
            r->code == CURLE_SSL_CERTPROBLEM || r->code == CURLE_SSL_ISSUER_ERROR) {
            /* every job would fail the same way: stop, keep them pending */
            if (c->stop != STOP_IO)
                snprintf(c->fatal, sizeof(c->fatal), "TLS: %s (check the server, or pass "
                         "--cacert FILE; --insecure turns verification off)",
                         r->error ? r->error : "certificate problem");
            c->stop = STOP_IO;
            drop_pending(c, s);
            return;
        }
        if ((r->code == CURLE_COULDNT_CONNECT || r->code == CURLE_COULDNT_RESOLVE_HOST ||
             r->code == CURLE_COULDNT_RESOLVE_PROXY) &&
            ++s->connect_fails >= s->attempts && s->attempts > c->o->max_retries) {
            /* the server could not be reached at all, attempt after attempt:
             * every job would end the same way, so stop with this one still
             * pending instead of filling the errors file */
            if (c->stop != STOP_IO)
                snprintf(c->fatal, sizeof(c->fatal), "cannot reach the API after %d "
                         "attempts (%s); check --base-url and the network",
                         s->attempts, r->error ? r->error : "connection failed");
            c->stop = STOP_IO;
            drop_pending(c, s);
            return;
        }
        seen_add(s, r->timed_out ? "timeout" : "net");
        keep_body(c, s, 0, NULL, 0);
        snprintf(s->last_code, sizeof(s->last_code), "%s", what);
        snprintf(s->last_message, sizeof(s->last_message), "%s", r->error ? r->error : what);
        s->last_status = 0;
        retry_or_fail(c, s, -1, what);
        return;
    }

    c->stats.by_status[r->status > 0 && r->status < 600 ? r->status : 0]++;
    outcome_init(&o);
    provider_classify(s->job.dialect, r->status, r->headers, r->body, r->body_len,
                      clock_wall_ms(), &o);
    if (k && rl_parse_headers(r->headers, clock_wall_ms(), &rli))
        rl_key_observe(&k->rl, now_ns, &rli);
    else
        memset(&rli, 0xff, sizeof(rli));   /* all -1: nothing announced */

    switch (o.kind) {
    case OUT_SUCCESS: {
        money_t cost = s->reservation;
        int kind = SETTLE_ESTIMATED;
        const char *reqid = provider_request_id(r->headers);

        if (k) {
            rl_key_success(&k->rl, now_ns);
            k->successes++;
        }
        if (o.usage.present == 2 && s->job.endpoint != EP_EMBEDDINGS)
            o.usage.present = 0;   /* no output count: charge the reservation */
        if (o.usage.present && s->price) {
            cost = price_cost(s->price, &o.usage);
            kind = SETTLE_REAL;
        } else if (!s->price) {
            cost = 0;
            kind = SETTLE_REAL;
        }
        if (s->reserved)
            budget_settle(&c->budget, s->reservation, cost, kind);
        s->reserved = 0;
        stats_latency(&c->stats, r->elapsed_ms);
        account_success(c, s, &o.usage, cost);
        write_success(c, s, r->status, reqid, r->body, r->body_len, o.body, RESULTS_MARK_NONE);
        if (c->cache && s->has_ckey && cache_usable(c->cache))
            cache_put(c->cache, &s->ckey, s->job.model, r->status, r->body, r->body_len, cost);
        finish_group(c, s, 1, r->status, reqid, r->body, r->body_len, o.body, cost, NULL, NULL);
        break;
    }
    case OUT_RETRY: {
        char st[16];
        int billed = !o.rate_limited && (r->status >= 500 || r->status < 300);
        if (s->reserved) {
            budget_settle(&c->budget, s->reservation, 0,
                          billed ? SETTLE_POSSIBLY_BILLED : SETTLE_RELEASE);
            if (billed)
                account_possibly_billed(c, s);
        }
        s->reserved = 0;
        if (o.rate_limited && k) {
            rl_key_on_429(&k->rl, now_ns, o.retry_after_ms,
                          rli.limit_requests == -1 && rli.remaining_requests == -1 &&
                          rli.limit_tokens == -1 ? NULL : &rli);
            k->n429++;
            if (ks)
                ks->n429++;
            c->stats.rate_limited++;
            /* pacing is our job, not the request's fault: a rate-limit 429
             * does not use up the job's retries (up to a sanity bound) */
            if (++s->rate_limited < RATE_LIMITED_MAX)
                s->attempts--;
        }
        snprintf(st, sizeof(st), "%ld", r->status);
        seen_add(s, r->status < 300 ? "bad_body" : st);
        snprintf(s->last_code, sizeof(s->last_code), "%s", o.code);
        snprintf(s->last_message, sizeof(s->last_message), "%s", o.message);
        scrub_secrets(c, s->last_message, strlen(s->last_message));
        keep_body(c, s, r->status, r->body, r->body_len);
        keep_request_id(s, r->headers);
        retry_or_fail(c, s, o.retry_after_ms, o.code);
        break;
    }
    case OUT_FINAL:
        /* a 5xx made final by x-should-retry: false may still have been billed */
        if (s->reserved) {
            budget_settle(&c->budget, s->reservation, 0,
                          r->status >= 500 ? SETTLE_POSSIBLY_BILLED : SETTLE_RELEASE);
            if (r->status >= 500)
                account_possibly_billed(c, s);
        }
        s->reserved = 0;
        scrub_secrets(c, o.message, strlen(o.message));
        keep_body(c, s, r->status, r->body, r->body_len);
        keep_request_id(s, r->headers);
        write_failure(c, s, o.code[0] ? o.code : "invalid_request", o.message);
        finish_group(c, s, 0, r->status, NULL, NULL, 0, NULL, 0,
                     o.code[0] ? o.code : "invalid_request", o.message);
        break;
    case OUT_KEY_INVALID:
        if (r->status == 403 && k && k->successes > 0) {
            /* this key works for other requests: the 403 is about this one
             * (a model or feature the project may not use) */
            if (s->reserved)
                budget_settle(&c->budget, s->reservation, 0, SETTLE_RELEASE);
            s->reserved = 0;
            keep_body(c, s, r->status, r->body, r->body_len);
            keep_request_id(s, r->headers);
            scrub_secrets(c, o.message, strlen(o.message));
            write_failure(c, s, o.code[0] ? o.code : "permission_denied", o.message);
            finish_group(c, s, 0, r->status, NULL, NULL, 0, NULL, 0,
                         o.code[0] ? o.code : "permission_denied", o.message);
            break;
        }
        /* fall through */
    case OUT_KEY_EXHAUSTED:
        if (s->reserved)
            budget_settle(&c->budget, s->reservation, 0, SETTLE_RELEASE);
        s->reserved = 0;
        if (k) {
            k->state = o.kind == OUT_KEY_INVALID ? KEY_INVALID : KEY_EXHAUSTED;
            snprintf(k->reason, sizeof(k->reason), "%s", o.message);
            if (ks) {
                snprintf(ks->state, sizeof(ks->state), "%s", key_state_name(k->state));
                snprintf(ks->reason, sizeof(ks->reason), "%s", k->reason);
            }
            if (!c->o->quiet)
                fprintf(stderr, "llmbatch: key %s is %s (HTTP %ld: %s); %s\n", k->name,
                        key_state_name(k->state), r->status, o.message,
                        keys_any_usable(&c->keys, s->job.dialect)
                            ? "moving its jobs to the other keys"
                            : "no usable key left");
        }
        /* not the job's fault: retry on another key without counting */
        s->attempts--;
        s->not_before_ns = now_ns;
        retry_push(c, s);
        break;
    }
    outcome_release(&o);
}

/* ---- commit ------------------------------------------------------------ */

static int commit(run_ctx_t *c, int final, money_t extra)
{
    money_t headroom, hwm;
    int64_t now = clock_mono_ms();

    if (c->no_commit)
        return -1;
    if (output_commit(&c->out_ok) != 0) {
        fatal_io(c, "writing", c->out_ok.path);
        return -1;
    }
    if (output_commit(&c->out_err) != 0) {
        fatal_io(c, "writing", c->out_err.path);
        return -1;
    }
    if (c->cache)
        cache_flush(c->cache);
    /* room for the next second or so of admissions without another fsync,
     * but not so much that a crash books a large unconfirmed amount */
    headroom = money_mul((uint64_t)(c->o->concurrency < 16 ? c->o->concurrency : 16),
                         c->budget.max_reservation);
    if (headroom < money_add(c->reserved_since_commit, c->reserved_since_commit))
        headroom = money_add(c->reserved_since_commit, c->reserved_since_commit);
    if (headroom < extra)
        headroom = extra;
    hwm = final ? c->budget.reserved : budget_next_hwm(&c->budget, headroom);
    run_sync_stats(c);
    if (!c->spooled) {
        c->ckpt.results_size = c->out_ok.committed;
        c->ckpt.errors_size = c->out_err.committed;
        c->ckpt.hwm = hwm;
        c->ckpt.complete = c->rd_eof && c->active == 0 && !c->held && !c->retry_q &&
                           ckpt_count_done(&c->ckpt) == c->ckpt.njobs;
        if (ckpt_save(c->ckpt_path, &c->ckpt, &c->stats) != 0) {
            fatal_io(c, "writing checkpoint", c->ckpt_path);
            return -1;
        }
    }
    budget_committed(&c->budget, hwm);
    c->last_commit_ms = now;
    c->pending_lines = 0;
    c->reserved_since_commit = 0;
    return 0;
}

int sched_commit(run_ctx_t *c, int final)
{
    return commit(c, final, 0);
}

/* ---- the loop ---------------------------------------------------------- */

static void handle_signals(run_ctx_t *c)
{
    char junk[64];

    while (read(c->sig_pipe[0], junk, sizeof(junk)) > 0)
        ;
    if (g_signals == 0)
        return;
    if (c->stop != STOP_SIGNAL) {
        if (!c->exit_signal)
            c->exit_signal = g_last_signal;
        if (c->stop == STOP_NONE || c->stop == STOP_BUDGET || c->stop == STOP_NOKEY)
            c->stop = STOP_SIGNAL;
        c->stop_deadline_ms = clock_mono_ms() + (int64_t)(c->o->grace_s * 1000);
        if (!c->o->quiet && c->pool.inflight)
            fprintf(stderr, "\nllmbatch: stopping: waiting up to %.0f s for %d requests "
                    "in flight (press Ctrl-C again to stop now)\n",
                    c->o->grace_s, c->pool.inflight);
    }
    if (g_signals >= 2)
        c->stop_deadline_ms = 0;     /* second signal: stop at once */
}

int sched_loop(run_ctx_t *c)
{
    rng_state ^= (uint64_t)clock_mono_ns() | 1;
    for (;;) {
        int64_t now_ms, timeout;

        if (g_signals)
            handle_signals(c);
        if (!c->stop)
            admit(c);
        pool_perform(&c->pool, on_done, c);
        if (!c->stop)
            admit(c);
        now_ms = clock_mono_ms();
        if (c->stop == STOP_IO)
            break;
        if (c->pool.inflight == 0 &&
            (c->stop || (c->rd_eof && !c->retry_q && !c->held && c->active == 0)))
            break;
        if (c->stop == STOP_SIGNAL && now_ms >= c->stop_deadline_ms) {
            pool_abort_all(&c->pool, on_done, c);
            break;
        }
        if (now_ms - c->last_commit_ms >= COMMIT_INTERVAL_MS ||
            c->pending_lines >= c->o->commit_every) {
            if (commit(c, 0, 0) != 0)
                break;
        }
        progress_tick(c, 0);
        timeout = COMMIT_INTERVAL_MS - (now_ms - c->last_commit_ms);
        if (timeout > 100)
            timeout = 100;               /* progress and signal checks */
        if (c->next_wake_ns) {
            int64_t w = (c->next_wake_ns - clock_mono_ns() + NS_PER_MS - 1) / NS_PER_MS;
            if (w < timeout)
                timeout = w;
        }
        if (c->stop == STOP_SIGNAL && c->stop_deadline_ms - now_ms < timeout)
            timeout = c->stop_deadline_ms - now_ms;
        pool_wait(&c->pool, (int)(timeout < 0 ? 0 : timeout), c->sig_pipe[0]);
    }
    return 0;
}

/* Frees every slot still held (their jobs stay pending).  Transfers still
 * in flight (a fatal I/O error stopped the loop) are aborted first: their
 * reservations settle as possibly billed, nothing is written. */
void sched_release(run_ctx_t *c)
{
    slot_t *s, *next;

    if (c->pool.multi && c->pool.inflight)
        pool_abort_all(&c->pool, on_done, c);
    if (c->held) {
        drop_pending(c, c->held);
        c->held = NULL;
    }
    for (s = c->retry_q; s; s = next) {
        next = s->next;
        drop_pending(c, s);
    }
    c->retry_q = NULL;
    for (s = c->free_slots; s; s = next) {
        next = s->next;
        free(s);
    }
    c->free_slots = NULL;
}
