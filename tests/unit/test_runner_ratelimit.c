/*
 * test_runner_ratelimit: runner/ratelimit.h driven by a synthetic clock.
 *   - GCRA: in any window of W seconds at most N*W/60 + 1 starts, checked over
 *     simulated runs with random arrival attempts; the pacer still uses
 *     (nearly) the whole rate when attempts are plentiful;
 *   - token weighting: in any window at most T*W/60 + the largest weight;
 *   - AIMD per key: halving on a rate-limit 429 at most once a second,
 *     additive recovery, the floor, full rate once the reset time passed,
 *     cooling only when the server says its bucket is empty;
 *   - the rate learned from recent successes when nothing is announced;
 *   - rl_key_observe: announced limits set the pace, RL_SAFETY of it while
 *     the remaining count is below max(3, 1%), the user's ceiling still wins.
 */
#include "ratelimit.h"
#include "tap.h"
#include <math.h>
#include <stdlib.h>
#include <stdint.h>

#define S  1000000000LL
#define MS 1000000LL

/* deterministic xorshift, so failures reproduce */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}
static int64_t rnd_range(int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static rl_info_t info_none(void)
{
    rl_info_t i;
    i.limit_requests = i.remaining_requests = i.reset_requests_ms = -1;
    i.limit_tokens = i.remaining_tokens = i.reset_tokens_ms = -1;
    return i;
}

static int near(double a, double b, double tol)
{
    return fabs(a - b) <= tol;
}

/* Largest sum of w[] over events whose times lie in a closed window of
 * length win (t sorted ascending). */
static double max_window_sum(const int64_t *t, const double *w, size_t n, int64_t win)
{
    double best = 0, cur = 0;
    size_t lo = 0;
    for (size_t hi = 0; hi < n; hi++) {
        cur += w[hi];
        while (t[hi] - t[lo] > win) {
            cur -= w[lo];
            lo++;
        }
        if (cur > best)
            best = cur;
    }
    return best;
}

/* ---- GCRA request pacing ------------------------------------------------ */

static void test_gcra_basics(void)
{
    gcra_t g = {0};

    gcra_set_rate(&g, 0);
    CHECK_INT(gcra_wait_ns(&g, 5 * S), 0);         /* unlimited */
    gcra_take(&g, 5 * S, 1000);
    CHECK_INT(gcra_wait_ns(&g, 5 * S), 0);

    gcra_set_rate(&g, 600);                        /* one per 100 ms */
    g.tat_ns = 0;
    CHECK_INT(gcra_wait_ns(&g, 10 * S), 0);
    gcra_take(&g, 10 * S, 1);
    CHECK(gcra_wait_ns(&g, 10 * S) >= 99 * MS && gcra_wait_ns(&g, 10 * S) <= 101 * MS);
    CHECK(gcra_wait_ns(&g, 10 * S + 50 * MS) > 0);
    CHECK_INT(gcra_wait_ns(&g, 10 * S + 101 * MS), 0);
    /* no banked credit: idling for a minute does not allow a burst */
    gcra_take(&g, 70 * S, 1);
    CHECK(gcra_wait_ns(&g, 70 * S) > 0);

    gcra_set_rate(&g, -5);                         /* negative = unlimited */
    CHECK(g.per_min == 0);
    CHECK_INT(gcra_wait_ns(&g, 70 * S), 0);
}

/* Random attempts at random times for `dur` seconds; returns starts. */
static size_t simulate_gcra(double rpm, int64_t dur, int64_t mean_gap_ns,
                            int64_t *t, size_t cap)
{
    gcra_t g = {0};
    int64_t now = 1 * S;         /* arbitrary epoch */
    size_t n = 0;

    gcra_set_rate(&g, rpm);
    while (now < 1 * S + dur && n < cap) {
        if (gcra_wait_ns(&g, now) == 0) {
            gcra_take(&g, now, 1);
            t[n++] = now;
        }
        now += rnd_range(1, 2 * mean_gap_ns);
    }
    return n;
}

static void test_gcra_window_property(void)
{
    static int64_t t[200000];
    static double ones[200000];
    const double rates[] = { 60, 97, 600, 1000, 3500, 10000 };
    const int64_t wins[] = { 1 * S / 10, 1 * S, 2 * S, 5 * S, 10 * S, 30 * S, 60 * S };
    int ok_windows = 1, ok_use = 1;

    for (size_t i = 0; i < sizeof(ones) / sizeof(ones[0]); i++)
        ones[i] = 1.0;
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        /* attempts on average 10x as often as the rate allows, jittered */
        int64_t gap = (int64_t)(60.0 * S / rates[r] / 10.0);
        int64_t dur = 120 * S;
        size_t n = simulate_gcra(rates[r], dur, gap, t, 200000);
        double expect = rates[r] * 2.0;                /* 120 s */

        for (size_t w = 0; w < sizeof(wins) / sizeof(wins[0]); w++) {
            double lim = rates[r] * (double)wins[w] / (double)S / 60.0 + 1.0;
            double got = max_window_sum(t, ones, n, wins[w]);
            if (got > lim) {
                ok_windows = 0;
                fprintf(stderr, "rate %.0f window %.1fs: %.0f starts > %.2f\n",
                        rates[r], (double)wins[w] / S, got, lim);
            }
        }
        /* paced, not starved: at least 90% of the allowed starts happen */
        if ((double)n < 0.90 * expect || (double)n > expect + 1) {
            ok_use = 0;
            fprintf(stderr, "rate %.0f: %zu starts in 120 s (allowed %.0f)\n",
                    rates[r], n, expect);
        }
    }
    CHECK(ok_windows);
    CHECK(ok_use);

    /* bursty arrivals: long idle gaps then floods; the property still holds */
    {
        gcra_t g = {0};
        int64_t now = 0;
        size_t n = 0;
        int ok = 1;
        gcra_set_rate(&g, 300);
        while (now < 300 * S && n < 200000) {
            int flood = (int)rnd_range(0, 50);
            for (int i = 0; i < flood; i++) {
                if (gcra_wait_ns(&g, now) == 0) {
                    gcra_take(&g, now, 1);
                    t[n++] = now;
                }
                now += rnd_range(0, 5 * MS);
            }
            now += rnd_range(0, 3 * S);
        }
        for (size_t w = 0; w < sizeof(wins) / sizeof(wins[0]); w++)
            if (max_window_sum(t, ones, n, wins[w]) > 300.0 * wins[w] / S / 60.0 + 1.0)
                ok = 0;
        CHECK(ok);
        CHECK(n > 10);
    }
}

