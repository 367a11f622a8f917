/*
 * ledger_shared: the shared part of a ledger_t (--ledger NAME --redis URL).
 *
 * It holds the Redis client (ledger_redis.h), the lease book and the rate
 * slot walkers (lease.h).  The per-request calls of ledger.h consult only
 * this local state; ledger_sync() makes the Redis round trips (the lease
 * report, slot refills, the heartbeat), called by the loop once a second
 * and at once when something waits on it.
 *
 * Invariants:
 *   - money: a reservation is taken only when it fits the lease
 *     (lease_fits); the lease is granted by the ledger so that the shared
 *     spend + every live lease <= the shared cap (ledger_redis.h);
 *   - pacing: a request starts only on a slot the ledger granted
 *     (slot_walk_wait == 0), so the global --rpm/--tpm hold across
 *     processes;
 *   - no fail-open: when Redis cannot be reached, ledger_sync fails and
 *     the caller stops admitting; nothing is ever counted locally instead.
 */
#ifndef LLMB_LEDGER_SHARED_H
#define LLMB_LEDGER_SHARED_H
#include <stddef.h>
#include <stdint.h>
#include "lease.h"
#include "ledger_redis.h"

/* One API key's share of its own rate in the ledger ("key:<fp>:rpm"). */
typedef struct lsh_key {
    char            kind[40];
    slot_walk_t     w;
    rledger_slots_t blk;
    int             want;           /* a start waits on an empty block */
    double          rate;           /* the key's rate when it asked (per minute) */
    int64_t         retry_ns;
} lsh_key_t;

typedef struct ledger_shared {
    rledger_t      *r;
    lease_book_t    book;
    int             capped;         /* the shared ledger has a budget */
    money_t         cap, spent;     /* from the last lease reply */
    money_t         r_next;         /* a reservation waiting on the lease (0: none) */
    double          rpm, tpm;       /* the shared ceilings (0: none) */
    slot_walk_t     w_req, w_tok;
    int             want_req;       /* a start waits on an empty rpm block */
    uint64_t        want_tok;       /* units a start waits on (0: none) */
    int64_t         req_retry_ns, tok_retry_ns;  /* no slots until then */
    rledger_slots_t s_req, s_tok;   /* the current blocks (for returns) */
    int64_t         last_call_ns;   /* last round trip (heartbeat) */
    int             lost;           /* a round trip failed: never admit again */
    int64_t         keys_synced_ns; /* last key-state exchange (keyshare.c) */
    lsh_key_t      *keys;           /* per API key (keys_t order); NULL: none yet */
    size_t          nkeys;
} ledger_shared_t;

/* Connects to url (NULL/empty: $LLMBATCH_REDIS_URL) for ledger `name`.
 * NULL with a message in err (Redis unreachable, bad URL, bad name). */
ledger_shared_t *lsh_connect(const char *name, const char *url, char *err, size_t errlen);
/* Creates or joins the ledger with these terms (see rledger_open); fills
 * t's out fields and, when the process named none, its budget and ceilings.
 * 0, or -1 with a message in err. */
int  lsh_open(ledger_shared_t *s, rledger_terms_t *t, int64_t now_ns, char *err, size_t errlen);
/* The per-request calls (local, no Redis). */
int     lsh_money(ledger_shared_t *s, money_t r);        /* LEDGER_GO/WAIT/FULL */
int64_t lsh_pace_wait(ledger_shared_t *s, uint64_t weight, int64_t now_ns);
void    lsh_take(ledger_shared_t *s, money_t r, uint64_t weight, int64_t now_ns);
void    lsh_settle(ledger_shared_t *s, money_t r, money_t charge, int possibly);
/* Per-key pacing across processes: key i (keys_t order, named fp) may
 * start when its shared slots allow at its current rate rpm (0: unpaced).
 * lsh_keys_init: 0 or -1 (out of memory). */
int     lsh_keys_init(ledger_shared_t *s, size_t n, const char *const *fps);
int64_t lsh_key_wait(ledger_shared_t *s, size_t i, double rpm, int64_t now_ns);
void    lsh_key_take(ledger_shared_t *s, size_t i, double rpm, int64_t now_ns);
/* The Redis round trips that are due now.  0, or -1 with a message in
 * err (then every later lsh_money says LEDGER_WAIT: stop admitting). */
int  lsh_sync(ledger_shared_t *s, int64_t now_ns, char *err, size_t errlen);
/* Clean exit: reports the last spend, counts what is still reserved as
 * possibly billed, gives back the lease and unused slots; then frees s.
 * 0, or -1 with a message in err (s is freed either way). */
int  lsh_close(ledger_shared_t *s, char *err, size_t errlen);

#endif
