/*
 * ratelimit: pacing of request starts and tokens (GCRA, "virtual
 * scheduling"), and the adaptive state of one key's limits.
 *
 * A gcra_t with rate N per minute lets a unit start when now >= tat - tol
 * (tat: the theoretical arrival time), then moves tat by units * 60s/N.
 * With tol = 0 (the global --rpm/--tpm ceilings) in any window of W seconds
 * at most N*W/60 + 1 requests start (for tokens: N*W/60 + the largest single
 * weight).  A small tolerance lets a key's pacer make up for late wake-ups
 * against a server's announced limit, whose bucket absorbs such catch-ups.
 *
 * rl_key_t combines, for one API key:
 *   - the user's ceilings (keys file rpm=/tpm=);
 *   - what the server announces (x-ratelimit-*, anthropic-ratelimit-*):
 *     the key is paced at the announced limit, at RL_SAFETY of it while the
 *     server says fewer than max(3, 1%) requests/tokens remain (pacing at
 *     exactly the refill rate of an empty bucket would race it);
 *   - an AIMD factor on those limits: a rate-limit 429 halves it (at most
 *     once a second, so a burst of 429s from one moment counts once), every
 *     second adds RL_RECOVER_STEP, and once the reset the 429 announced
 *     (retry-after, else the limit's reset header, else 1 s) has passed it
 *     is 1 again;
 *   - when nothing is announced and the user set nothing, a learned rate.
 *     Here a 429 only counts as rate pressure when 429s are at least
 *     RL_PRESSURE of the key's replies over the last two seconds (and at
 *     least RL_PRESSURE_MIN): a stray 429 among many successes only delays its own job.
 *     Under pressure, the first 429 sets the rate to the successful replies
 *     per minute of the last few seconds (or, if lower, to what a sub-second
 *     retry-after implies: one request per retry-after, a token bucket's
 *     refill), later ones halve it (once a second), and it grows each second
 *     by a twentieth of that first learned rate; after RL_FORGET_NS without
 *     a 429 the key is unlimited again.
 * The whole key pauses (cooling) only when the server says its bucket is
 * empty (remaining 0); otherwise only the 429'd job waits its retry-after.
 * Before the first reply the key keeps a small in-flight window (see
 * rl_key_t.window), so a first burst cannot overrun a bucket it knows
 * nothing about.
 */
#ifndef LLMB_RATELIMIT_H
#define LLMB_RATELIMIT_H
#include <stdint.h>
#include "ratelimit_hdr.h"

typedef struct gcra {
    int64_t tat_ns;       /* theoretical arrival time (monotonic ns) */
    double  per_min;      /* units per minute; 0 = unlimited */
    int64_t tol_ns;       /* burst tolerance (0 for strict ceilings) */
} gcra_t;

void    gcra_set_rate(gcra_t *g, double per_min);
/* ns to wait before the next unit may start (0 = now). */
int64_t gcra_wait_ns(const gcra_t *g, int64_t now_ns);
void    gcra_take(gcra_t *g, int64_t now_ns, uint64_t units);

#define RL_MIN_FACTOR    0.05
#define RL_RECOVER_STEP  0.10                 /* per second */
#define RL_SAFETY        0.98                 /* see above */
#define RL_DECREASE_GAP_NS 1000000000LL       /* one halving per second at most */
#define RL_CATCHUP_NS    250000000LL          /* key pacer tolerance */
#define RL_FORGET_NS     60000000000LL        /* learned rate expires */
#define RL_MIN_LEARNED   6.0                  /* requests per minute */
#define RL_PRESSURE      0.2                  /* share of 429s that means "too fast" */
#define RL_PRESSURE_MIN  10                   /* ... and at least this many of them */

#define RL_INITIAL_WINDOW 4                   /* in flight before the first reply */

typedef struct rl_key {
    gcra_t   req, tok;
    /* In-flight window: until a reply has shown the key's limits, at most
     * RL_INITIAL_WINDOW requests are in flight; a server that announces
     * limits is then paced by them (window 0 = none); one that announces
     * nothing gets a window that grows by one per success (TCP slow start:
     * it doubles each round trip) and halves on rate pressure. */
    uint32_t window;
    int      announced;
    double   user_rpm, user_tpm;       /* keys file; 0 = none */
    double   server_rpm, server_tpm;   /* announced; 0 = unknown */
    double   learned_rpm;              /* no limit known: AIMD rate; 0 = none */
    double   learned_step;             /* its additive increase per second */
    double   factor;                   /* AIMD on known limits, [RL_MIN_FACTOR, 1] */
    int      low_remaining;            /* the server's bucket is nearly empty */
    int64_t  cooling_until_ns;         /* no starts before this */
    int64_t  reset_at_ns;              /* announced reset after a 429 (0 = none) */
    int64_t  last_recover_ns;
    int64_t  last_decrease_ns;
    int64_t  last_429_ns;
    /* successful replies in the last 8 one-second buckets */
    uint32_t ok[8];
    int64_t  ok_epoch_s;
    int64_t  first_ok_ns;
    /* replies and 429s in the current and the previous second */
    uint32_t win_replies[2], win_429[2];
    int64_t  win_epoch_s;
    uint64_t n429;
} rl_key_t;

void    rl_key_init(rl_key_t *k, double user_rpm, double user_tpm);
/* 1 if another request may be in flight (inflight = those already are). */
int     rl_key_window_open(const rl_key_t *k, uint32_t inflight);
/* ns until this key may start a request (0 = now). */
int64_t rl_key_wait_ns(rl_key_t *k, int64_t now_ns);
void    rl_key_take(rl_key_t *k, int64_t now_ns, uint64_t tokens);
/* A successful reply (feeds the learned rate). */
void    rl_key_success(rl_key_t *k, int64_t now_ns);
/* Feed the limits a response announced. */
void    rl_key_observe(rl_key_t *k, int64_t now_ns, const rl_info_t *info);
/* A rate-limit 429: slow the whole key.  retry_after_ms may be -1; info may
 * be NULL when the response announced nothing. */
void    rl_key_on_429(rl_key_t *k, int64_t now_ns, int64_t retry_after_ms,
                      const rl_info_t *info);
/* The effective request rate now (per minute; 0 = unlimited). */
double  rl_key_rpm(const rl_key_t *k);

#endif