/* ---- token weighting ---------------------------------------------------- */

static void test_gcra_tokens(void)
{
    static int64_t t[100000];
    static double w[100000];
    const int64_t wins[] = { 1 * S, 5 * S, 10 * S, 60 * S };
    gcra_t g = {0};
    int64_t now = 0;
    size_t n = 0;
    double tpm = 30000, maxw = 0, total = 0;
    int ok = 1;

    gcra_set_rate(&g, tpm);
    while (now < 180 * S && n < 100000) {
        uint64_t weight = (uint64_t)rnd_range(1, 2000);
        if (gcra_wait_ns(&g, now) == 0) {
            gcra_take(&g, now, weight);
            t[n] = now;
            w[n] = (double)weight;
            if (w[n] > maxw)
                maxw = w[n];
            total += w[n];
            n++;
        }
        now += rnd_range(1, 20 * MS);
    }
    for (size_t i = 0; i < sizeof(wins) / sizeof(wins[0]); i++) {
        double lim = tpm * (double)wins[i] / S / 60.0 + maxw;
        double got = max_window_sum(t, w, n, wins[i]);
        if (got > lim) {
            ok = 0;
            fprintf(stderr, "tpm window %.0fs: %.0f tokens > %.0f\n",
                    (double)wins[i] / S, got, lim);
        }
    }
    CHECK(ok);
    /* close to the whole allowance over 180 s */
    CHECK(total >= 0.9 * tpm * 3 && total <= tpm * 3 + maxw);

    /* a heavy request delays the next start in proportion to its weight */
    {
        gcra_t h = {0};
        gcra_set_rate(&h, 6000);                 /* 100 tokens per second */
        gcra_take(&h, 0, 500);
        CHECK(gcra_wait_ns(&h, 0) >= 5 * S - MS && gcra_wait_ns(&h, 0) <= 5 * S + MS);
        gcra_take(&h, 5 * S, 1);
        CHECK(gcra_wait_ns(&h, 5 * S) <= 11 * MS);
    }
}

/* ---- per key: takes, AIMD ----------------------------------------------- */

