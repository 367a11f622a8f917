/*
 * stats: the counters of a job across all its runs: jobs, tokens, money per
 * model and per key, HTTP outcomes, cache.  Plain data: the runner fills it,
 * the checkpoint stores it (stats_to_json / stats_from_json) so a resumed
 * run's report covers the whole job, and runner/report_run.c renders it
 * (the run's report file and summary; runner/report_cmd.c for
 * `llmbatch report`).
 * Money is in picodollars.
 */
#ifndef LLMB_STATS_H
#define LLMB_STATS_H
#include <stdint.h>
#include <stddef.h>
#include <jansson.h>
#include "money.h"
#include "provider.h"

typedef struct model_stats {
    char    *model;
    uint64_t requests;              /* successful responses */
    usage_t  tok;                   /* summed usage (present is unused) */
    money_t  cost;
    int      unpriced;
} model_stats_t;

typedef struct key_stats {
    char     name[72];
    uint64_t requests, tokens_in, tokens_out, n429;
    money_t  cost;
    char     state[16];
    char     reason[160];
} key_stats_t;

#define STATS_LAT_BUCKETS 64

typedef struct stats {
    uint64_t jobs_total;            /* non-blank input lines; 0 if unknown */
    uint64_t succeeded, failed;
    uint64_t invalid;               /* input lines sent to errors (--skip-invalid) */
    /* http */
    uint64_t requests_sent, retries, network_errors, timeouts;
    uint64_t by_status[600];        /* index = HTTP status */
    uint64_t rate_limited;          /* 429s about rate (not quota) */
    /* tokens (all successful responses) */
    usage_t  tok;
    uint64_t unpriced_requests;
    model_stats_t *models;
    size_t   nmodels;
    key_stats_t *keys;
    size_t   nkeys;
    /* cache and in-run dedup */
    uint64_t cache_hits, cache_misses, coalesced;
    money_t  cache_saved;
    /* alerts already crossed (percent values) */
    uint32_t alerts_fired;          /* bit i = i-th --alert-at threshold */
    /* latency of successful requests, log2(ms) buckets (this run only) */
    uint64_t lat[STATS_LAT_BUCKETS];
    /* money across runs (picodollars) */
    money_t  spent;                 /* settled, all runs */
    money_t  unconfirmed;           /* possibly billed at crashes (in spent) */
    money_t  possibly_billed;       /* failed attempts charged at reservation (in spent) */
    money_t  estimated;             /* no-usage replies charged at reservation (in spent) */
    double   elapsed_s;             /* all runs */
    uint32_t runs;
} stats_t;

void stats_init(stats_t *s);
void stats_release(stats_t *s);
model_stats_t *stats_model(stats_t *s, const char *model);
key_stats_t   *stats_key(stats_t *s, const char *name);
void stats_add_usage(usage_t *into, const usage_t *u);
/* Books one attempt's cost under its model and key (either may be NULL).
 * success: a reply whose usage u counts (requests, tokens; the key's
 * tokens_in is input + cached + cache-write; an unpriced reply counts in
 * unpriced_requests); otherwise only the cost (an attempt charged as
 * possibly billed), so the breakdowns add up to the total spent. */
void stats_account(stats_t *s, const char *model, const char *key_name, const usage_t *u,
                   money_t cost, int priced, int success);
void stats_latency(stats_t *s, int64_t ms);
/* Latency percentile (0..100) in ms, from the histogram; 0 if empty. */
double stats_latency_pct(const stats_t *s, double pct);

/* Jobs in the input: the validation pass's count, or the checkpoint's
 * bitmap length when that is larger (a resumed run skips validation). */
uint64_t stats_total_jobs(const stats_t *s, uint64_t bitmap_jobs);
/* Report fragments: token counts {input (all prompt tokens), cached_input,
 * cache_write, output, reasoning}; per model; HTTP statuses by code. */
json_t *stats_usage_json(const usage_t *u);
json_t *stats_by_model_json(const stats_t *s);
json_t *stats_by_status_json(const stats_t *s);
/* The latency histogram as [{"le_ms":N,"count":N},...]: bucket b holds
 * latencies from the previous bucket's le_ms + 1 up to le_ms = 2^b - 1 ms
 * (bucket 0 holds 0 ms).  From the first to the last non-empty bucket
 * ([] when empty).  A new reference, or NULL when out of memory. */
json_t *stats_latency_hist_json(const stats_t *s);

/* Serialises the cumulative parts (not latency) for the checkpoint. */
json_t *stats_to_json(const stats_t *s);
/* Restores from stats_to_json's output; 0 or -1. */
int stats_from_json(stats_t *s, const json_t *j);

/* Money as a JSON number of USD (for output only). */
json_t *json_usd(money_t m);
json_t *json_money_pp(money_t m);          /* exact integer picodollars */
int     json_get_money(const json_t *j, money_t *out);

#endif
