/*
 * admit: admission, the one module that decides when a job starts (see
 * runner/README.md, data flow).
 *
 * It reads a job from the input only when a slot is free, prices it,
 * consults the cache and the in-run dedup index, and starts it only when the
 * ledger (budget and global ceilings), a usable key with its own pacing and
 * a free transfer slot all allow.  A job that must wait goes back: a new one
 * to `held`, a retry to `retry_q` (sorted by its not-before time); nothing
 * sleeps.  Admission never commits: when a reservation needs a higher
 * durable bound it sets adm.want_durable and the loop commits.
 *
 * Owns the slots (a free list), the retry queue and the dedup index.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "jsonscan.h"
#include "results.h"
#include "run_int.h"
#include "sampling.h"

#define NS_PER_MS 1000000LL
#define LONG_WAIT_NS (60 * 1000 * NS_PER_MS)    /* waits longer than this are explained */

/* ---- slots ------------------------------------------------------------ */

slot_t *slot_new(run_ctx_t *c)
{
    slot_t *s = c->adm.free_slots;

    if (s)
        c->adm.free_slots = s->next;
    else if (!(s = malloc(sizeof(*s))))
        return NULL;
    memset(s, 0, sizeof(*s));
    c->adm.active++;
    return s;
}

void slot_free(run_ctx_t *c, slot_t *s)
{
    job_release(&s->job);
    if (s->hist) {
        free(s->hist->last_body);
        free(s->hist);
        s->hist = NULL;
    }
    s->next = c->adm.free_slots;
    c->adm.free_slots = s;
    c->adm.active--;
}

/* ---- dedup index: leaders by request hash ------------------------------ */

static size_t dedup_bucket(const run_ctx_t *c, const cache_key_t *k)
{
    uint64_t h;
    memcpy(&h, k->b, sizeof(h));
    return (size_t)h & c->adm.dedup_mask;
}

static slot_t *dedup_find(run_ctx_t *c, const cache_key_t *k)
{
    if (!c->adm.dedup)
        return NULL;
    for (slot_t *s = c->adm.dedup[dedup_bucket(c, k)]; s; s = s->hnext)
        if (memcmp(slot_ckey(s)->b, k->b, sizeof(k->b)) == 0)
            return s;
    return NULL;
}

/* 1 if s may be coalesced with an identical request (--dedup). */
static int dedup_eligible(const run_ctx_t *c, const slot_t *s)
{
    return c->adm.dedup && s->has_ckey &&
           (c->o->dedup == RUN_DEDUP_ALL || job_is_deterministic(&s->job));
}

static void dedup_insert(run_ctx_t *c, slot_t *s)
{
    size_t b;
    if (!dedup_eligible(c, s))
        return;
    b = dedup_bucket(c, slot_ckey(s));
    s->hnext = c->adm.dedup[b];
    c->adm.dedup[b] = s;
}

void dedup_remove(run_ctx_t *c, slot_t *s)
{
    slot_t **pp;
    if (!c->adm.dedup || !s->has_ckey)
        return;
    for (pp = &c->adm.dedup[dedup_bucket(c, slot_ckey(s))]; *pp; pp = &(*pp)->hnext) {
        if (*pp == s) {
            *pp = s->hnext;
            s->hnext = NULL;
            return;
        }
    }
}

/* ---- retry queue (sorted by not_before) -------------------------------- */

void retry_push(run_ctx_t *c, slot_t *s)
{
    slot_t **pp = &c->adm.retry_q;
    while (*pp && (*pp)->not_before_ns <= s->not_before_ns)
        pp = &(*pp)->next;
    s->next = *pp;
    *pp = s;
}

/* ---- reading jobs ------------------------------------------------------ */

static int bad_reason(run_ctx_t *c, uint64_t ordinal)
{
    const scan_result_t *r = &c->adm.scan;
    while (c->adm.bad_cursor < r->nbad && SCAN_BAD_ORD(r->bad[c->adm.bad_cursor]) < ordinal)
        c->adm.bad_cursor++;
    if (c->adm.bad_cursor < r->nbad && SCAN_BAD_ORD(r->bad[c->adm.bad_cursor]) == ordinal)
        return SCAN_BAD_REASON(r->bad[c->adm.bad_cursor]);
    return 0;
}

