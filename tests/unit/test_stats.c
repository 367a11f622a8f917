/*
 * test_stats: the run's counters (formats/stats.c): model and key lookup,
 * accounting a success and a possibly-billed attempt, total jobs, the
 * by_status object, latency percentiles and the checkpoint round trip.
 */
#include "tap.h"
#include "stats.h"

#include <stdlib.h>

static void test_model_and_key_lookup_return_one_entry_per_name(void)
{
    stats_t s;
    model_stats_t *a, *b;
    key_stats_t *k1, *k2;

    stats_init(&s);
    a = stats_model(&s, "gpt-4o");
    CHECK(a != NULL);
    if (a)
        a->requests = 3;
    b = stats_model(&s, "claude-x");
    CHECK(b != NULL);
    a = stats_model(&s, "gpt-4o");          /* found again, not added */
    CHECK(a != NULL && a->requests == 3);
    CHECK_INT(s.nmodels, 2);
    CHECK_STR(s.models[1].model, "claude-x");

    k1 = stats_key(&s, "work");
    CHECK(k1 != NULL);
    CHECK_STR(k1 ? k1->state : NULL, "ok");      /* a new key starts "ok" */
    k2 = stats_key(&s, "work");
    CHECK(k1 == k2);
    CHECK(stats_key(&s, "home") != NULL);
    CHECK_INT(s.nkeys, 2);
    stats_release(&s);
    CHECK_INT(s.nmodels, 0);
    CHECK(s.models == NULL);
}

static void test_account_success_counts_tokens_and_cost_per_model_and_key(void)
{
    stats_t s;
    usage_t u = { 100, 20, 5, 40, 10, 1 };
    model_stats_t *m;
    key_stats_t *k;

    stats_init(&s);
    stats_account(&s, "gpt-4o", "work", &u, 700, 1, 1);
    stats_account(&s, "gpt-4o", "work", &u, 300, 1, 1);
    m = stats_model(&s, "gpt-4o");
    k = stats_key(&s, "work");
    CHECK(m && k);
    if (!m || !k)
        goto out;
    CHECK_INT(m->requests, 2);
    CHECK_INT(m->tok.input, 200);
    CHECK_INT(m->tok.cached_input, 40);
    CHECK_INT(m->tok.cache_write, 10);
    CHECK_INT(m->tok.output, 80);
    CHECK_INT(m->tok.reasoning, 20);
    CHECK_INT(m->cost, 1000);
    CHECK_INT(m->unpriced, 0);
    CHECK_INT(s.tok.input, 200);
    CHECK_INT(s.tok.output, 80);
    CHECK_INT(s.unpriced_requests, 0);
    CHECK_INT(k->tokens_in, 250);            /* input + cached + cache-write */
    CHECK_INT(k->tokens_out, 80);
    CHECK_INT(k->cost, 1000);
    CHECK_INT(k->requests, 0);               /* the runner counts requests */

    /* unpriced: counted, flagged, no cost */
    stats_account(&s, "mystery", NULL, &u, 0, 0, 1);
    m = stats_model(&s, "mystery");
    CHECK(m && m->unpriced == 1 && m->requests == 1 && m->cost == 0);
    CHECK_INT(s.unpriced_requests, 1);
    CHECK_INT(s.nkeys, 1);                   /* NULL key: no key entry */
out:
    stats_release(&s);
}

static void test_account_possibly_billed_adds_cost_only(void)
{
    stats_t s;
    usage_t u = { 100, 0, 0, 40, 0, 1 };
    model_stats_t *m;
    key_stats_t *k;

    stats_init(&s);
    stats_account(&s, "gpt-4o", "work", NULL, 5000, 1, 0);
    stats_account(&s, "gpt-4o", "work", &u, 1000, 1, 0);  /* u ignored */
    m = stats_model(&s, "gpt-4o");
    k = stats_key(&s, "work");
    CHECK(m && k);
    if (m && k) {
        CHECK_INT(m->cost, 6000);
        CHECK_INT(m->requests, 0);
        CHECK_INT(m->tok.input, 0);
        CHECK_INT(k->cost, 6000);
        CHECK_INT(k->tokens_in, 0);
        CHECK_INT(k->tokens_out, 0);
    }
    CHECK_INT(s.tok.input, 0);
    CHECK_INT(s.unpriced_requests, 0);
    stats_release(&s);
}

static void test_total_jobs_is_the_larger_count(void)
{
    stats_t s;

    stats_init(&s);
    CHECK_INT(stats_total_jobs(&s, 0), 0);
    CHECK_INT(stats_total_jobs(&s, 12), 12);       /* resumed, not validated yet */
    s.jobs_total = 30;
    CHECK_INT(stats_total_jobs(&s, 12), 30);
    CHECK_INT(stats_total_jobs(&s, 31), 31);
    stats_release(&s);
}

static void test_by_status_lists_seen_statuses_without_status_0(void)
{
    stats_t s;
    json_t *j;

    stats_init(&s);
    s.by_status[0] = 9;                          /* no reply: not a status */
    s.by_status[200] = 5;
    s.by_status[429] = 2;
    s.by_status[599] = 1;
    j = stats_by_status_json(&s);
    CHECK(j != NULL);
    CHECK_INT(json_object_size(j), 3);
    CHECK_INT(json_integer_value(json_object_get(j, "200")), 5);
    CHECK_INT(json_integer_value(json_object_get(j, "429")), 2);
    CHECK_INT(json_integer_value(json_object_get(j, "599")), 1);
    CHECK(json_object_get(j, "0") == NULL);
    json_decref(j);
    stats_release(&s);
}

