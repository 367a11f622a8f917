/*
 * lease: local bookkeeping of a shared-ledger lease and of a block of rate
 * slots (see lease.h for the invariants and the sizing rule).
 */
#include "lease.h"

void lease_init(lease_book_t *b, int64_t now_ns)
{
    *b = (lease_book_t){0};
    b->last_report_ns = now_ns;
}

int lease_fits(const lease_book_t *b, money_t r)
{
    return money_add(money_add(b->reserved, b->since), r) <= b->lease;
}

void lease_reserve(lease_book_t *b, money_t r)
{
    b->reserved = money_add(b->reserved, r);
    b->reserved_in_span = money_add(b->reserved_in_span, r);
    if (r > b->max_reservation)
        b->max_reservation = r;
}

void lease_settle(lease_book_t *b, money_t reservation, money_t charge, int possibly)
{
    b->reserved -= reservation;
    if (b->reserved < 0)
        b->reserved = 0;
    b->since = money_add(b->since, charge);
    if (possibly)
        b->since_pb = money_add(b->since_pb, charge);
}

int lease_due(const lease_book_t *b, money_t r_next, int64_t now_ns)
{
    int64_t age = now_ns - b->last_report_ns;

    if (money_add(b->reserved, b->since) > b->lease)
        return 1;                       /* billed beyond a reservation: tell the ledger now */
    if (r_next > 0 && !lease_fits(b, r_next))
        return !b->starved || age >= LEASE_STARVED_NS;
    return age >= LEASE_SPAN_NS;
}

money_t lease_want(const lease_book_t *b, money_t r_next, int64_t now_ns)
{
    int64_t age = now_ns - b->last_report_ns;
    money_t margin, rate;

    if (age < 1000000)
        age = 1000000;
    /* reservations per span at the pace since the last report */
    rate = (money_t)((double)b->reserved_in_span * ((double)LEASE_SPAN_NS / (double)age));
    margin = money_mul(4, b->max_reservation);
    if (margin < rate)
        margin = rate;
    if (margin < r_next)
        margin = r_next;
    return money_add(b->reserved, margin);
}

money_t lease_need(const lease_book_t *b, money_t r_next)
{
    return r_next > 0 ? money_add(b->reserved, r_next) : 0;
}

void lease_reported(lease_book_t *b, money_t granted, money_t r_next, int64_t now_ns)
{
    b->lease = granted;
    b->since = 0;
    b->since_pb = 0;
    b->reserved_in_span = 0;
    b->last_report_ns = now_ns;
    b->starved = r_next > 0 && !lease_fits(b, r_next);
}

int lease_cap_reached(money_t spent, money_t cap, int capped, money_t r)
{
    return capped && money_add(spent, r) > cap;
}

void slot_walk_init(slot_walk_t *w, int64_t first_ns, int64_t step_ns, uint64_t n,
                    int64_t next_min_ns)
{
    w->first_ns = first_ns;
    w->step_ns = step_ns;
    w->n = n;
    w->used = 0;
    w->next_min_ns = next_min_ns;
}

uint64_t slot_walk_left(const slot_walk_t *w)
{
    return w->n - w->used;
}

static int64_t slot_time(const slot_walk_t *w)
{
    int64_t t = w->first_ns + (int64_t)w->used * w->step_ns;
    return t > w->next_min_ns ? t : w->next_min_ns;
}

int64_t slot_walk_wait(const slot_walk_t *w, uint64_t units, int64_t now_ns)
{
    int64_t t;

    if (units == 0 || units > w->n - w->used)
        return -1;
    t = slot_time(w);
    return t > now_ns ? t - now_ns : 0;
}

void slot_walk_take(slot_walk_t *w, uint64_t units, int64_t now_ns)
{
    int64_t start = slot_time(w);

    if (start < now_ns)
        start = now_ns;
    if (units > w->n - w->used)
        units = w->n - w->used;
    w->used += units;
    w->next_min_ns = start + (int64_t)units * w->step_ns;
}
