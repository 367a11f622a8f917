/*
 * ratelimit: pacing of request starts and tokens (GCRA, "virtual
 * scheduling"), and the adaptive state of one key's limits.
 *
 * A gcra_t with rate N per minute lets a unit start when now >= tat (the
 * theoretical arrival time), then moves tat by units * 60s/N.  There is no
 * burst tolerance, so in any window of W seconds at most N*W/60 + 1 requests
 * start (for tokens: N*W/60 + the largest single weight).
 *
 * rl_key_t combines, for one API key, the user's ceilings (keys file) with
 * what the server announces (x-ratelimit-*, anthropic-ratelimit-*) and an
 * AIMD factor: a rate-limit 429 halves the factor (multiplicative decrease,
 * at most once a second, so a burst of 429s from one moment counts once),
 * every second adds RL_RECOVER_STEP (additive increase), and once the reset
 * time the 429 announced (retry-after, else the limit's reset header, else
 * 1 s) has passed, the factor is 1 again.  When the server announces no
 * limit, the rate at the first 429 becomes the base the factor applies to.
 * The whole key pauses (cooling) only when the server says its bucket is
 * empty (remaining 0); otherwise only the job waits its retry-after.
 */
#ifndef LLMB_RATELIMIT_H
#define LLMB_RATELIMIT_H
#include <stdint.h>
#include "ratelimit_hdr.h"

typedef struct gcra {
    int64_t tat_ns;       /* theoretical arrival time (monotonic ns) */
    double  per_min;      /* units per minute; 0 = unlimited */
} gcra_t;

void    gcra_set_rate(gcra_t *g, double per_min);
/* ns to wait before `units` may start (0 = now). */
int64_t gcra_wait_ns(const gcra_t *g, int64_t now_ns);
void    gcra_take(gcra_t *g, int64_t now_ns, uint64_t units);

#define RL_MIN_FACTOR   0.05
#define RL_RECOVER_STEP 0.10      /* per second */
#define RL_DECREASE_GAP_NS 1000000000LL  /* at most one halving per second */
#define RL_SAFETY       0.97      /* pace at this share of an announced limit
                                     when its remaining count runs low */

typedef struct rl_key {
    gcra_t   req, tok;
    double   user_rpm, user_tpm;       /* keys file; 0 = none */
    double   server_rpm, server_tpm;   /* announced; 0 = unknown */
    double   learned_rpm;              /* from a 429 without announced limits */
    double   factor;                   /* AIMD, in [RL_MIN_FACTOR, 1] */
    int      low_remaining;            /* the server's bucket is nearly empty */
    int64_t  cooling_until_ns;         /* no starts before this */
    int64_t  reset_at_ns;              /* announced full reset (0 = none) */
    int64_t  last_recover_ns;
    int64_t  last_decrease_ns;
    /* starts in the last 10 one-second buckets, to learn a rate when the
     * server gives none */
    uint32_t starts[10];
    int64_t  starts_epoch_s;
    uint64_t n429;
} rl_key_t;

void    rl_key_init(rl_key_t *k, double user_rpm, double user_tpm);
/* ns until this key may start a request of `tokens` (0 = now). */
int64_t rl_key_wait_ns(rl_key_t *k, int64_t now_ns);
void    rl_key_take(rl_key_t *k, int64_t now_ns, uint64_t tokens);
/* Feed the limits a response announced. */
void    rl_key_observe(rl_key_t *k, int64_t now_ns, const rl_info_t *info);
/* A rate-limit 429: slow the whole key.  retry_after_ms may be -1. */
void    rl_key_on_429(rl_key_t *k, int64_t now_ns, int64_t retry_after_ms,
                      const rl_info_t *info);
/* The effective request rate now (per minute; 0 = unlimited). */
double  rl_key_rpm(const rl_key_t *k);

#endif