static void test_key_basics(void)
{
    rl_key_t k;

    rl_key_init(&k, 0, 0);
    CHECK(rl_key_rpm(&k) == 0);
    CHECK_INT(rl_key_wait_ns(&k, 1 * S), 0);
    rl_key_take(&k, 1 * S, 100);
    CHECK_INT(rl_key_wait_ns(&k, 1 * S), 0);       /* unlimited */

    rl_key_init(&k, 600, 0);
    CHECK(near(rl_key_rpm(&k), 0, 1e-9) || near(rl_key_rpm(&k), 600, 1e-9));
    /* the user's ceiling applies from the first start, before any reply */
    rl_key_wait_ns(&k, 1 * S);
    rl_key_take(&k, 1 * S, 10);
    CHECK(rl_key_wait_ns(&k, 1 * S) > 90 * MS);
    CHECK(rl_key_wait_ns(&k, 1 * S) <= 101 * MS);

    rl_key_init(&k, 0, 6000);                       /* 100 tokens / s */
    rl_key_wait_ns(&k, 1 * S);
    rl_key_take(&k, 1 * S, 200);
    CHECK(rl_key_wait_ns(&k, 1 * S) >= 2 * S - MS);
    CHECK(rl_key_wait_ns(&k, 1 * S) <= 2 * S + MS);
}

static void test_aimd(void)
{
    rl_key_t k;
    rl_info_t none = info_none();
    double r1, r2, r3;

    rl_key_init(&k, 600, 0);
    rl_key_wait_ns(&k, 10 * S);
    CHECK(near(rl_key_rpm(&k), 600, 1e-6));

    /* first 429: halve */
    rl_key_on_429(&k, 10 * S, 20000, NULL);
    CHECK(near(rl_key_rpm(&k), 300, 1e-6));
    CHECK_INT(k.n429, 1);
    /* more 429s in the same second (a burst from one moment): counted once */
    rl_key_on_429(&k, 10 * S + 200 * MS, 20000, NULL);
    rl_key_on_429(&k, 10 * S + 900 * MS, 20000, &none);
    CHECK(near(rl_key_rpm(&k), 300, 1e-6));
    CHECK_INT(k.n429, 3);
    /* no pause of the whole key: remaining was not 0 */
    CHECK(k.cooling_until_ns <= 10 * S + 900 * MS);
    /* a second later: halve again */
    rl_key_on_429(&k, 11 * S + 10 * MS, 20000, NULL);
    CHECK(near(rl_key_rpm(&k), 150, 1e-6));

    /* additive recovery: about +10% of the base per second */
    rl_key_wait_ns(&k, 12 * S + 10 * MS);
    r1 = rl_key_rpm(&k);
    rl_key_wait_ns(&k, 13 * S + 10 * MS);
    r2 = rl_key_rpm(&k);
    rl_key_wait_ns(&k, 15 * S + 10 * MS);
    r3 = rl_key_rpm(&k);
    CHECK(near(r1, 150 + 600 * RL_RECOVER_STEP, 1.0));
    CHECK(near(r2, 150 + 2 * 600 * RL_RECOVER_STEP, 1.0));
    CHECK(near(r3, 150 + 4 * 600 * RL_RECOVER_STEP, 1.0));
    /* polling more often than once a second does not recover faster */
    for (int i = 0; i < 100; i++)
        rl_key_wait_ns(&k, 15 * S + 10 * MS + i * 5 * MS);
    CHECK(rl_key_rpm(&k) <= r3 + 600 * RL_RECOVER_STEP * 0.5 + 1.0);
    /* never above the base, full rate eventually */
    rl_key_wait_ns(&k, 25 * S);
    CHECK(rl_key_rpm(&k) <= 600 + 1e-6);
    rl_key_wait_ns(&k, 40 * S);
    CHECK(near(rl_key_rpm(&k), 600, 1e-6));

    /* the floor: repeated 429s a second apart never stop the key */
    rl_key_init(&k, 600, 0);
    for (int i = 0; i < 20; i++)
        rl_key_on_429(&k, (100 + i) * S + i * MS, 60000, NULL);
    CHECK(rl_key_rpm(&k) >= 600 * RL_MIN_FACTOR - 1e-6);
    CHECK(rl_key_rpm(&k) <= 600 * RL_MIN_FACTOR + 1e-6);
    CHECK(rl_key_rpm(&k) > 0);
}

