/* Unit tests for runner/lease: the local lease invariant under random
 * sequences, sizing, the starved rule, and the slot walker's spacing. */
#include <stdlib.h>
#include "tap.h"
#include "lease.h"

#define MS 1000000LL

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t next(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}

static void test_book(void)
{
    lease_book_t b;
    int64_t now = 1000 * MS;

    lease_init(&b, now);
    CHECK(!lease_fits(&b, 1));
    CHECK(lease_due(&b, 1, now));                 /* nothing leased: ask now */
    CHECK_INT(lease_need(&b, 50), 50);
    CHECK_INT(lease_want(&b, 50, now), 50);       /* nothing seen yet: the next one */
    lease_reported(&b, 500, 50, now);
    CHECK_INT(b.starved, 0);
    CHECK(lease_fits(&b, 500));
    lease_reserve(&b, 300);
    lease_reserve(&b, 100);
    CHECK(!lease_fits(&b, 101));
    lease_settle(&b, 300, 120, 0);                /* 120 of 300 billed */
    CHECK_INT(b.reserved, 100);
    CHECK_INT(b.since, 120);
    CHECK(lease_fits(&b, 280));                   /* 100 + 120 + 280 = 500 */
    CHECK(!lease_fits(&b, 281));
    lease_settle(&b, 100, 100, 1);
    CHECK_INT(b.since_pb, 100);
    CHECK(!lease_due(&b, 0, now + 500 * MS));     /* within the span, nothing waits */
    CHECK(lease_due(&b, 0, now + 1000 * MS));     /* a span passed: report */
    /* 400 reserved in 0.5 s: ~800 per span, at least 4 x 300 */
    CHECK_INT(lease_want(&b, 0, now + 500 * MS), 1200);
    lease_reported(&b, 1200, 0, now + 500 * MS);
    CHECK_INT(b.since, 0);
    CHECK_INT(b.since_pb, 0);

    /* starved: a grant that does not cover the next reservation waits
     * LEASE_STARVED_NS before asking again */
    now += 2000 * MS;
    lease_reported(&b, 10, 600, now);
    CHECK_INT(b.starved, 1);
    CHECK(!lease_due(&b, 600, now + LEASE_STARVED_NS / 2));
    CHECK(lease_due(&b, 600, now + LEASE_STARVED_NS));
    CHECK(lease_cap_reached(900, 1000, 1, 101));
    CHECK(!lease_cap_reached(900, 1000, 1, 100));
    CHECK(!lease_cap_reached(900, 1000, 0, 1000000));

    /* a charge beyond its reservation makes a report due at once */
    lease_reported(&b, 100, 0, now);
    lease_reserve(&b, 100);
    lease_settle(&b, 100, 150, 0);
    CHECK(lease_due(&b, 0, now));
}

/* Random reserve/settle/report: reserved + since <= lease after every step
 * when reservations are made only through lease_fits. */
static void test_invariant(void)
{
    lease_book_t b;
    money_t res[32];
    int n = 0, i, bad = 0;
    int64_t now = 0;

    lease_init(&b, now);
    for (i = 0; i < 100000; i++) {
        uint64_t op = next() % 8;
        now += (int64_t)(next() % (50 * MS));
        if (op < 4 && n < 32) {
            money_t r = 1 + (money_t)(next() % 1000);
            if (lease_fits(&b, r)) {
                lease_reserve(&b, r);
                res[n++] = r;
            }
        } else if (op < 7 && n > 0) {
            int j = (int)(next() % (uint64_t)n);
            lease_settle(&b, res[j], (money_t)(next() % (uint64_t)(res[j] + 1)), (int)(next() & 1));
            res[j] = res[--n];
        } else {
            /* the ledger grants anything in [reserved, want] */
            money_t want = lease_want(&b, 500, now);
            money_t g = b.reserved + (money_t)(next() % (uint64_t)(want - b.reserved + 1));
            if (want < b.reserved)
                bad++;
            lease_reported(&b, g, 500, now);
        }
        if (b.reserved + b.since > b.lease)
            bad++;
    }
    CHECK_INT(bad, 0);
}

static void test_walk(void)
{
    slot_walk_t w;
    int64_t now = 100 * MS;

    slot_walk_init(&w, now + 10 * MS, 5 * MS, 4, 0);
    CHECK_INT(slot_walk_left(&w), 4);
    CHECK_INT(slot_walk_wait(&w, 1, now), 10 * MS);
    CHECK_INT(slot_walk_wait(&w, 5, now), -1);    /* more than the block holds */
    now += 10 * MS;
    CHECK_INT(slot_walk_wait(&w, 1, now), 0);
    slot_walk_take(&w, 1, now);
    CHECK_INT(slot_walk_wait(&w, 1, now), 5 * MS);
    /* a late start (7 ms after its slot) pushes the next one: no catch-up */
    now += 12 * MS;
    slot_walk_take(&w, 1, now);
    CHECK_INT(slot_walk_wait(&w, 1, now), 5 * MS);
    /* a weighted start takes its units and keeps units * step after it */
    now += 5 * MS;
    slot_walk_take(&w, 2, now);
    CHECK_INT(slot_walk_left(&w), 0);
    CHECK_INT(slot_walk_wait(&w, 1, now), -1);
    /* the next block starts no earlier than the last start + its units */
    slot_walk_init(&w, now, 5 * MS, 3, w.next_min_ns);
    CHECK_INT(slot_walk_wait(&w, 1, now), 10 * MS);
}

int main(void)
{
    test_book();
    test_invariant();
    test_walk();
    return tap_done();
}
