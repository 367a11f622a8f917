/*
 * ledger_redis: a ledger shared by many llmbatch processes, held in Redis
 * (--ledger NAME --redis URL).  One hiredis connection per process; every
 * read-modify-write is ONE Lua script run with EVALSHA, so each decision is
 * atomic across processes, and every time that must agree between machines
 * comes from Redis's TIME inside the script.
 *
 * Keys: llmbatch:ledger:{NAME}:meta|lease|hb|seq|tat|keys|key:<fp>; the
 * {NAME} hash tag keeps them in one cluster slot.
 *
 * Budget (all amounts picodollars, exact: the scripts do two-limb integer
 * arithmetic, never doubles):
 *   spent            settled spend of every process, plus what was
 *                    possibly billed (reaped leases, abandoned reservations)
 *   lease[id]        what process id may have outstanding or settle before
 *                    its next report
 *   Invariant: spent + sum(lease) <= cap after every script (a lease grant
 *   never exceeds the room; only a server billing beyond a reservation can
 *   push spent itself past the cap, and then no lease is granted).
 *   A process keeps, locally, reserved + settled_since_report <= its lease.
 *   A holder that has not called for RLEDGER_DEAD_MS (Redis time) is reaped
 *   by the next open/lease/heartbeat/release of anyone: its whole lease
 *   moves into spent and into possibly_billed (like the local checkpoint's
 *   high-water mark after a crash).
 *
 * Rate slots: a GCRA per ceiling ("rpm", "tpm", "key:<fp>:rpm", ...) whose
 * theoretical arrival time lives in Redis.  A call grants n consecutive
 * slots at tat, tat+step, ...; the caller starts unit i no earlier than
 * first_ns + i*step_ns.  Grants never reach more than the horizon
 * (RLEDGER_HORIZON_NS by default) ahead of Redis's now, so across all
 * processes no window of W seconds holds more than N*W/60 + 1 slots.
 *
 * Names are rledger_* so that this client sits beside runner/ledger.h's
 * ledger_t (the admission seam), whose shared variant wraps it.
 *
 * Errors: every call returns -1 with rledger_error() set; rledger_errkind()
 * says why.  A lost connection is retried (reconnect + script reload) at
 * most opts.attempts times; a call then fails within command_timeout +
 * attempts x (connect_timeout + command_timeout) + 0.1 s x (2^(attempts-1)
 * - 1) of backoff: about 6 s with the defaults against a hung Redis, about
 * 0.3 s when the port refuses connections.
 * There is no local fallback.  A retried lease/release is applied once
 * (per-process sequence numbers); a retried slot grant may waste slots,
 * never add any.
 */
#ifndef LLMB_LEDGER_REDIS_H
#define LLMB_LEDGER_REDIS_H
#include <stdint.h>
#include <stddef.h>
#include <jansson.h>
#include "money.h"

#define RLEDGER_DEAD_MS      15000                 /* a silent holder is dead after this */
#define RLEDGER_HEARTBEAT_MS 3000                  /* call rledger_heartbeat at least this often */
#define RLEDGER_HORIZON_NS   2000000000LL          /* slots granted at most this far ahead */

typedef struct rledger rledger_t;

typedef enum rledger_errkind {
    RLEDGER_E_NONE = 0,
    RLEDGER_E_USAGE,      /* bad name/URL/argument: exit 2 */
    RLEDGER_E_CONN,       /* unreachable, timed out, connection lost: exit 2 at start, 5 mid-run */
    RLEDGER_E_REFUSED,    /* the ledger's terms differ from this run's: exit 2 */
    RLEDGER_E_REAPED,     /* this process was silent too long; its lease is counted: exit 5 */
    RLEDGER_E_REDIS       /* Redis answered with an error (AUTH, WRONGTYPE...): exit 5 */
} rledger_errkind_t;

typedef struct rledger_opts {
    int     connect_timeout_ms;   /* per connection attempt; default 500 */
    int     command_timeout_ms;   /* per command; default 1000 */
    int     attempts;             /* connection attempts per call; default 3 */
    int64_t horizon_ns;           /* default RLEDGER_HORIZON_NS */
    int     dead_ms;              /* default RLEDGER_DEAD_MS; every process of a ledger
                                   * must use the same value (tests shorten it) */
} rledger_opts_t;

/* The run's terms.  In: what this process was given (have_budget/budget
 * from --budget, raise_budget when the user asked to raise an existing
 * ledger's cap, rpm/tpm ceilings, 0 = none).  Out (rledger_open): the
 * ledger's terms, which the process must use. */
typedef struct rledger_terms {
    int     have_budget;
    money_t budget;
    int     raise_budget;
    double  rpm, tpm;
    /* out only */
    money_t spent;            /* shared spend at open, incl. possibly billed */
    money_t possibly_billed;
    int     created;          /* 1 if this call created the ledger */
} rledger_terms_t;

/* One budget exchange (rledger_lease). */
typedef struct rledger_lease {
    money_t granted;          /* the new lease; the caller's bound from now on */
    money_t spent;            /* shared spend after this call (incl. possibly billed) */
    money_t others;           /* sum of the other processes' live leases */
    money_t cap;              /* MONEY_MAX when the ledger has no budget */
    int     capped;
    int     short_lease;      /* granted < in_use: billing beyond reservations ate the room */
} rledger_lease_t;

/* A block of rate slots (rledger_rate_slots). */
typedef struct rledger_slots {
    int64_t  first_ns;        /* local clock_mono_ns() of slot 0 (or, when n == 0,
                               * when to ask again) */
    int64_t  step_ns;
    uint64_t n;               /* slots granted (0: none within the horizon) */
    char     kind[96];        /* for rledger_rate_return */
    char     end[24];         /* Redis-time tat after this grant */
} rledger_slots_t;