static void test_full_rate_after_reset(void)
{
    rl_key_t k;

    /* retry-after 3 s: at t+1.5 s recovering, at t+3 s full again */
    rl_key_init(&k, 1200, 0);
    rl_key_on_429(&k, 50 * S, 3000, NULL);
    CHECK(near(rl_key_rpm(&k), 600, 1e-6));
    rl_key_wait_ns(&k, 51 * S + 500 * MS);
    CHECK(rl_key_rpm(&k) > 600 && rl_key_rpm(&k) < 1200);
    rl_key_wait_ns(&k, 53 * S + 1 * MS);
    CHECK(near(rl_key_rpm(&k), 1200, 1e-6));

    /* no retry-after: the announced reset of the empty bucket is used */
    {
        rl_info_t in = info_none();
        in.limit_requests = 1200;
        in.remaining_requests = 0;
        in.reset_requests_ms = 2500;
        rl_key_init(&k, 0, 0);
        rl_key_on_429(&k, 80 * S, -1, &in);
        CHECK(near(rl_key_rpm(&k), 600, 1e-6));       /* half of the announced */
        /* remaining 0: the whole key pauses until the reset */
        CHECK(k.cooling_until_ns >= 82 * S + 500 * MS - MS);
        CHECK(rl_key_wait_ns(&k, 81 * S) >= 1 * S + 400 * MS);
        CHECK(rl_key_wait_ns(&k, 82 * S) > 0);
        CHECK_INT(rl_key_wait_ns(&k, 82 * S + 600 * MS), 0);
        CHECK(near(rl_key_rpm(&k), 1200 * RL_SAFETY, 1e-6) ||
              near(rl_key_rpm(&k), 1200, 1e-6));
        /* the next reply says the bucket refilled: full announced rate */
        in.remaining_requests = 1100;
        rl_key_observe(&k, 82 * S + 700 * MS, &in);
        CHECK(near(rl_key_rpm(&k), 1200, 1e-6));
    }

    /* retry-after alone (no limit headers) never pauses the whole key */
    rl_key_init(&k, 600, 0);
    rl_key_on_429(&k, 5 * S, 5000, NULL);
    CHECK(k.cooling_until_ns <= 5 * S);
    CHECK(rl_key_wait_ns(&k, 5 * S + 250 * MS) == 0);
}

/* ---- learned rate -------------------------------------------------------- */

/* Rate pressure: enough 429s at `at` to be RL_PRESSURE of the key's recent
 * replies, as a server over its limit answers. */
static void storm(rl_key_t *k, int64_t at, int64_t retry_after_ms, const rl_info_t *in)
{
    for (int i = 0; i < 40; i++)
        rl_key_on_429(k, at, retry_after_ms, in);
}