/* Prices s: its reservation and rate weight.  0, or -1 with the reason the
 * job cannot run under --budget in err. */
static int price_job(run_ctx_t *c, slot_t *s, char *err, size_t errlen)
{
    s->price = c->prices ? prices_lookup(c->prices, s->job.model) : NULL;
    if (s->price && price_reservation(s->price, &s->job, &s->reservation, err, errlen) != 0) {
        if (c->ledger.budget.capped)
            return -1;
        s->price = NULL;
        s->reservation = 0;
    }
    if (!s->price && c->ledger.budget.capped) {
        snprintf(err, errlen, "model is not in the price table; its cost cannot be bounded");
        return -1;
    }
    s->weight = job_token_weight(s->price, &s->job);
    return 0;
}

/* Reads the next job that is not done yet.  NULL at EOF, on error (stop is
 * set), or after ending a line that cannot run (then *again = 1). */
static slot_t *read_job(run_ctx_t *c, int *again)
{
    admission_t *a = &c->adm;
    const char *line;
    size_t len;
    uint64_t lineno, ord;
    char err[1024];
    slot_t *s;
    int got, bad;

    *again = 0;
    for (;;) {
        got = reader_next_job(a->rd, &line, &len, &lineno);   /* skips blank lines */
        if (got == READER_EOF) {
            a->rd_eof = 1;
            return NULL;
        }
        if (got == READER_ERR) {
            run_fatal(c, "%s: %s", c->o->input, reader_error(a->rd));
            a->rd_eof = 1;
            return NULL;
        }
        ord = a->next_ordinal++;
        if (c->o->shard_n && ord % c->o->shard_n != c->o->shard_i)
            continue;                   /* another shard's job (--shard) */
        if (ckpt_done(&c->ckpt, ord))
            continue;
        if (ord >= c->ckpt.njobs && ckpt_resize(&c->ckpt, ord + 1)) {
            run_fatal(c, "out of memory");
            return NULL;
        }
        bad = got == READER_TOOLONG ? SCAN_BAD_TOOLONG : bad_reason(c, ord);
        if (bad == SCAN_BAD_TOOLONG) {
            finish_invalid(c, ord, lineno, NULL, "line is longer than 32 MiB");
            *again = 1;
            return NULL;
        }
        if (!(s = slot_new(c))) {
            run_fatal(c, "out of memory");
            return NULL;
        }
        if (job_parse(line, len, lineno, &a->defs, &s->job, err, sizeof(err)) != 0) {
            slot_free(c, s);
            if (c->o->skip_invalid) {
                json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
                const char *id = json_string_value(json_object_get(j, "custom_id"));
                finish_invalid(c, ord, lineno, id && *id ? id : NULL, err);
                json_decref(j);
                *again = 1;
                return NULL;
            }
            run_fatal(c, "%s:%llu: %s (the input changed during the run)",
                      c->o->input, (unsigned long long)lineno, err);
            return NULL;
        }
        s->job.ordinal = ord;
        if (bad == SCAN_BAD_DUP) {
            finish_invalid(c, ord, lineno, s->job.custom_id, "duplicate custom_id");
            slot_free(c, s);
            *again = 1;
            return NULL;
        }
        if (price_job(c, s, err, sizeof(err)) != 0) {
            finish_invalid(c, ord, lineno, s->job.custom_id, err);
            slot_free(c, s);
            *again = 1;
            return NULL;
        }
        if (s->job.has_key && (a->dedup || c->cache))
            s->has_ckey = 1;
        return s;
    }
}

/* ---- admission --------------------------------------------------------- */

static void put_back(run_ctx_t *c, slot_t *s, int from_retry)
{
    if (from_retry)
        retry_push(c, s);
    else
        c->adm.held = s;
}

