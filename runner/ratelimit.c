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
    if (g->per_min <= 0 || g->tat_ns - g->tol_ns <= now_ns)
        return 0;
    return g->tat_ns - g->tol_ns - now_ns;
}

void gcra_take(gcra_t *g, int64_t now_ns, uint64_t units)
{
    double step;

    if (g->per_min <= 0)
        return;
    step = (double)units * NS_PER_MIN / g->per_min;
    if (step > 3600.0 * NS_PER_S)
        step = 3600.0 * NS_PER_S;
    if (g->tat_ns < now_ns - g->tol_ns)
        g->tat_ns = now_ns - g->tol_ns;
    g->tat_ns += (int64_t)ceil(step);
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

    if (k->low_remaining && f > RL_SAFETY)
        f = RL_SAFETY;
    if (rpm > 0)
        rpm *= f;
    else if (k->learned_rpm > 0)
        rpm = k->learned_rpm;
    if (tpm > 0)
        tpm *= f;
    gcra_set_rate(&k->req, rpm);
    gcra_set_rate(&k->tok, tpm);
    /* catching up on late wake-ups is fine against a server's bucket with
     * room in it, never against the user's own ceiling; with the bucket
     * nearly empty, only one request interval may be made up (else every
     * late wake-up would be lost for good) */
    k->req.tol_ns = k->tok.tol_ns = 0;
    if ((k->server_rpm > 0 || k->server_tpm > 0) && k->user_rpm <= 0 && k->user_tpm <= 0) {
        if (!k->low_remaining && k->factor >= 1.0)
            k->req.tol_ns = k->tok.tol_ns = RL_CATCHUP_NS;
        else if (rpm > 0)
            k->req.tol_ns = (int64_t)(60e9 / rpm);
    }
}

void rl_key_init(rl_key_t *k, double user_rpm, double user_tpm)
{
    *k = (rl_key_t){0};
    k->window = RL_INITIAL_WINDOW;
    k->user_rpm = user_rpm;
    k->user_tpm = user_tpm;
    k->factor = 1.0;
    rl_key_apply(k);
}

int rl_key_window_open(const rl_key_t *k, uint32_t inflight)
{
    return k->window == 0 || inflight < k->window;
}

double rl_key_rpm(const rl_key_t *k)
{
    return k->req.per_min;
}