static void test_learned_rate(void)
{
    rl_key_t k;
    int64_t now;

    /* 20 successful replies per second for 12 s, nothing announced, then a
     * 429: the pace becomes what got through */
    rl_key_init(&k, 0, 0);
    for (now = 100 * S; now < 112 * S; now += 50 * MS) {
        CHECK(rl_key_wait_ns(&k, now) == 0);
        rl_key_take(&k, now, 50);
        rl_key_success(&k, now);
    }
    storm(&k, now, 1000, NULL);
    CHECK(rl_key_rpm(&k) > 0);
    CHECK(near(rl_key_rpm(&k), 1200, 120));
    /* and it is paced at that rate now */
    rl_key_take(&k, now, 50);
    CHECK(rl_key_wait_ns(&k, now) >= 40 * MS);
    /* a second 429 in the same second does not halve again; one later does */
    storm(&k, now + 100 * MS, 1000, NULL);
    CHECK(near(rl_key_rpm(&k), 1200, 120));
    storm(&k, now + 1100 * MS, 1000, NULL);
    CHECK(near(rl_key_rpm(&k), 600, 60));
    /* additive recovery: a twentieth of the first learned rate per second */
    rl_key_wait_ns(&k, now + 3100 * MS);
    CHECK(near(rl_key_rpm(&k), 600 + 2 * 60, 15));
    /* the reset of the 429 passed, but nothing announced a limit: the key
     * stays paced until a minute without 429s has passed */
    rl_key_wait_ns(&k, now + 10 * S);
    CHECK(rl_key_rpm(&k) > 0);
    rl_key_wait_ns(&k, now + 62 * S);
    CHECK(rl_key_rpm(&k) == 0);

    /* a 429 in the key's first second (a fresh run bursting into a server
     * that announces nothing) must still slow the key */
    rl_key_init(&k, 0, 0);
    for (now = 7 * S; now < 7 * S + 500 * MS; now += 5 * MS) {
        rl_key_take(&k, now, 50);
        if ((now / MS) % 50 == 0)
            rl_key_success(&k, now);          /* 10 got through */
    }
    storm(&k, now, 2000, NULL);
    CHECK(rl_key_rpm(&k) > 0);
    CHECK(rl_key_rpm(&k) <= 600 + 1);         /* 10 in (at least) one second */
    rl_key_take(&k, now, 50);
    CHECK(rl_key_wait_ns(&k, now) > 0);

    /* a sub-second retry-after (a token bucket's exact refill) caps it */
    rl_key_init(&k, 0, 0);
    for (now = 100 * S; now < 112 * S; now += 50 * MS) {
        rl_key_take(&k, now, 50);
        rl_key_success(&k, now);
    }
    storm(&k, now, 200, NULL);
    CHECK(near(rl_key_rpm(&k), 300, 1e-6));
    /* and it recovers by a twentieth of the rate it learned */
    rl_key_wait_ns(&k, now + 2 * S);
    CHECK(near(rl_key_rpm(&k), 300 + 2 * 15, 4));

    /* nothing got through yet: a sub-second retry-after is all we know */
    rl_key_init(&k, 0, 0);
    storm(&k, 3 * S, 200, NULL);
    CHECK(near(rl_key_rpm(&k), 300, 1e-9));
    /* and without it there is nothing to learn: only the jobs wait */
    rl_key_init(&k, 0, 0);
    storm(&k, 3 * S, 2000, NULL);
    CHECK(rl_key_rpm(&k) == 0);

    /* a stray 429 among many successes does not slow the key */
    rl_key_init(&k, 0, 0);
    for (now = 100 * S; now < 112 * S; now += 10 * MS) {
        rl_key_take(&k, now, 50);
        rl_key_success(&k, now);
        if ((now / MS) % 1000 == 0)
            rl_key_on_429(&k, now, 150, NULL);   /* one in a hundred */
    }
    CHECK(rl_key_rpm(&k) == 0);
    CHECK(rl_key_wait_ns(&k, now) == 0);

    /* a few seconds of 100/s: the rate is measured over the time the key
     * has existed, not diluted over the whole window */
    rl_key_init(&k, 0, 0);
    for (now = 30 * S; now < 33 * S; now += 10 * MS) {
        rl_key_take(&k, now, 50);
        rl_key_success(&k, now);
    }
    storm(&k, now, 1000, NULL);
    CHECK(rl_key_rpm(&k) >= 6000 * 0.8);
    CHECK(rl_key_rpm(&k) <= 6000 * 1.2);

    /* a user ceiling is the base; nothing is learned on top of it */
    rl_key_init(&k, 300, 0);
    for (now = 100 * S; now < 112 * S; now += 50 * MS) {
        rl_key_take(&k, now, 50);
        rl_key_success(&k, now);
    }
    storm(&k, now, 1000, NULL);
    CHECK(near(rl_key_rpm(&k), 150, 1e-6));
    CHECK(k.learned_rpm == 0);
}

/* ---- announced limits ---------------------------------------------------- */

