/*
 * ratelimit: GCRA pacing and per-key adaptive limits (see ratelimit.h).
 * Everything is driven by the monotonic clock passed in; nothing sleeps.
 */
#include <math.h>
#include "ratelimit.h"

#define NS_PER_MIN 60000000000.0
#define NS_PER_S   1000000000LL

void gcra_set_rate(gcra_t *g, double per_min)
{
    g->per_min = per_min > 0 ? per_min : 0;
}

int64_t gcra_wait_ns(const gcra_t *g, int64_t now_ns)
{
    if (g->per_min <= 0 || g->tat_ns <= now_ns)
        return 0;
    return g->tat_ns - now_ns;
}

void gcra_take(gcra_t *g, int64_t now_ns, uint64_t units)
{
    double step;

    if (g->per_min <= 0)
        return;
    step = (double)units * NS_PER_MIN / g->per_min;
    if (step > 3600.0 * NS_PER_S)
        step = 3600.0 * NS_PER_S;
    if (g->tat_ns < now_ns)
        g->tat_ns = now_ns;
    g->tat_ns += (int64_t)ceil(step);
}

void rl_key_init(rl_key_t *k, double user_rpm, double user_tpm)
{
    *k = (rl_key_t){0};
    k->user_rpm = user_rpm;
    k->user_tpm = user_tpm;
    k->factor = 1.0;
}

static double min_pos(double a, double b)
{
    if (a <= 0) return b;
    if (b <= 0) return a;
    return a < b ? a : b;
}

static void rl_key_apply(rl_key_t *k)
{
    double rpm = min_pos(k->user_rpm, k->server_rpm);
    double tpm = min_pos(k->user_tpm, k->server_tpm);
    double f = k->factor;

    if (rpm <= 0 && k->learned_rpm > 0)
        rpm = k->learned_rpm;
    if (k->low_remaining && f > RL_SAFETY)
        f = RL_SAFETY;
    gcra_set_rate(&k->req, rpm > 0 ? rpm * f : 0);
    gcra_set_rate(&k->tok, tpm > 0 ? tpm * f : 0);
}

double rl_key_rpm(const rl_key_t *k)
{
    return k->req.per_min;
}

static void rl_key_recover(rl_key_t *k, int64_t now_ns)
{
    if (k->factor >= 1.0) {
        k->last_recover_ns = now_ns;
        return;
    }
    if (k->reset_at_ns && now_ns >= k->reset_at_ns) {
        k->factor = 1.0;
        k->reset_at_ns = 0;
        k->learned_rpm = 0;     /* full speed again: no guessed ceiling */
    } else if (now_ns - k->last_recover_ns >= NS_PER_S) {
        double secs = (double)(now_ns - k->last_recover_ns) / NS_PER_S;
        k->factor += RL_RECOVER_STEP * secs;
        if (k->factor >= 1.0) {
            k->factor = 1.0;
            k->learned_rpm = 0;
        }
    } else {
        return;
    }
    k->last_recover_ns = now_ns;
    rl_key_apply(k);
}

int64_t rl_key_wait_ns(rl_key_t *k, int64_t now_ns)
{
    int64_t w = 0, t;

    rl_key_recover(k, now_ns);
    if (k->cooling_until_ns > now_ns)
        w = k->cooling_until_ns - now_ns;
    t = gcra_wait_ns(&k->req, now_ns);
    if (t > w) w = t;
    t = gcra_wait_ns(&k->tok, now_ns);
    if (t > w) w = t;
    return w;
}

static void rl_key_count_start(rl_key_t *k, int64_t now_ns)
{
    int64_t sec = now_ns / NS_PER_S;
    int64_t gap = sec - k->starts_epoch_s;

    if (gap >= 10 || gap < 0) {
        for (int i = 0; i < 10; i++)
            k->starts[i] = 0;
    } else {
        for (int64_t s = k->starts_epoch_s + 1; s <= sec; s++)
            k->starts[s % 10] = 0;
    }
    k->starts_epoch_s = sec;
    k->starts[sec % 10]++;
}

void rl_key_take(rl_key_t *k, int64_t now_ns, uint64_t tokens)
{
    gcra_take(&k->req, now_ns, 1);
    gcra_take(&k->tok, now_ns, tokens);
    rl_key_count_start(k, now_ns);
}

void rl_key_observe(rl_key_t *k, int64_t now_ns, const rl_info_t *in)
{
    int low = 0;

    if (in->limit_requests > 0)
        k->server_rpm = (double)in->limit_requests;
    if (in->limit_tokens > 0)
        k->server_tpm = (double)in->limit_tokens;
    /* When the server's bucket is nearly drained, pacing exactly at its
     * refill rate would race it: keep a small margin until it refills. */
    if (in->limit_requests > 0 && in->remaining_requests >= 0 &&
        in->remaining_requests * 20 < in->limit_requests)
        low = 1;
    if (in->limit_tokens > 0 && in->remaining_tokens >= 0 &&
        in->remaining_tokens * 20 < in->limit_tokens)
        low = 1;
    k->low_remaining = low;
    rl_key_apply(k);
}

static double rl_key_recent_rpm(const rl_key_t *k, int64_t now_ns)
{
    int64_t sec = now_ns / NS_PER_S;
    uint64_t n = 0;

    if (sec - k->starts_epoch_s >= 10)
        return 0;
    /* the 9 complete seconds before the current one */
    for (int64_t s = sec - 9; s < sec; s++)
        if (s > k->starts_epoch_s - 10 && s <= k->starts_epoch_s)
            n += k->starts[((s % 10) + 10) % 10];
    return (double)n * 60.0 / 9.0;
}

void rl_key_on_429(rl_key_t *k, int64_t now_ns, int64_t retry_after_ms,
                   const rl_info_t *in)
{
    int64_t reset_ms = retry_after_ms;
    int empty = 0;

    k->n429++;
    if (in) {
        rl_key_observe(k, now_ns, in);
        if (in->remaining_requests == 0 || in->remaining_tokens == 0)
            empty = 1;
        if (reset_ms < 0) {
            if (in->remaining_requests == 0 && in->reset_requests_ms > reset_ms)
                reset_ms = in->reset_requests_ms;
            if (in->remaining_tokens == 0 && in->reset_tokens_ms > reset_ms)
                reset_ms = in->reset_tokens_ms;
        }
    }
    if (reset_ms < 0)
        reset_ms = 1000;
    if (reset_ms > 60000)
        reset_ms = 60000;
    if (empty && now_ns + reset_ms * 1000000LL > k->cooling_until_ns)
        k->cooling_until_ns = now_ns + reset_ms * 1000000LL;
    if (k->reset_at_ns < now_ns + reset_ms * 1000000LL)
        k->reset_at_ns = now_ns + reset_ms * 1000000LL;
    if (k->last_decrease_ns && now_ns - k->last_decrease_ns < RL_DECREASE_GAP_NS)
        return;
    if (k->server_rpm <= 0 && k->user_rpm <= 0 && k->factor >= 1.0) {
        /* no announced limit: what we were doing when it said no is the base */
        double recent = rl_key_recent_rpm(k, now_ns);
        if (recent > 0)
            k->learned_rpm = recent;
    }
    k->factor *= 0.5;
    if (k->factor < RL_MIN_FACTOR)
        k->factor = RL_MIN_FACTOR;
    k->last_decrease_ns = now_ns;
    k->last_recover_ns = now_ns;
    rl_key_apply(k);
}