static void rl_key_recover(rl_key_t *k, int64_t now_ns)
{
    double secs;

    if (k->reset_at_ns && now_ns >= k->reset_at_ns) {
        k->reset_at_ns = 0;
        if (k->factor < 1.0) {
            k->factor = 1.0;            /* the announced reset has passed */
            rl_key_apply(k);
        }
    }
    if (now_ns - k->last_recover_ns < NS_PER_S)
        return;
    secs = (double)(now_ns - k->last_recover_ns) / NS_PER_S;
    k->last_recover_ns = now_ns;
    if (k->learned_rpm > 0) {
        if (k->last_429_ns && now_ns - k->last_429_ns >= RL_FORGET_NS) {
            k->learned_rpm = 0;              /* quiet for a minute: unlimited */
        } else {
            k->learned_rpm += k->learned_step * secs;
        }
    }
    if (k->factor < 1.0) {
        k->factor += RL_RECOVER_STEP * secs;
        if (k->factor > 1.0)
            k->factor = 1.0;
    }
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

void rl_key_take(rl_key_t *k, int64_t now_ns, uint64_t tokens)
{
    gcra_take(&k->req, now_ns, 1);
    gcra_take(&k->tok, now_ns, tokens);
}

/* Counts a reply (and whether it was a 429) in the two-second window. */
static void rl_key_window(rl_key_t *k, int64_t now_ns, int is429)
{
    int64_t sec = now_ns / NS_PER_S;

    if (sec != k->win_epoch_s) {
        if (sec == k->win_epoch_s + 1) {
            k->win_replies[1] = k->win_replies[0];
            k->win_429[1] = k->win_429[0];
        } else {
            k->win_replies[1] = k->win_429[1] = 0;
        }
        k->win_replies[0] = k->win_429[0] = 0;
        k->win_epoch_s = sec;
    }
    k->win_replies[0]++;
    if (is429)
        k->win_429[0]++;
}

static int rl_key_pressure(const rl_key_t *k)
{
    uint32_t n = k->win_replies[0] + k->win_replies[1];
    uint32_t r = k->win_429[0] + k->win_429[1];
    return r >= RL_PRESSURE_MIN && (double)r >= RL_PRESSURE * (double)n;
}

void rl_key_success(rl_key_t *k, int64_t now_ns)
{
    int64_t sec = now_ns / NS_PER_S;

    rl_key_window(k, now_ns, 0);
    if (!k->announced && k->window && k->window < UINT32_MAX / 2)
        k->window++;                         /* slow start: +1 per success */
    if (!k->first_ok_ns)
        k->first_ok_ns = now_ns;
    if (sec - k->ok_epoch_s >= 8 || sec < k->ok_epoch_s) {
        for (int i = 0; i < 8; i++)
            k->ok[i] = 0;
    } else {
        for (int64_t s = k->ok_epoch_s + 1; s <= sec; s++)
            k->ok[s % 8] = 0;
    }
    k->ok_epoch_s = sec;
    k->ok[sec % 8]++;
}

/* Successful replies per minute over the last few seconds (at most 8, at
 * least the time since the first success, at least 1 s). */
static double rl_key_ok_rpm(const rl_key_t *k, int64_t now_ns)
{
    int64_t sec = now_ns / NS_PER_S, span_ns;
    uint64_t n = 0;

    if (!k->first_ok_ns || sec - k->ok_epoch_s >= 8)
        return 0;
    for (int64_t s = sec - 7; s <= sec; s++)
        if (s >= 0 && s <= k->ok_epoch_s && s > k->ok_epoch_s - 8)
            n += k->ok[s % 8];
    span_ns = now_ns - (sec - 7) * NS_PER_S;
    if (now_ns - k->first_ok_ns < span_ns)
        span_ns = now_ns - k->first_ok_ns;
    if (span_ns < NS_PER_S)
        span_ns = NS_PER_S;
    return (double)n * 60.0 * NS_PER_S / (double)span_ns;
}

void rl_key_observe(rl_key_t *k, int64_t now_ns, const rl_info_t *in)
{
    int low = 0;

    (void)now_ns;
    if (in->limit_requests > 0)
        k->server_rpm = (double)in->limit_requests;
    if (in->limit_tokens > 0)
        k->server_tpm = (double)in->limit_tokens;
    if (in->limit_requests > 0 && in->remaining_requests >= 0 &&
        (in->remaining_requests < 3 || in->remaining_requests * 100 < in->limit_requests))
        low = 1;
    if (in->limit_tokens > 0 && in->remaining_tokens >= 0 &&
        in->remaining_tokens * 100 < in->limit_tokens)
        low = 1;
    k->low_remaining = low;
    if (k->server_rpm > 0 || k->server_tpm > 0) {
        k->learned_rpm = 0;                  /* announced limits win */
        k->announced = 1;
        k->window = 0;                       /* ... and pace the key */
    }
    rl_key_apply(k);
}

void rl_key_on_429(rl_key_t *k, int64_t now_ns, int64_t retry_after_ms,
                   const rl_info_t *in)
{
    int64_t reset_ms = retry_after_ms;
    int empty = 0, decrease;

    k->n429++;
    rl_key_window(k, now_ns, 1);
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
    decrease = !k->last_decrease_ns || now_ns - k->last_decrease_ns >= RL_DECREASE_GAP_NS;
    if (k->user_rpm > 0 || k->server_rpm > 0) {
        /* a known limit: the factor on it takes the decrease */
        k->last_429_ns = now_ns;
        if (decrease) {
            k->factor *= 0.5;
            if (k->factor < RL_MIN_FACTOR)
                k->factor = RL_MIN_FACTOR;
        }
    } else if (!rl_key_pressure(k)) {
        decrease = 0;              /* a stray 429 among successes: only its job waits */
    } else {
        if (k->window > RL_INITIAL_WINDOW * 2)
            k->window /= 2;        /* slow start's multiplicative decrease */
        /* nothing announced: learn a rate from what got through */
        int hint = retry_after_ms > 0 && retry_after_ms < 1000;

        k->last_429_ns = now_ns;
        if (k->learned_rpm <= 0) {
            double ok = rl_key_ok_rpm(k, now_ns);

            decrease = 0;
            if (ok > 0 || hint) {
                k->learned_rpm = ok > 0 ? ok : 60000.0 / (double)retry_after_ms;
                /* a sub-second retry-after is a token bucket telling exactly
                 * when its next token comes: that is its refill rate */
                if (hint && 60000.0 / (double)retry_after_ms < k->learned_rpm)
                    k->learned_rpm = 60000.0 / (double)retry_after_ms;
                if (k->learned_rpm < RL_MIN_LEARNED)
                    k->learned_rpm = RL_MIN_LEARNED;
                k->learned_step = k->learned_rpm / 20.0;
                k->last_decrease_ns = now_ns;
                k->last_recover_ns = now_ns;
            }
        } else if (decrease) {
            k->learned_rpm *= 0.5;
            if (k->learned_rpm < RL_MIN_LEARNED)
                k->learned_rpm = RL_MIN_LEARNED;
        }
    }
    if (decrease) {
        k->last_decrease_ns = now_ns;
        k->last_recover_ns = now_ns;
    }
    rl_key_apply(k);
}