static void test_latency_percentiles_from_log2_buckets(void)
{
    stats_t s;
    int i;

    stats_init(&s);
    CHECK(stats_latency_pct(&s, 50) == 0);       /* empty */
    /* 90 replies in 100..127 ms (bucket [64,128)), 10 at 1000 ms ([512,1024)) */
    for (i = 0; i < 90; i++)
        stats_latency(&s, 100 + i % 28);
    for (i = 0; i < 10; i++)
        stats_latency(&s, 1000);
    CHECK_INT(s.lat[7], 90);
    CHECK_INT(s.lat[10], 10);
    /* geometric middle of the bucket: 64 * sqrt 2 and 512 * sqrt 2 */
    CHECK(stats_latency_pct(&s, 50) > 90.5 && stats_latency_pct(&s, 50) < 90.6);
    CHECK(stats_latency_pct(&s, 90) > 90.5 && stats_latency_pct(&s, 90) < 90.6);
    CHECK(stats_latency_pct(&s, 99) > 724.0 && stats_latency_pct(&s, 99) < 724.1);
    stats_latency(&s, 0);
    stats_latency(&s, -5);                        /* clock step: bucket 0 */
    CHECK_INT(s.lat[0], 2);
    CHECK(stats_latency_pct(&s, 1) == 0.5);
    stats_release(&s);
}

static void test_json_round_trip_keeps_every_cumulative_counter(void)
{
    stats_t a, b;
    usage_t u = { 1000, 200, 30, 400, 50, 1 };
    json_t *j, *j2;
    char *t1, *t2;
    model_stats_t *m;
    key_stats_t *k;

    stats_init(&a);
    stats_init(&b);
    a.jobs_total = 1234;
    a.succeeded = 1000;
    a.failed = 7;
    a.invalid = 3;
    a.requests_sent = 1100;
    a.retries = 93;
    a.network_errors = 4;
    a.timeouts = 2;
    a.by_status[200] = 1000;
    a.by_status[503] = 11;
    a.rate_limited = 17;
    a.cache_hits = 5;
    a.cache_misses = 6;
    a.coalesced = 8;
    a.cache_saved = 123456789;
    a.alerts_fired = 5;
    a.spent = 9876543210123LL;
    a.unconfirmed = 111;
    a.possibly_billed = 222;
    a.estimated = 333;
    a.elapsed_s = 12.5;
    a.runs = 3;
    stats_account(&a, "gpt-4o", "work", &u, 7777, 1, 1);
    stats_account(&a, "mystery", "home", &u, 0, 0, 1);
    k = stats_key(&a, "home");
    if (k) {
        snprintf(k->state, sizeof k->state, "exhausted");
        snprintf(k->reason, sizeof k->reason, "insufficient_quota");
        k->n429 = 4;
        k->requests = 9;
    }
    stats_latency(&a, 100);                      /* not part of the JSON form */

    j = stats_to_json(&a);
    CHECK(j != NULL);
    CHECK_INT(stats_from_json(&b, j), 0);
    CHECK_INT(b.jobs_total, 1234);
    CHECK_INT(b.succeeded, 1000);
    CHECK_INT(b.failed, 7);
    CHECK_INT(b.invalid, 3);
    CHECK_INT(b.requests_sent, 1100);
    CHECK_INT(b.retries, 93);
    CHECK_INT(b.network_errors, 4);
    CHECK_INT(b.timeouts, 2);
    CHECK_INT(b.by_status[200], 1000);
    CHECK_INT(b.by_status[503], 11);
    CHECK_INT(b.rate_limited, 17);
    CHECK_INT(b.tok.input, 2000);
    CHECK_INT(b.tok.reasoning, 100);
    CHECK_INT(b.unpriced_requests, 1);
    CHECK_INT(b.cache_hits, 5);
    CHECK_INT(b.cache_misses, 6);
    CHECK_INT(b.coalesced, 8);
    CHECK_INT(b.cache_saved, 123456789);
    CHECK_INT(b.alerts_fired, 5);
    CHECK_INT(b.spent, 9876543210123LL);
    CHECK_INT(b.unconfirmed, 111);
    CHECK_INT(b.possibly_billed, 222);
    CHECK_INT(b.estimated, 333);
    CHECK(b.elapsed_s == 12.5);
    CHECK_INT(b.runs, 3);
    CHECK_INT(b.lat[7], 0);
    CHECK_INT(b.nmodels, 2);
    m = stats_model(&b, "mystery");
    CHECK(m && m->unpriced == 1 && m->requests == 1 && m->tok.output == 400);
    m = stats_model(&b, "gpt-4o");
    CHECK(m && m->unpriced == 0 && m->cost == 7777 && m->tok.cache_write == 30);
    k = stats_key(&b, "home");
    CHECK(k != NULL);
    if (k) {
        CHECK_STR(k->state, "exhausted");
        CHECK_STR(k->reason, "insufficient_quota");
        CHECK_INT(k->n429, 4);
        CHECK_INT(k->requests, 9);
        CHECK_INT(k->tokens_in, 1230);
    }
    /* and the second serialisation is the same text */
    j2 = stats_to_json(&b);
    t1 = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    t2 = j2 ? json_dumps(j2, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    CHECK(t1 && t2 && strcmp(t1, t2) == 0);
    free(t1);
    free(t2);
    json_decref(j2);
    json_decref(j);
    CHECK_INT(stats_from_json(&b, json_null()), -1);
    stats_release(&a);
    stats_release(&b);
}

int main(void)
{
    test_model_and_key_lookup_return_one_entry_per_name();
    test_account_success_counts_tokens_and_cost_per_model_and_key();
    test_account_possibly_billed_adds_cost_only();
    test_total_jobs_is_the_larger_count();
    test_by_status_lists_seen_statuses_without_status_0();
    test_latency_percentiles_from_log2_buckets();
    test_json_round_trip_keeps_every_cumulative_counter();
    return tap_done();
}
