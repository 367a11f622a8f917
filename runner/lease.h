/*
 * lease: the local side of a shared ledger's budget lease and rate slots,
 * pure bookkeeping (no Redis, no clock of its own) so that the caller makes
 * few ledger calls and never steps outside what the ledger granted.
 *
 * lease_book_t, per process:
 *   lease     what rledger_lease last granted
 *   reserved  reservations outstanding here
 *   since     spend settled since the last report (since_pb: the part
 *             charged at reservation as possibly billed)
 *   Invariant: reserved + since <= lease.  lease_fits() is checked before
 *   every reservation; settling moves at most the reservation into since.
 *   A report (rledger_lease with lease_want(), reserved, since, since_pb)
 *   folds since into the shared spend and sets a new lease >= reserved.
 *
 * Sizing: want = reserved + about LEASE_SPAN_NS of reservations at the rate
 * seen since the last report (at least 4 of the largest reservation), so a
 * busy process reports about once per span.  A report also passes
 * need = reserved + the next reservation: a grant that cannot cover it keeps
 * only what is reserved and gives the rest back (rledger_lease's need rule),
 * so two starved processes cannot each hold half of what one of them needs;
 * the book is then "starved" and asks again after LEASE_STARVED_NS.
 *
 * slot_walk_t walks one block of rledger_rate_slots: unit i may start no
 * earlier than first + i*step, and a start of u units is followed by at
 * least u*step before the next (a late start pushes the next ones: never a
 * catch-up burst).
 */
#ifndef LLMB_LEASE_H
#define LLMB_LEASE_H
#include <stdint.h>
#include "money.h"

#define LEASE_SPAN_NS      1000000000LL   /* a lease covers ~1 s of reservations */
#define LEASE_STARVED_NS    100000000LL   /* wait between starved asks */

typedef struct lease_book {
    money_t lease, reserved, since, since_pb;
    money_t max_reservation;
    money_t reserved_in_span;     /* reservations made since the last report */
    int64_t last_report_ns;
    int     starved;
} lease_book_t;

void    lease_init(lease_book_t *b, int64_t now_ns);
/* 1 if a reservation r fits in the lease now. */
int     lease_fits(const lease_book_t *b, money_t r);
void    lease_reserve(lease_book_t *b, money_t r);
/* Settles a reservation: charge (<= reservation is expected; more is
 * counted as it is) goes into since; possibly: charged as possibly billed. */
void    lease_settle(lease_book_t *b, money_t reservation, money_t charge, int possibly);
/* 1 if the caller should report now: the next reservation r_next (0 if
 * none is waiting) does not fit and the starved wait is over, or a span has
 * passed since the last report. */
int     lease_due(const lease_book_t *b, money_t r_next, int64_t now_ns);
/* The want for the next report (see Sizing). */
money_t lease_want(const lease_book_t *b, money_t r_next, int64_t now_ns);
/* The need for the next report: reserved + r_next (0 when nothing waits). */
money_t lease_need(const lease_book_t *b, money_t r_next);
/* After a successful rledger_lease: since is folded, the lease replaced. */
void    lease_reported(lease_book_t *b, money_t granted, money_t r_next, int64_t now_ns);
/* 1 when the shared budget can never fit r: spent (shared, from the
 * ledger's reply) + r > cap. */
int     lease_cap_reached(money_t spent, money_t cap, int capped, money_t r);

typedef struct slot_walk {
    int64_t  first_ns, step_ns;   /* from rledger_slots_t */
    uint64_t n, used;
    int64_t  next_min_ns;         /* previous start + its units * step */
} slot_walk_t;

/* Starts walking a new block (slots from rledger_rate_slots); next_min_ns:
 * the previous block's w.next_min_ns (0 for the first), so that a late
 * start in one block also delays the next block's first unit. */
void     slot_walk_init(slot_walk_t *w, int64_t first_ns, int64_t step_ns, uint64_t n,
                        int64_t next_min_ns);
/* Units left in the block. */
uint64_t slot_walk_left(const slot_walk_t *w);
/* ns until `units` units may start (0 = now); -1 if the block has fewer
 * than `units` left (refill first, and give the rest back). */
int64_t  slot_walk_wait(const slot_walk_t *w, uint64_t units, int64_t now_ns);
/* Takes `units` units starting now (call when slot_walk_wait gave 0). */
void     slot_walk_take(slot_walk_t *w, uint64_t units, int64_t now_ns);

#endif
