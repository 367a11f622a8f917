/*
 * ledger: the local implementation of ledger.h over budget_t and two GCRA
 * pacers.  Owns nothing outside the struct.
 */
#include "ledger.h"

void ledger_init(ledger_t *l, int capped, money_t cap, double rpm, double tpm)
{
    *l = (ledger_t){0};
    budget_init(&l->budget, capped, cap);
    gcra_set_rate(&l->g_req, rpm);
    gcra_set_rate(&l->g_tok, tpm);
}

int ledger_money(const ledger_t *l, money_t r)
{
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
    int64_t a = gcra_wait_ns(&l->g_req, now_ns), b = gcra_wait_ns(&l->g_tok, now_ns);
    (void)weight;
    return a > b ? a : b;
}

void ledger_take(ledger_t *l, money_t r, uint64_t weight, int64_t now_ns)
{
    budget_reserve(&l->budget, r);
    l->reserved_since_commit = money_add(l->reserved_since_commit, r);
    gcra_take(&l->g_req, now_ns, 1);
    gcra_take(&l->g_tok, now_ns, weight);
}

void ledger_settle(ledger_t *l, money_t r, money_t actual, int kind)
{
    budget_settle(&l->budget, r, actual, kind);
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
