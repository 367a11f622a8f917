/*
 * budget: the hard spend cap (--budget) and the honest accounting of money.
 *
 * All amounts are picodollars (formats/money.h).  The ledger:
 *   prior      spend carried over from earlier runs of the same job (their
 *              settled spend plus the reservations that were outstanding at
 *              their last durable commit: "possibly billed")
 *   settled    real costs settled in this run, plus failed attempts that may
 *              have reached the server, charged at their reservation
 *   reserved   outstanding reservations of requests in flight
 *
 * Invariant 1 (money): prior + settled + reserved <= cap, at every instant.
 * budget_fits() is checked before every reservation; settlement never
 * raises the total because a settled cost is at most its reservation (if a
 * server ever bills more than our upper bound, the excess is recorded in
 * `overrun` and reported).
 *
 * Invariant 3 (across crashes): the checkpoint stores `durable_hwm`, a bound
 * on (settled since the last commit + reserved).  A request may only start
 * when its reservation fits under the durable bound; otherwise the caller
 * must commit a higher bound first (budget_next_hwm).  After a crash the
 * whole bound counts as possibly billed.
 */
#ifndef LLMB_BUDGET_H
#define LLMB_BUDGET_H
#include <stdint.h>
#include "money.h"

typedef struct budget {
    money_t cap;                 /* MONEY_MAX when there is no --budget */
    int     capped;
    money_t prior;               /* from earlier runs, confirmed + unconfirmed */
    money_t settled;             /* this run */
    money_t settled_uncommitted; /* part of settled since the last commit */
    money_t reserved;            /* outstanding */
    money_t durable_hwm;         /* committed bound on settled_uncommitted + reserved */
    money_t possibly_billed;     /* failed attempts charged at reservation (this run) */
    money_t estimated;           /* 2xx without usage charged at reservation (this run) */
    money_t overrun;             /* billed beyond a reservation (should stay 0) */
    money_t max_reservation;     /* largest single reservation seen */
} budget_t;

void    budget_init(budget_t *b, int capped, money_t cap);
/* Spent so far, all runs: prior + settled. */
money_t budget_spent(const budget_t *b);
/* 1 if a reservation r fits under the cap now. */
int     budget_fits(const budget_t *b, money_t r);
/* 1 if r fits under the cap even when nothing is outstanding (so waiting
 * for in-flight requests to settle can help). */
int     budget_could_fit(const budget_t *b, money_t r);
/* 1 if reserving r needs a higher durable bound first. */
int     budget_needs_durable(const budget_t *b, money_t r);
void    budget_reserve(budget_t *b, money_t r);
/* Settles a reservation with the real cost.  kind: 0 real cost, 1 charged at
 * reservation because the attempt may have been billed, 2 charged at
 * reservation because the reply had no usage, 3 released (not billed). */
enum { SETTLE_REAL = 0, SETTLE_POSSIBLY_BILLED, SETTLE_ESTIMATED, SETTLE_RELEASE };
void    budget_settle(budget_t *b, money_t reservation, money_t actual, int kind);
/* The bound to commit next: covers what is outstanding now plus `headroom`,
 * never beyond the cap. */
money_t budget_next_hwm(const budget_t *b, money_t headroom);
/* Called after a durable commit of (spent, hwm). */
void    budget_committed(budget_t *b, money_t hwm);
/* Spend in committed checkpoint terms: prior + settled - settled_uncommitted. */
money_t budget_committed_spend(const budget_t *b);

#endif
