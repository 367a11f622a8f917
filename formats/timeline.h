/*
 * timeline: a bounded time series of a run's cumulative counters, for the
 * HTML report's charts.  One sample per interval (1 s at first); when the
 * TIMELINE_CAP points are full, every other point is dropped (the first and
 * the last are always kept) and the interval doubles, so a run of any
 * length fits in a fixed amount of memory.
 *
 * Every counter in a sample is CUMULATIVE across the run's resumes, so
 * dropping points loses resolution but never a count, and a rate is the
 * difference of two samples divided by their time difference.  `inflight`
 * is the only gauge.  `t` is seconds of run time across resumes (it does
 * not count the time between runs).
 *
 * The timeline is plain data held inline (no allocation); it survives a
 * resume by being stored with timeline_to_json and read back with
 * timeline_from_json (e.g. as a member of the checkpoint).
 */
#ifndef LLMB_TIMELINE_H
#define LLMB_TIMELINE_H
#include <stdint.h>
#include <stddef.h>
#include <jansson.h>

#define TIMELINE_CAP 600
#define TIMELINE_VERSION 1

typedef struct tl_sample {
    double   t;                 /* seconds of run time across resumes */
    uint64_t done;              /* jobs with their line written */
    uint64_t succeeded, failed;
    int64_t  spent_pp;          /* settled spend, picodollars */
    uint64_t requests_sent;
    uint64_t n429;              /* HTTP 429 replies */
    uint64_t errors;            /* 5xx + network errors + timeouts */
    uint64_t tokens_in, tokens_out;
    uint64_t inflight;          /* gauge: requests in flight at t */
} tl_sample_t;

typedef struct timeline {
    tl_sample_t pts[TIMELINE_CAP];
    size_t      n;
    double      interval;       /* seconds; 1, 2, 4, ... */
} timeline_t;

/* An empty timeline sampling every second. */
void timeline_init(timeline_t *tl);
/* Nothing is allocated; resets to empty (kept for the init/release pair). */
void timeline_release(timeline_t *tl);

/* Records s (copied) if it is at least `interval` seconds after the last
 * point; returns 1 if stored, 0 if ignored (too soon, or t earlier than the
 * last point), -1 if t is not a finite non-negative number. */
int timeline_add(timeline_t *tl, const tl_sample_t *s);
/* The same, for the last sample of a run or a commit: stored whatever the
 * interval (a sample at the last point's t replaces it).  1, 0 (t earlier
 * than the last point) or -1. */
int timeline_add_final(timeline_t *tl, const tl_sample_t *s);

/* {"version":1,"interval_s":N,"columns":["t","done",...],
 *  "points":[[t,done,...],...]}: one array per point, in `columns` order.
 * A new reference, or NULL when out of memory. */
json_t *timeline_to_json(const timeline_t *tl);
/* Reads timeline_to_json's output into tl.  0, or -1 when j is not a valid
 * timeline (wrong version or columns, too many points, a non-number, a
 * negative or non-integer counter, t going backwards); then tl is empty. */
int timeline_from_json(timeline_t *tl, const json_t *j);

#endif
