/*
 * run: `llmbatch run`, the whole job from input to results (see DESIGN.md's
 * data flow).  run_main() owns every resource of the run and returns the
 * process exit code (RUN_EXIT_*).
 */
#ifndef LLMB_RUN_H
#define LLMB_RUN_H
#include <stdint.h>
#include "job.h"
#include "retry_failed.h"
#include "money.h"

enum run_exit {
    RUN_EXIT_OK = 0,          /* all jobs succeeded */
    RUN_EXIT_FAILED = 1,      /* finished, some jobs failed */
    RUN_EXIT_USAGE = 2,       /* usage or input error, nothing sent */
    RUN_EXIT_BUDGET = 3,      /* stopped at the spend cap */
    RUN_EXIT_NOKEY = 4,       /* stopped: no usable API key */
    RUN_EXIT_IO = 5,          /* fatal I/O error; checkpoint consistent */
    RUN_EXIT_SUBMITTED = 6,   /* --via batch --no-wait: batches still running */
    RUN_EXIT_SIGINT = 130,
    RUN_EXIT_SIGTERM = 143
};

#define RUN_MAX_ALERTS 8

enum run_dedup {
    RUN_DEDUP_AUTO = 0,       /* deterministic requests only (embeddings, temperature 0) */
    RUN_DEDUP_ALL,            /* every identical request */
    RUN_DEDUP_OFF
};

typedef struct run_opts {
    const char *input;
    const char *results;
    const char *errors;          /* NULL: derived from results */
    const char *report;          /* NULL: derived from results */
    const char *checkpoint;      /* NULL: results + ".ckpt" */
    const char *base_url;        /* NULL: env or the dialect's default */
    const char *keys_file;
    const char *prices;          /* NULL: the installed table */
    const char *cacert;
    const char *cache_dir;
    const char *status_file;
    const char *metrics_file;
    const char *html_file;       /* --html: the HTML report; NULL none */
    job_defaults_t defs;
    int      have_budget;
    money_t  budget;
    double   rpm, tpm;           /* 0 = none */
    int      concurrency;
    int      max_retries;
    double   timeout_s, connect_timeout_s, grace_s;
    double   max_wait_s;         /* 0 = none: wait as long as a server asks */
    int      fresh, insecure, skip_invalid, quiet;
    int      no_slow_start;      /* full concurrency from the first request */
    int      dedup;              /* RUN_DEDUP_*: which identical requests in
                                    flight together are sent once */
    unsigned alerts[RUN_MAX_ALERTS];
    int      nalerts;
    uint64_t commit_every;       /* results between commits (and every 1 s) */
    int      progress;           /* -1 auto (stderr is a tty), 0 off, 1 on */
    const char *ledger_name;     /* --ledger: shared ledger (NULL: local) */
    const char *redis_url;       /* --redis (NULL: $LLMBATCH_REDIS_URL) */
    int      raise_budget;       /* --raise-budget */
    unsigned shard_i, shard_n;   /* --shard I/N (shard_n 0: not sharded) */
    int      ordered;            /* --ordered */
    int      retry_failed;       /* --retry-failed[=CODES] */
    retry_codes_t retry_codes;
    /* --via batch (runner/batch.c) */
    int      via_batch;          /* 0 live (default), 1 the providers' batch APIs */
    uint64_t batch_size;         /* requests per batch (default 10,000) */
    double   poll_s;             /* 0: backoff 5 s .. 120 s */
    int      no_wait;            /* submit what fits, exit 6 */
    const char *adopt_batch;     /* settle an undecided intent with this batch */
    int      resubmit_part;      /* ... or resubmit this part */
    uint64_t max_enqueued_tokens;   /* per model in open batches; 0 = no limit */
    int      fallback_live;      /* --fallback live: rows a batch left unrun go live */
    int      cancel_batches;     /* `llmbatch cancel`: cancel open batches, collect */
} run_opts_t;

void run_opts_init(run_opts_t *o);
int  run_main(const run_opts_t *o);

#endif