static void test_observe(void)
{
    rl_key_t k;
    rl_info_t in = info_none();

    rl_key_init(&k, 0, 0);
    rl_key_observe(&k, 1 * S, &in);                 /* nothing announced */
    CHECK(rl_key_rpm(&k) == 0);

    in.limit_requests = 600;
    in.remaining_requests = 400;
    in.reset_requests_ms = 20000;
    rl_key_observe(&k, 1 * S, &in);
    CHECK(near(rl_key_rpm(&k), 600, 1e-6));
    CHECK(!k.low_remaining);

    /* fewer than max(3, 1%) remaining: RL_SAFETY of the announced limit */
    in.remaining_requests = 5;                      /* 0.8% */
    rl_key_observe(&k, 2 * S, &in);
    CHECK(k.low_remaining);
    CHECK(near(rl_key_rpm(&k), 600 * RL_SAFETY, 1e-6));
    CHECK(RL_SAFETY > 0.95 && RL_SAFETY < 1.0);
    /* exactly 1% is not low */
    in.remaining_requests = 6;
    rl_key_observe(&k, 3 * S, &in);
    CHECK(near(rl_key_rpm(&k), 600, 1e-6));
    /* refilled: full announced rate again */
    in.remaining_requests = 580;
    rl_key_observe(&k, 4 * S, &in);
    CHECK(near(rl_key_rpm(&k), 600, 1e-6));

    /* tokens: announced tpm paces the token GCRA, low tokens -> 0.97 */
    in.limit_tokens = 100000;
    in.remaining_tokens = 90000;
    rl_key_observe(&k, 5 * S, &in);
    CHECK(near(k.tok.per_min, 100000, 1e-6));
    in.remaining_tokens = 900;
    rl_key_observe(&k, 6 * S, &in);
    CHECK(near(k.tok.per_min, 100000 * RL_SAFETY, 1e-6));
    CHECK(near(rl_key_rpm(&k), 600 * RL_SAFETY, 1e-6));
    /* a reply announcing nothing keeps what we knew */
    {
        rl_info_t none = info_none();
        rl_key_observe(&k, 7 * S, &none);
        CHECK(k.server_rpm == 600 && k.server_tpm == 100000);
    }

    /* the user's ceiling wins when it is lower than the server's */
    rl_key_init(&k, 100, 5000);
    in = info_none();
    in.limit_requests = 600;
    in.remaining_requests = 500;
    in.limit_tokens = 100000;
    in.remaining_tokens = 90000;
    rl_key_observe(&k, 1 * S, &in);
    CHECK(near(rl_key_rpm(&k), 100, 1e-6));
    CHECK(near(k.tok.per_min, 5000, 1e-6));
    /* and the server's when it is lower than the user's */
    rl_key_init(&k, 6000, 0);
    rl_key_observe(&k, 1 * S, &in);
    CHECK(near(rl_key_rpm(&k), 600, 1e-6));

    /* AIMD applies on top of the announced limit */
    rl_key_init(&k, 0, 0);
    in = info_none();
    in.limit_requests = 1000;
    in.remaining_requests = 500;
    rl_key_observe(&k, 1 * S, &in);
    rl_key_on_429(&k, 1 * S, 2000, &in);
    CHECK(near(rl_key_rpm(&k), 500, 1e-6));
    CHECK(k.cooling_until_ns <= 1 * S);             /* remaining 500: no pause */
    /* an announced limit after the 429 keeps the reduced factor */
    rl_key_observe(&k, 1 * S + 100 * MS, &in);
    CHECK(near(rl_key_rpm(&k), 500, 1e-6));
    /* reset passed: full announced rate */
    rl_key_wait_ns(&k, 3 * S + 10 * MS);
    CHECK(near(rl_key_rpm(&k), 1000, 1e-6));
}

/* A simulated key against a simulated server bucket that starts empty:
 * the key paced at the announced limit gets (almost) no 429s and keeps
 * up with the refill. */
static void test_against_bucket(void)
{
    rl_key_t k;
    double cap = 600, level = 0, rate = cap / 60.0 / (double)S;
    int64_t now = 0, last = 0;
    int started = 0, limited = 0;
    rl_info_t in = info_none();

    rl_key_init(&k, 0, 0);
    in.limit_requests = (int64_t)cap;
    in.remaining_requests = 0;
    in.reset_requests_ms = 60000;
    rl_key_observe(&k, 0, &in);
    while (now < 120 * S) {
        level += (double)(now - last) * rate;
        if (level > cap)
            level = cap;
        last = now;
        if (rl_key_wait_ns(&k, now) == 0) {
            rl_key_take(&k, now, 1);
            if (level >= 1) {
                level -= 1;
                started++;
                in.remaining_requests = (int64_t)level;
                in.reset_requests_ms = (int64_t)((cap - level) / rate / MS);
                rl_key_observe(&k, now, &in);
            } else {
                limited++;
                in.remaining_requests = 0;
                rl_key_on_429(&k, now, (int64_t)((1 - level) / rate / MS) + 1, &in);
            }
        }
        now += rnd_range(1 * MS, 20 * MS);
    }
    /* 120 s at 10/s: about 1200 allowed */
    CHECK(started >= 0.90 * 1200);
    CHECK(limited <= started / 100 + 2);
}

int main(void)
{
    test_gcra_basics();
    test_gcra_window_property();
    test_gcra_tokens();
    test_key_basics();
    test_aimd();
    test_full_rate_after_reset();
    test_learned_rate();
    test_observe();
    test_against_bucket();
    return tap_done();
}