/* Shared state of one API key, named by its fingerprint or label. */
typedef struct rledger_key {
    double  server_rpm, server_tpm;   /* announced limits; 0 = unknown */
    double  factor;                   /* AIMD factor, recovered to now; 1 = none */
    double  learned_rpm;              /* learned rate (grown to now); 0 = none */
    double  learned_step;             /* its growth per second */
    int64_t cooling_until_ns;         /* local clock_mono_ns(); 0 = not cooling */
    int     state;                    /* KEY_OK, KEY_EXHAUSTED or KEY_INVALID (keys.h) */
    char    reason[160];              /* why exhausted/invalid */
} rledger_key_t;

void rledger_opts_default(rledger_opts_t *o);

/* Parses url (masked in every message), connects, loads the scripts.  No
 * registration: enough for rledger_show.  o may be NULL (defaults).  Returns
 * NULL with a message in err (and *kind set when kind is non-NULL). */
rledger_t *rledger_connect(const char *name, const char *url, const rledger_opts_t *o,
                           char *err, size_t errlen, rledger_errkind_t *kind);
/* Creates the ledger with t's budget and ceilings if absent; otherwise
 * checks t against it (rules in the README: a different budget is refused
 * unless raise_budget and it is higher; a ledger without a budget cannot
 * get one; a named ceiling must equal the ledger's), then registers this
 * process with a heartbeat and a zero lease.  Fills t's out fields and, when
 * the process named none, its budget/rpm/tpm from the ledger. */
int  rledger_open(rledger_t *l, rledger_terms_t *t);
/* Reports settled_delta (spend settled since the last report; possibly_delta
 * is the part of it charged at reservation because the attempt may have been
 * billed) and asks for a lease of want.  in_use: the reservations the
 * process has outstanding now.  need: the least lease that lets it go on
 * (in_use + its next reservation; 0 = no minimum).  The script sets
 *   lease = min(max(in_use, want), room),  room = cap - spent - others,
 * and when that is below need, lease = min(in_use, room) instead (what it
 * cannot use goes back to the pool, so starved processes never deadlock
 * holding halves).  Afterwards the caller's settled_since_report is 0 and it
 * may reserve only while reserved + settled_since_report <= out->granted. */
int  rledger_lease(rledger_t *l, money_t want, money_t need, money_t in_use,
                   money_t settled_delta, money_t possibly_delta, rledger_lease_t *out);
/* Keeps this process alive (call at least every RLEDGER_HEARTBEAT_MS when
 * no other call was made). */
int  rledger_heartbeat(rledger_t *l);
/* Clean exit: reports the last settled spend, counts in_flight (reservations
 * abandoned in flight) as possibly billed, and returns the rest of the lease. */
int  rledger_release(rledger_t *l, money_t settled_delta, money_t possibly_delta,
                     money_t in_flight);
/* Grants up to n_want consecutive slots of a ceiling of per_min units per
 * minute: those within the horizon, but at least n_min (<= n_want) when the
 * first one is within it.  A request is one unit of "rpm"; for tokens a
 * request of weight w takes w units of one block (n_min >= w) and starts at
 * its first unit's time.  kind: "rpm", "tpm", or a key's "key:<fp>:rpm" /
 * "key:<fp>:tpm" ([A-Za-z0-9._:@+-], at most 95 bytes).  With out->n == 0,
 * ask again at out->first_ns.  -1 also when n_min units would span more
 * than ~11 days. */
int  rledger_rate_slots(rledger_t *l, const char *kind, double per_min, uint64_t n_want,
                        uint64_t n_min, rledger_slots_t *out);
/* Gives back the last n_unused slots of s if the block is still the tail of
 * its ceiling (nobody was granted after it).  *returned (may be NULL): 1 if
 * they were taken back. */
int  rledger_rate_return(rledger_t *l, const rledger_slots_t *s, uint64_t n_unused, int *returned);
/* Reads a key's shared state (fp: fingerprint or label, NEVER the secret). */
int  rledger_key_get(rledger_t *l, const char *fp, rledger_key_t *out);
/* Merges in: announced limits (latest non-zero wins), factor (min of the
 * recovered shared factor and in's, when in's < 1), learned rate (min, when
 * in's > 0), cooling_until (max, when in the future), state (the worse
 * wins: exhausted and invalid are sticky).  merged (may be NULL) gets the
 * result as rledger_key_get would return it. */
int  rledger_key_update(rledger_t *l, const char *fp, const rledger_key_t *in,
                        rledger_key_t *merged);
/* The ledger's live state as JSON: name, exists, budget, spent,
 * possibly_billed, leases, processes [{id, heartbeat_age_ms, lease, stale}],
 * keys [{name, ...}].  Money as USD numbers plus exact *_pp strings.
 * NULL on error. */
json_t *rledger_show(rledger_t *l);

/* The name under which a key's state is shared: "k-" + 16 hex digits of a
 * SHA-256 of the secret (domain-separated).  The same key gives the same
 * name in every process, different keys (even with equal last characters or
 * labels) different names, and the name reveals nothing of the secret.
 * outlen >= 19. */
void rledger_key_fingerprint(const char *secret, char *out, size_t outlen);

const char      *rledger_error(const rledger_t *l);
rledger_errkind_t rledger_errkind(const rledger_t *l);
/* hostname:pid:random, the process id in the ledger. */
const char      *rledger_id(const rledger_t *l);
/* Closes the connection (does not release the lease: call rledger_release). */
void             rledger_free(rledger_t *l);

#endif
