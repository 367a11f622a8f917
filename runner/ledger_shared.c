/*
 * ledger_shared: the shared part of a ledger (see ledger_shared.h).  The
 * per-request functions only read and update the lease book and the slot
 * walkers; lsh_sync() is the one place that talks to Redis during a run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ledger.h"
#include "ledger_shared.h"

#define NS_PER_MS       1000000LL
#define SLOT_BLOCK_S    0.5            /* a slot block covers ~0.5 s of the ceiling */
#define REFILL_WAIT_NS  (1 * NS_PER_MS) /* an empty block: the loop refills, then retries */

ledger_shared_t *lsh_connect(const char *name, const char *url, char *err, size_t errlen)
{
    ledger_shared_t *s;
    rledger_opts_t o;
    rledger_errkind_t kind;

    if (!url || !*url)
        url = getenv("LLMBATCH_REDIS_URL");
    if (!url || !*url) {
        snprintf(err, errlen, "--ledger %s needs --redis URL (or LLMBATCH_REDIS_URL)", name);
        return NULL;
    }
    if (!(s = calloc(1, sizeof(*s)))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rledger_opts_default(&o);
    if (!(s->r = rledger_connect(name, url, &o, err, errlen, &kind))) {
        free(s);
        return NULL;
    }
    return s;
}

int lsh_open(ledger_shared_t *s, rledger_terms_t *t, int64_t now_ns, char *err, size_t errlen)
{
    if (rledger_open(s->r, t) != 0) {
        snprintf(err, errlen, "%s", rledger_error(s->r));
        return -1;
    }
    lease_init(&s->book, now_ns);
    s->capped = t->have_budget;
    s->cap = t->have_budget ? t->budget : MONEY_MAX;
    s->spent = t->spent;
    s->rpm = t->rpm;
    s->tpm = t->tpm;
    s->last_call_ns = now_ns;
    return 0;
}

int lsh_money(ledger_shared_t *s, money_t r)
{
    if (s->lost)
        return LEDGER_WAIT;
    if (!s->capped || lease_fits(&s->book, r))
        return LEDGER_GO;
    /* spent never shrinks: past the cap now means past it for good */
    if (lease_cap_reached(money_add(s->spent, s->book.since), s->cap, s->capped, r))
        return LEDGER_FULL;
    if (r > s->r_next)
        s->r_next = r;                  /* lsh_sync asks for a lease that covers it */
    return LEDGER_WAIT;
}

/* ns until `units` may start on walker w; an empty block asks for a refill. */
static int64_t walk_wait(slot_walk_t *w, uint64_t units, int64_t retry_ns, int64_t now_ns,
                         int *want)
{
    int64_t x = slot_walk_wait(w, units, now_ns);

    if (x >= 0)
        return x;
    *want = 1;
    return retry_ns > now_ns ? retry_ns - now_ns : REFILL_WAIT_NS;
}

int64_t lsh_pace_wait(ledger_shared_t *s, uint64_t weight, int64_t now_ns)
{
    int64_t w = 0, x;
    int want = 0;

    if (s->lost)
        return REFILL_WAIT_NS;
    if (s->rpm > 0) {
        w = walk_wait(&s->w_req, 1, s->req_retry_ns, now_ns, &want);
        if (want)
            s->want_req = 1;
    }
    if (s->tpm > 0 && weight > 0) {
        want = 0;
        x = walk_wait(&s->w_tok, weight, s->tok_retry_ns, now_ns, &want);
        if (want && weight > s->want_tok)
            s->want_tok = weight;
        if (x > w)
            w = x;
    }
    return w;
}

void lsh_take(ledger_shared_t *s, money_t r, uint64_t weight, int64_t now_ns)
{
    lease_reserve(&s->book, r);
    s->r_next = 0;
    if (s->rpm > 0)
        slot_walk_take(&s->w_req, 1, now_ns);
    if (s->tpm > 0 && weight > 0)
        slot_walk_take(&s->w_tok, weight, now_ns);
}

void lsh_settle(ledger_shared_t *s, money_t r, money_t charge, int possibly)
{
    lease_settle(&s->book, r, charge, possibly);
}

int lsh_keys_init(ledger_shared_t *s, size_t n, const char *const *fps)
{
    if (n == 0)
        return 0;
    if (!(s->keys = calloc(n, sizeof(*s->keys))))
        return -1;
    s->nkeys = n;
    for (size_t i = 0; i < n; i++)
        snprintf(s->keys[i].kind, sizeof(s->keys[i].kind), "key:%s:rpm", fps[i]);
    return 0;
}

int64_t lsh_key_wait(ledger_shared_t *s, size_t i, double rpm, int64_t now_ns)
{
    lsh_key_t *k;
    int want = 0;
    int64_t w;

    if (i >= s->nkeys || !(rpm > 0))
        return 0;
    k = &s->keys[i];
    w = walk_wait(&k->w, 1, k->retry_ns, now_ns, &want);
    if (want) {
        k->want = 1;
        k->rate = rpm;
    }
    return w;
}

void lsh_key_take(ledger_shared_t *s, size_t i, double rpm, int64_t now_ns)
{
    if (i < s->nkeys && rpm > 0)
        slot_walk_take(&s->keys[i].w, 1, now_ns);
}

static int lost(ledger_shared_t *s, char *err, size_t errlen)
{
    s->lost = 1;
    snprintf(err, errlen, "shared ledger: %s", rledger_error(s->r));
    return -1;
}

/* A new block of `units_min`+ slots for walker w (the unused rest of the old
 * block is given back when nobody was granted after it). */
static int refill(ledger_shared_t *s, const char *kind, double per_min, uint64_t n_min,
                  slot_walk_t *w, rledger_slots_t *blk, int64_t *retry_ns)
{
    rledger_slots_t ns;
    uint64_t left = slot_walk_left(w), n_want;

    if (left > 0 && blk->n > 0 && rledger_rate_return(s->r, blk, left, NULL) != 0)
        return -1;
    n_want = (uint64_t)(per_min / 60.0 * SLOT_BLOCK_S);
    if (n_want < n_min)
        n_want = n_min;
    if (rledger_rate_slots(s->r, kind, per_min, n_want, n_min, &ns) != 0)
        return -1;
    if (ns.n == 0) {
        *retry_ns = ns.first_ns;
        slot_walk_init(w, ns.first_ns, ns.step_ns, 0, w->next_min_ns);
    } else {
        *retry_ns = 0;
        slot_walk_init(w, ns.first_ns, ns.step_ns, ns.n, w->next_min_ns);
    }
    *blk = ns;
    return 0;
}

int lsh_sync(ledger_shared_t *s, int64_t now_ns, char *err, size_t errlen)
{
    lease_book_t *b = &s->book;
    int due;

    if (s->lost)
        return 0;                           /* already reported */
    due = s->capped ? lease_due(b, s->r_next, now_ns)
                    : now_ns - b->last_report_ns >= LEASE_SPAN_NS;
    if (due) {
        rledger_lease_t out;
        money_t want = s->capped ? lease_want(b, s->r_next, now_ns) : b->reserved;
        money_t need = s->capped ? lease_need(b, s->r_next) : 0;

        if (rledger_lease(s->r, want, need, b->reserved, b->since, b->since_pb, &out) != 0)
            return lost(s, err, errlen);
        lease_reported(b, out.granted, s->r_next, now_ns);
        s->spent = out.spent;
        s->r_next = 0;                      /* a waiting job asks again */
        s->last_call_ns = now_ns;
    }
    if (s->rpm > 0 && s->want_req && now_ns >= s->req_retry_ns) {
        if (refill(s, "rpm", s->rpm, 1, &s->w_req, &s->s_req, &s->req_retry_ns) != 0)
            return lost(s, err, errlen);
        s->want_req = 0;
        s->last_call_ns = now_ns;
    }
    if (s->tpm > 0 && s->want_tok && now_ns >= s->tok_retry_ns) {
        if (refill(s, "tpm", s->tpm, s->want_tok, &s->w_tok, &s->s_tok, &s->tok_retry_ns) != 0)
            return lost(s, err, errlen);
        s->want_tok = 0;
        s->last_call_ns = now_ns;
    }
    for (size_t i = 0; i < s->nkeys; i++) {
        lsh_key_t *k = &s->keys[i];
        if (!k->want || now_ns < k->retry_ns)
            continue;
        if (refill(s, k->kind, k->rate, 1, &k->w, &k->blk, &k->retry_ns) != 0)
            return lost(s, err, errlen);
        k->want = 0;
        s->last_call_ns = now_ns;
    }
    if (now_ns - s->last_call_ns >= RLEDGER_HEARTBEAT_MS * NS_PER_MS / 2) {
        if (rledger_heartbeat(s->r) != 0)
            return lost(s, err, errlen);
        s->last_call_ns = now_ns;
    }
    return 0;
}

int lsh_close(ledger_shared_t *s, char *err, size_t errlen)
{
    int rc = 0;
    uint64_t left;

    if (!s)
        return 0;
    if (!s->lost) {
        if ((left = slot_walk_left(&s->w_req)) > 0 && s->s_req.n > 0)
            rc |= rledger_rate_return(s->r, &s->s_req, left, NULL);
        if (!rc && (left = slot_walk_left(&s->w_tok)) > 0 && s->s_tok.n > 0)
            rc |= rledger_rate_return(s->r, &s->s_tok, left, NULL);
        for (size_t i = 0; !rc && i < s->nkeys; i++)
            if ((left = slot_walk_left(&s->keys[i].w)) > 0 && s->keys[i].blk.n > 0)
                rc |= rledger_rate_return(s->r, &s->keys[i].blk, left, NULL);
        if (!rc)
            rc = rledger_release(s->r, s->book.since, s->book.since_pb, s->book.reserved);
        if (rc)
            snprintf(err, errlen, "shared ledger: %s", rledger_error(s->r));
    }
    rledger_free(s->r);
    free(s->keys);
    free(s);
    return rc ? -1 : 0;
}
