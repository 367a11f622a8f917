/*
 * ledger: money and global pacing for admission -- reserve, settle, pace.
 *
 * Today the ledger is local: budget_t (the reservation ledger under
 * --budget, with its durable high-water mark, runner/budget.h) and two
 * strict GCRA ceilings (--rpm, --tpm, runner/ratelimit.h).  A shared
 * ledger (Redis) sits behind the same calls: it bounds the local budget by
 * a lease and hands out pacing slots, refreshed by ledger_sync() once a
 * second from the loop, so the per-request calls stay local.
 *
 * Invariant 1 (money): spent + outstanding reservations <= cap at every
 * instant: admission calls ledger_money() before ledger_take(), and a
 * settlement never charges more than its reservation (budget.h).
 */
#ifndef LLMB_LEDGER_H
#define LLMB_LEDGER_H
#include <stddef.h>
#include <stdint.h>
#include "budget.h"
#include "ratelimit.h"

struct ledger_shared;

typedef struct ledger {
    budget_t budget;
    struct ledger_shared *sh;       /* NULL: local; else the shared part
                                       (ledger_shared.h), owned here */
    gcra_t   g_req, g_tok;          /* --rpm, --tpm */
    money_t  reserved_since_commit; /* sizes the next durable bound */
} ledger_t;

enum ledger_money {
    LEDGER_GO = 0,      /* the reservation fits now */
    LEDGER_WAIT,        /* it does not, but settlements in flight may make room */
    LEDGER_FULL         /* it never will under this budget: stop admitting */
};

void    ledger_init(ledger_t *l, int capped, money_t cap, double rpm, double tpm);
/* May a reservation r be taken now?  LEDGER_GO / LEDGER_WAIT / LEDGER_FULL. */
int     ledger_money(const ledger_t *l, money_t r);
/* 1 if r needs a higher durable bound first (the loop commits, then admits). */
int     ledger_needs_durable(const ledger_t *l, money_t r);
/* ns until a request of `weight` tokens may start under the global ceilings. */
int64_t ledger_pace_wait(const ledger_t *l, uint64_t weight, int64_t now_ns);
/* Takes the reservation and the pacing of one request start. */
void    ledger_take(ledger_t *l, money_t r, uint64_t weight, int64_t now_ns);
/* Settles a reservation (kinds: SETTLE_REAL, SETTLE_POSSIBLY_BILLED,
 * SETTLE_ESTIMATED, SETTLE_RELEASE; see budget.h). */
void    ledger_settle(ledger_t *l, money_t r, money_t actual, int kind);
/* The durable bound to commit next: what is outstanding plus room for the
 * next second or so of admissions (twice the last second's reservations,
 * or min(concurrency, 16) x the largest reservation), at least `extra`. */
money_t ledger_next_bound(const ledger_t *l, int final, int concurrency, money_t extra);
/* After the commit of that bound. */
void    ledger_committed(ledger_t *l, money_t bound);
/* Spent so far, all runs. */
money_t ledger_spent(const ledger_t *l);
/* Makes l shared (after ledger_init): sh's lease bounds the budget and its
 * slots pace the global ceilings; the local budget keeps this process's
 * own accounting (and its durable bound) under no cap of its own.  l owns
 * sh from now on. */
void    ledger_attach(ledger_t *l, struct ledger_shared *sh);
/* The shared ledger's round trips that are due (a lease report, slot
 * refills, the heartbeat); call it every loop turn, it returns at once
 * when nothing is due and for a local ledger.  0, or -1 with a message in
 * err: the shared ledger is lost, admission must stop (never counted
 * locally instead). */
int     ledger_sync(ledger_t *l, int64_t now_ns, char *err, size_t errlen);
/* A key's own pacing across the processes of a shared ledger: ns until key
 * i (keys_t order) may start at its current rate rpm (0: not paced); 0 for
 * a local ledger (the key's local pacer does it alone). */
int64_t ledger_key_wait(const ledger_t *l, size_t i, double rpm, int64_t now_ns);
void    ledger_key_take(ledger_t *l, size_t i, double rpm, int64_t now_ns);
/* Detaches and closes the shared part (reports the last spend, gives the
 * lease back).  0, or -1 with a message in err; no-op when local. */
int     ledger_close(ledger_t *l, char *err, size_t errlen);

#endif
