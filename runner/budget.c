/*
 * budget: reservation ledger for the hard cap.  See budget.h for the
 * invariants; every function here keeps them with saturating integer math.
 */
#include "budget.h"

void budget_init(budget_t *b, int capped, money_t cap)
{
    *b = (budget_t){0};
    b->capped = capped;
    b->cap = capped ? cap : MONEY_MAX;
}

money_t budget_spent(const budget_t *b)
{
    return money_add(b->prior, b->settled);
}

int budget_fits(const budget_t *b, money_t r)
{
    money_t total = money_add(money_add(budget_spent(b), b->reserved), r);
    return !b->capped || total <= b->cap;
}

int budget_could_fit(const budget_t *b, money_t r)
{
    return !b->capped || money_add(budget_spent(b), r) <= b->cap;
}

int budget_needs_durable(const budget_t *b, money_t r)
{
    return money_add(money_add(b->settled_uncommitted, b->reserved), r) > b->durable_hwm;
}

void budget_reserve(budget_t *b, money_t r)
{
    b->reserved = money_add(b->reserved, r);
    if (r > b->max_reservation)
        b->max_reservation = r;
}

void budget_settle(budget_t *b, money_t reservation, money_t actual, int kind)
{
    money_t charge;

    b->reserved -= reservation;
    if (b->reserved < 0)
        b->reserved = 0;
    switch (kind) {
    case SETTLE_REAL:
        charge = actual;
        if (actual > reservation)
            b->overrun = money_add(b->overrun, actual - reservation);
        break;
    case SETTLE_POSSIBLY_BILLED:
        charge = reservation;
        b->possibly_billed = money_add(b->possibly_billed, reservation);
        break;
    case SETTLE_ESTIMATED:
        charge = reservation;
        b->estimated = money_add(b->estimated, reservation);
        break;
    default:
        charge = 0;
        break;
    }
    b->settled = money_add(b->settled, charge);
    b->settled_uncommitted = money_add(b->settled_uncommitted, charge);
}

money_t budget_next_hwm(const budget_t *b, money_t headroom)
{
    money_t want = money_add(b->reserved, headroom);
    if (b->capped) {
        /* After the commit, settled_uncommitted is folded into the spend;
         * the bound may not reach past the cap. */
        money_t room = b->cap - budget_spent(b);
        if (room < b->reserved)
            room = b->reserved;
        if (want > room)
            want = room;
    }
    return want;
}

void budget_committed(budget_t *b, money_t hwm)
{
    b->settled_uncommitted = 0;
    b->durable_hwm = hwm;
}

money_t budget_committed_spend(const budget_t *b)
{
    return budget_spent(b) - b->settled_uncommitted;
}