static void wake_at(run_ctx_t *c, int64_t t_ns)
{
    if (!c->adm.next_wake_ns || t_ns < c->adm.next_wake_ns)
        c->adm.next_wake_ns = t_ns;
}

/* 1 if s was answered without a request: a cache hit (its line is written)
 * or a duplicate of a request in flight (it waits for the leader). */
static int serve_without_request(run_ctx_t *c, slot_t *s)
{
    char *body = NULL;
    size_t blen = 0;
    long status = 0;
    money_t cost = 0;
    slot_t *lead;

    s->looked_up = 1;
    if (c->cache && cache_usable(c->cache)) {
        int hit = cache_get(c->cache, slot_ckey(s), &body, &blen, &status, &cost);
        if (hit == 1) {
            json_t *j = json_loadb(body, blen, JSON_ALLOW_NUL, NULL);
            if (j || jsonscan_validate_rfc(body, blen) == 0) {   /* valid JSON */
                job_end_t e = { .ok = 1, .status = status, .body = body, .body_len = blen,
                                .tree = j, .mark = RESULTS_MARK_CACHE, .cost = cost };
                c->stats.cache_hits++;
                c->stats.cache_saved = money_add(c->stats.cache_saved, cost);
                cache_count_hits(c->cache, 1, cost);
                finish_job(c, s, &e);
                json_decref(j);
                free(body);
                return 1;
            }
            free(body);
        }
        c->stats.cache_misses++;
    }
    if (dedup_eligible(c, s) && (lead = dedup_find(c, slot_ckey(s))) != NULL &&
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
        return 1;
    }
    return 0;
}

/* Records why nothing can start for a long while: the key's own limit or
 * the global ceilings. */
static void explain_wait(run_ctx_t *c, const api_key_t *k, int by_key, int64_t until_ns)
{
    admission_t *a = &c->adm;

    if (a->long_wait_until_ns && a->long_wait_until_ns <= until_ns)
        return;
    a->long_wait_until_ns = until_ns;
    if (!by_key)
        snprintf(a->long_wait_why, sizeof(a->long_wait_why), "the --rpm/--tpm ceiling");
    else if (k->rl.cooling_until_ns > clock_mono_ns())
        snprintf(a->long_wait_why, sizeof(a->long_wait_why),
                 "key %s is rate-limited until its limit resets", k->name);
    else
        snprintf(a->long_wait_why, sizeof(a->long_wait_why),
                 "key %s is paced at %.4g requests/min", k->name, rl_key_rpm(&k->rl));
}

/* 0: consumed (started, served, coalesced); 1: must wait; -1: stop. */
static int try_start(run_ctx_t *c, slot_t *s, int from_retry, int64_t now_ns)
{
    api_key_t *k;
    int64_t wait, kw;

    if (!s->looked_up && s->has_ckey && serve_without_request(c, s))
        return 0;
    if (!keys_any_usable(&c->keys, s->job.dialect)) {
        put_back(c, s, from_retry);
        c->stop = STOP_NOKEY;
        return -1;
    }
    switch (ledger_money(&c->ledger, s->reservation)) {
    case LEDGER_GO:
        break;
    case LEDGER_WAIT:
        put_back(c, s, from_retry);     /* settlements will free money */
        return 1;
    default:
        put_back(c, s, from_retry);
        c->stop = STOP_BUDGET;
        return -1;
    }
    wait = ledger_pace_wait(&c->ledger, s->weight, now_ns);
    k = keys_pick(&c->keys, s->job.dialect, now_ns, &kw);
    if (!k) {
        put_back(c, s, from_retry);
        c->stop = STOP_NOKEY;
        return -1;
    }
    if (kw > wait)
        wait = kw;
    if ((kw = ledger_key_wait(&c->ledger, (size_t)(k - c->keys.v), rl_key_rpm(&k->rl),
                              now_ns)) > wait)
        wait = kw;                      /* the key's rate, shared by a ledger */
    if (wait > 0) {
        put_back(c, s, from_retry);
        if (wait > LONG_WAIT_NS)
            explain_wait(c, k, kw >= wait, now_ns + wait);
        wake_at(c, now_ns + wait);
        return 1;
    }
    if (ledger_needs_durable(&c->ledger, s->reservation)) {
        /* the loop raises the durable bound (group commit), then admits */
        put_back(c, s, from_retry);
        c->adm.want_durable = s->reservation;
        return 1;
    }
    if (c->backend->start(c, s, k) != 0) {
        /* could not even hand it over: count as a failed attempt */
        s->attempts++;
        slot_seen(s, "start_failed");
        s->not_before_ns = now_ns + 1000 * NS_PER_MS;
        retry_push(c, s);
        return 1;
    }
    ledger_take(&c->ledger, s->reservation, s->weight, now_ns);
    rl_key_take(&k->rl, now_ns, s->weight);
    ledger_key_take(&c->ledger, (size_t)(k - c->keys.v), rl_key_rpm(&k->rl), now_ns);
    s->reserved = 1;
    s->key = k;
    s->inflight = 1;
    s->attempts++;
    k->inflight++;
    k->requests++;
    c->stats.requests_sent++;
    if (s->starts++ > 0)
        c->stats.retries++;
    if (!from_retry)
        dedup_insert(c, s);
    return 0;
}

