/*
 * run_int: the state of one `llmbatch run`, shared by run.c (setup, resume,
 * teardown), sched.c (the event loop: admission, transfers, outcomes) and
 * progress.c.  Not a public header.
 *
 * Ownership: run_ctx_t owns everything it points to except `o` (the
 * options) and the price entries (owned by `prices`).  A slot_t owns its
 * job and its error history; slots live from admission until their job has
 * its line written (or the run stops), and at most `max_active` exist.
 */
#ifndef LLMB_RUN_INT_H
#define LLMB_RUN_INT_H
#include <signal.h>
#include <stdio.h>
#include "run.h"
#include "budget.h"
#include "cache.h"
#include "checkpoint.h"
#include "keys.h"
#include "output.h"
#include "pool.h"
#include "prices.h"
#include "ratelimit.h"
#include "reader.h"
#include "validate.h"
#include "stats.h"

typedef struct slot {
    job_t          job;
    const price_t *price;           /* NULL: unpriced */
    money_t        reservation;     /* 0 when unpriced */
    uint64_t       weight;          /* rate weight in tokens */
    int            attempts;        /* counted attempts (not key re-routes,
                                       not rate-limit 429s) */
    int            rate_limited;    /* rate-limit 429s seen */
    int            starts;          /* requests sent for this job */
    int            connect_fails;   /* attempts that never reached a server */
    int64_t        not_before_ns;
    api_key_t     *key;             /* while in flight */
    int            inflight;
    int            reserved;        /* holds a budget reservation now */
    cache_key_t    ckey;
    int            has_ckey;
    int            looked_up;       /* cache and dedup were consulted */
    struct slot   *leader;          /* set on a coalesced duplicate */
    struct slot   *followers;       /* duplicates waiting on this one */
    struct slot   *next;            /* queue / follower chain / free list */
    struct slot   *hnext;           /* dedup hash chain */
    /* history for the errors file */
    long           last_status;
    char          *last_body;
    size_t         last_body_len;
    char           last_code[64];
    char           last_request_id[128];
    char           last_message[512];
    char           seen[160];       /* "429,500,timeout" */
} slot_t;

enum stop_reason {
    STOP_NONE = 0,
    STOP_BUDGET,
    STOP_NOKEY,
    STOP_SIGNAL,
    STOP_IO
};

typedef struct run_ctx {
    const run_opts_t *o;
    /* paths */
    char     *errors_path, *report_path, *ckpt_path, *input_path;
    int       spooled;              /* input came from stdin (no resume) */
    char     *base_url[2];          /* per dialect */
    char     *urls[2][5];           /* base joined with each endpoint, made once */
    struct curl_slist **key_hdrs;   /* request headers per key, made once */
    /* inputs */
    prices_t *prices;
    keys_t    keys;
    reader_t *rd;
    int       rd_eof;
    uint64_t  next_ordinal;
    scan_result_t scan;
    job_defaults_t defs;            /* o->defs + what the loop needs */
    size_t    bad_cursor;
    /* state */
    budget_t  budget;
    ckpt_t    ckpt;
    stats_t   stats;
    money_t   base_possibly_billed, base_estimated;
    output_t  out_ok, out_err;
    pool_t    pool;
    cache_t  *cache;
    gcra_t    g_req, g_tok;
    uint64_t  seed;                 /* for output ids */
    /* slots */
    slot_t   *free_slots;
    slot_t   *retry_q;              /* sorted by not_before_ns */
    slot_t   *held;                 /* a new job that could not start yet */
    slot_t  **dedup;                /* hash buckets of leaders in flight/queued */
    size_t    dedup_mask;
    int       active, max_active;
    uint64_t  pending_lines;        /* lines written since the last commit */
    /* timing */
    int64_t   start_ms, last_commit_ms, next_wake_ns;
    money_t   reserved_since_commit;
    /* stopping */
    int       stop;
    int64_t   stop_deadline_ms;
    int       exit_signal;
    char      fatal[512];
    int       no_commit;            /* a write or fsync failed: never commit again */
    int       sig_pipe[2];
    /* progress */
    int       progress_tty;
    int64_t   last_progress_ms, last_status_ms, last_log_ms;
    uint64_t  rate_done_prev;
    int64_t   rate_prev_ms;
    double    rate_rps, rate_tps;
    uint64_t  tokens_this_run;
    uint64_t  done_this_run;
} run_ctx_t;

/* sched.c */
int  sched_loop(run_ctx_t *c);
int  sched_commit(run_ctx_t *c, int final);
void sched_release(run_ctx_t *c);
/* run.c */
void run_sync_stats(run_ctx_t *c);
/* progress.c */
void progress_tick(run_ctx_t *c, int force);
void progress_finish(run_ctx_t *c);

#endif
