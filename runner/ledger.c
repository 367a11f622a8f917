/*
 * ledger: ledger.h over budget_t and two GCRA pacers, or, when a shared
 * part is attached (ledger_shared.h), over its lease book and slot walkers
 * (still local calls; ledger_sync makes the round trips).  Owns the shared
 * part when there is one.
 */
#include "ledger.h"
#include "ledger_shared.h"

void ledger_init(ledger_t *l, int capped, money_t cap, double rpm, double tpm)
{
    *l = (ledger_t){0};
    budget_init(&l->budget, capped, cap);
    gcra_set_rate(&l->g_req, rpm);
    gcra_set_rate(&l->g_tok, tpm);
}

int ledger_money(const ledger_t *l, money_t r)
{
    if (l->sh)
        return lsh_money(l->sh, r);
    if (budget_fits(&l->budget, r))
        return LEDGER_GO;
    if (l->budget.reserved > 0 && budget_could_fit(&l->budget, r))
        return LEDGER_WAIT;
    return LEDGER_FULL;
}

int ledger_needs_durable(const ledger_t *l, money_t r)
{
    return budget_needs_durable(&l->budget, r);
}

int64_t ledger_pace_wait(const ledger_t *l, uint64_t weight, int64_t now_ns)
{
    int64_t a, b;

    if (l->sh)
        return lsh_pace_wait(l->sh, weight, now_ns);
    a = gcra_wait_ns(&l->g_req, now_ns);
    b = gcra_wait_ns(&l->g_tok, now_ns);
    return a > b ? a : b;
}

void ledger_take(ledger_t *l, money_t r, uint64_t weight, int64_t now_ns)
{
    budget_reserve(&l->budget, r);
    l->reserved_since_commit = money_add(l->reserved_since_commit, r);
    if (l->sh) {
        lsh_take(l->sh, r, weight, now_ns);
        return;
    }
    gcra_take(&l->g_req, now_ns, 1);
    gcra_take(&l->g_tok, now_ns, weight);
}

void ledger_settle(ledger_t *l, money_t r, money_t actual, int kind)
{
    budget_settle(&l->budget, r, actual, kind);
    if (l->sh)
        lsh_settle(l->sh, r, kind == SETTLE_REAL ? actual : kind == SETTLE_RELEASE ? 0 : r,
                   kind == SETTLE_POSSIBLY_BILLED);
}

money_t ledger_next_bound(const ledger_t *l, int final, int concurrency, money_t extra)
{
    money_t headroom, twice = money_add(l->reserved_since_commit, l->reserved_since_commit);

    if (final)
        return l->budget.reserved;
    /* room for the next second or so of admissions without another fsync,
     * but not so much that a crash books a large unconfirmed amount */
    headroom = money_mul((uint64_t)(concurrency < 16 ? concurrency : 16),
                         l->budget.max_reservation);
    if (headroom < twice)
        headroom = twice;
    if (headroom < extra)
        headroom = extra;
    return budget_next_hwm(&l->budget, headroom);
}

void ledger_committed(ledger_t *l, money_t bound)
{
    budget_committed(&l->budget, bound);
    l->reserved_since_commit = 0;
}

money_t ledger_spent(const ledger_t *l)
{
    return budget_spent(&l->budget);
}

void ledger_attach(ledger_t *l, struct ledger_shared *sh)
{
    l->sh = sh;
    l->budget.cap = MONEY_MAX;      /* the lease is the bound */
    gcra_set_rate(&l->g_req, 0);
    gcra_set_rate(&l->g_tok, 0);
}

int ledger_sync(ledger_t *l, int64_t now_ns, char *err, size_t errlen)
{
    return l->sh ? lsh_sync(l->sh, now_ns, err, errlen) : 0;
}

int ledger_close(ledger_t *l, char *err, size_t errlen)
{
    ledger_shared_t *sh = l->sh;

    l->sh = NULL;
    return lsh_close(sh, err, errlen);
}

int64_t ledger_key_wait(const ledger_t *l, size_t i, double rpm, int64_t now_ns)
{
    return l->sh ? lsh_key_wait(l->sh, i, rpm, now_ns) : 0;
}

void ledger_key_take(ledger_t *l, size_t i, double rpm, int64_t now_ns)
{
    if (l->sh)
        lsh_key_take(l->sh, i, rpm, now_ns);
}