void admit(run_ctx_t *c)
{
    admission_t *a = &c->adm;
    int64_t now_ns = clock_mono_ns();

    a->next_wake_ns = 0;
    a->long_wait_until_ns = 0;
    while (!c->stop && !a->want_durable &&
           c->backend->inflight(c) < c->o->concurrency) {
        slot_t *s = NULL;
        int from_retry = 0, again = 0;

        if (a->retry_q && a->retry_q->not_before_ns <= now_ns) {
            s = a->retry_q;
            a->retry_q = s->next;
            s->next = NULL;
            from_retry = 1;
        } else if (a->held) {
            s = a->held;
            a->held = NULL;
        } else if (!a->rd_eof && a->active < a->max_active) {
            s = read_job(c, &again);
            if (!s) {
                if (again)
                    continue;
                if (c->stop)
                    break;
            }
        }
        if (!s) {
            if (a->retry_q)
                wake_at(c, a->retry_q->not_before_ns);
            break;
        }
        if (try_start(c, s, from_retry, now_ns) != 0)
            break;
    }
    /* a retry's own wait (the server's retry-after) */
    if (a->retry_q && a->retry_q->not_before_ns - now_ns > LONG_WAIT_NS &&
        slot_hist_peek(a->retry_q)->wait_why[0] && a->retry_q->not_before_ns == a->next_wake_ns) {
        a->long_wait_until_ns = a->retry_q->not_before_ns;
        snprintf(a->long_wait_why, sizeof(a->long_wait_why), "%s", slot_hist_peek(a->retry_q)->wait_why);
    }
    if (c->backend->inflight(c) > 0 || a->next_wake_ns != a->long_wait_until_ns)
        a->long_wait_until_ns = 0;           /* something else comes first */
}

int admit_init(run_ctx_t *c)
{
    admission_t *a = &c->adm;

    a->max_active = c->o->concurrency * 2 + 16;
    if (c->o->dedup != RUN_DEDUP_OFF) {
        size_t nb = 64;
        while (nb < (size_t)a->max_active * 2)
            nb <<= 1;
        if (!(a->dedup = calloc(nb, sizeof(*a->dedup))))
            return -1;
        a->dedup_mask = nb - 1;
    }
    return 0;
}

/* Frees every slot still held (their jobs stay pending). */
void admit_release(run_ctx_t *c)
{
    admission_t *a = &c->adm;
    slot_t *s, *next;

    if (a->held) {
        finish_drop(c, a->held);
        a->held = NULL;
    }
    for (s = a->retry_q; s; s = next) {
        next = s->next;
        finish_drop(c, s);
    }
    a->retry_q = NULL;
    for (s = a->free_slots; s; s = next) {
        next = s->next;
        free(s);
    }
    a->free_slots = NULL;
    free(a->dedup);
    a->dedup = NULL;
    reader_free(a->rd);
    a->rd = NULL;
    scan_result_release(&a->scan);
}
