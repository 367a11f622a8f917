/* Unit tests for runner/budget: the cap invariant under random sequences of
 * reserve / settle / commit, and the durable high-water mark. */
#include <stdlib.h>
#include "tap.h"
#include "budget.h"

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}

static void test_basic(void)
{
    budget_t b;
    budget_init(&b, 1, 1000);
    CHECK(budget_fits(&b, 1000));
    CHECK(!budget_fits(&b, 1001));
    budget_reserve(&b, 600);
    CHECK(!budget_fits(&b, 500));
    CHECK(budget_could_fit(&b, 500));       /* after settlement it may fit */
    budget_settle(&b, 600, 100, SETTLE_REAL);
    CHECK_INT(budget_spent(&b), 100);
    CHECK_INT(b.reserved, 0);
    CHECK(budget_fits(&b, 900));
    CHECK(!budget_fits(&b, 901));
    budget_reserve(&b, 900);
    budget_settle(&b, 900, 0, SETTLE_POSSIBLY_BILLED);
    CHECK_INT(budget_spent(&b), 1000);
    CHECK_INT(b.possibly_billed, 900);
    CHECK(!budget_could_fit(&b, 1));

    budget_init(&b, 0, 0);                  /* no cap */
    CHECK(budget_fits(&b, MONEY_MAX / 2));
    budget_reserve(&b, 10);
    budget_settle(&b, 10, 0, SETTLE_RELEASE);
    CHECK_INT(budget_spent(&b), 0);
    budget_reserve(&b, 10);
    budget_settle(&b, 10, 7, SETTLE_ESTIMATED);
    CHECK_INT(budget_spent(&b), 10);        /* charged its reservation */
    CHECK_INT(b.estimated, 10);
}

static void test_hwm(void)
{
    budget_t b;
    money_t h;

    budget_init(&b, 1, 10000);
    CHECK(budget_needs_durable(&b, 1));     /* nothing committed yet */
    h = budget_next_hwm(&b, 500);
    CHECK_INT(h, 500);
    budget_committed(&b, h);
    CHECK(!budget_needs_durable(&b, 500));
    CHECK(budget_needs_durable(&b, 501));
    budget_reserve(&b, 300);
    CHECK(budget_needs_durable(&b, 201));
    budget_settle(&b, 300, 250, SETTLE_REAL);
    /* settled-since-commit still counts against the durable bound */
    CHECK(budget_needs_durable(&b, 251));
    CHECK(!budget_needs_durable(&b, 250));
    /* the bound never reaches past the cap */
    h = budget_next_hwm(&b, 1000000);
    CHECK_INT(h, 10000 - 250);
}

/* Random walk: reserve if it fits, settle at most the reservation, commit
 * now and then; the invariant holds at every step, and the durable state
 * always covers what may have been billed. */
static void test_random(void)
{
    for (int round = 0; round < 200; round++) {
        budget_t b;
        money_t cap = 1000 + (money_t)(next() % 100000), out[64];
        money_t billed = 0, durable_spend = 0, durable_hwm = 0;
        int n = 0, bad = 0;

        budget_init(&b, 1, cap);
        for (int step = 0; step < 2000; step++) {
            int op = (int)(next() % 4);
            if (op <= 1 && n < 64) {
                money_t r = 1 + (money_t)(next() % 5000);
                if (budget_fits(&b, r)) {
                    if (budget_needs_durable(&b, r)) {
                        money_t h = budget_next_hwm(&b, r * 4);
                        durable_spend = budget_spent(&b);
                        durable_hwm = h;
                        budget_committed(&b, h);
                    }
                    if (budget_needs_durable(&b, r))
                        bad++;
                    budget_reserve(&b, r);
                    out[n++] = r;
                }
            } else if (op == 2 && n > 0) {
                int i = (int)(next() % (uint64_t)n);
                money_t r = out[i], actual = (money_t)(next() % (uint64_t)(r + 1));
                int kind = (int)(next() % 4);
                out[i] = out[--n];
                budget_settle(&b, r, actual, kind);
                if (kind == SETTLE_REAL) billed += actual;
                else if (kind != SETTLE_RELEASE) billed += r;
            } else if (op == 3) {
                money_t h = budget_next_hwm(&b, 0);
                durable_spend = budget_spent(&b);
                durable_hwm = h;
                budget_committed(&b, h);
            }
            if (budget_spent(&b) + b.reserved > cap)
                bad++;
            /* a crash now: the durable bound covers everything billed */
            {
                money_t pending = 0;
                for (int k = 0; k < n; k++) pending += out[k];
                if (billed + pending > durable_spend + durable_hwm)
                    bad++;
            }
        }
        CHECK_INT(bad, 0);
    }
}

int main(void)
{
    test_basic();
    test_hwm();
    test_random();
    return tap_done();
}
