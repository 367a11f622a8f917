/*
 * run_int: the state of one `llmbatch run`, split by owner (see
 * runner/README.md for the data flow).  Not a public header.
 *
 *   run_files_t   run.c          paths, the committed outputs
 *   admission_t   admit.c        the input reader, slots, retry queue, dedup index
 *   live_t        live.c         the live backend: curl pool, URLs, key headers
 *   ledger_t      ledger.c       money and global pacing (budget + GCRA)
 *   progress_t    progress.c     what the progress line and files need
 *   stopping      sched.c        why and when the loop stops
 *
 * Ownership: run_ctx_t owns everything it points to except `o` (the
 * options) and the price entries (owned by `prices`).  A slot_t owns its
 * job and its error history; slots live from admission until their job has
 * its line written (finish.c) or the run stops, and at most
 * `adm.max_active` exist.
 */
#ifndef LLMB_RUN_INT_H
#define LLMB_RUN_INT_H
#include <signal.h>
#include <stdio.h>
#include "run.h"
#include "backend.h"
#include "cache.h"
#include "checkpoint.h"
#include "keys.h"
#include "lock.h"
#include "ledger.h"
#include "output.h"
#include "pool.h"
#include "prices.h"
#include "reader.h"
#include "validate.h"
#include "spool.h"
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
    int            setup_holds;     /* 404s held back while the endpoint is unproven */
    int64_t        not_before_ns;
    api_key_t     *key;             /* while in flight */
    int            inflight;
    int            reserved;        /* holds a budget reservation now */
    int            has_ckey;        /* job.key is its cache / dedup key (slot_ckey) */
    int            looked_up;       /* cache and dedup were consulted */
    struct slot   *leader;          /* set on a coalesced duplicate */
    struct slot   *followers;       /* duplicates waiting on this one */
    struct slot   *next;            /* queue / follower chain / free list */
    struct slot   *hnext;           /* dedup hash chain */
    struct slot_hist *hist;         /* NULL until an attempt fails */
} slot_t;

/* The cache and dedup key of s, when has_ckey: its job's canonical key,
 * not a copy (thousands of slots are in flight at high concurrency). */
_Static_assert(sizeof(cache_key_t) == sizeof(((job_t *)0)->key), "cache key size");
static inline const cache_key_t *slot_ckey(const slot_t *s)
{
    return (const cache_key_t *)(const void *)s->job.key;
}

/* A job's failed attempts, for its errors-file line and the retry wait
 * message.  Kept apart from slot_t and made on the first failure: most jobs
 * never need it, and thousands of slots are in flight at high concurrency. */
typedef struct slot_hist {
    long           last_status;
    char          *last_body;
    size_t         last_body_len;
    char           last_code[64];
    char           last_request_id[128];
    char           last_message[512];
    char           seen[160];       /* "429,500,timeout" */
    char           wait_why[96];    /* why its not-before is far away */
} slot_hist_t;

enum stop_reason {
    STOP_NONE = 0,
    STOP_BUDGET,
    STOP_NOKEY,
    STOP_SIGNAL,
    STOP_IO
};

typedef struct run_files {
    char     *errors_path, *report_path, *ckpt_path, *input_path;
    int       spooled;              /* input is not a regular file (no resume) */
    output_t  out_ok, out_err;
    run_lock_t lock;                /* held from setup to the last write */
    spool_t   spool;                /* the copy of a spooled input */
    reader_pin_t pin;               /* the input's identity when validated */
} run_files_t;

typedef struct admission {
    reader_t *rd;
    int       rd_eof;
    uint64_t  next_ordinal;
    scan_result_t scan;
    job_defaults_t defs;            /* o->defs + what the loop needs */
    size_t    bad_cursor;
    slot_t   *free_slots;
    slot_t   *retry_q;              /* sorted by not_before_ns */
    slot_t   *held;                 /* a new job that could not start yet */
    slot_t  **dedup;                /* hash buckets of leaders in flight/queued */
    size_t    dedup_mask;
    int       active, max_active;
    int64_t   next_wake_ns;
    money_t   want_durable;         /* > 0: a commit must raise the durable
                                       bound by this much before admitting */
    int64_t   long_wait_until_ns;   /* > 0: nothing can start before then, */
    char      long_wait_why[200];   /* ... for this reason (waits over 60 s) */
} admission_t;

typedef struct live {
    pool_t    pool;
    char     *base_url[2];          /* per dialect */
    char     *urls[2][5];           /* base joined with each endpoint, made once */
    struct curl_slist **key_hdrs;   /* request headers per key, made once */
    int       ep_proven[2][5];      /* a 2xx came back from this endpoint */
    int       ep_404[2][5];         /* distinct jobs held on a 404 there */
} live_t;

typedef struct progress {
    int       tty;
    int64_t   last_draw_ms, last_status_ms, last_log_ms;
    uint64_t  rate_done_prev, rate_tok_prev;
    int64_t   rate_prev_ms;
    double    rate_rps, rate_tps;
    uint64_t  tokens_this_run;
    uint64_t  done_this_run;
    int64_t   wait_logged_ns;       /* the long wait last announced */
} progress_t;

typedef struct run_ctx {
    const run_opts_t *o;
    run_files_t files;
    admission_t adm;
    live_t    live;
    const backend_t *backend;
    ledger_t  ledger;
    progress_t prog;
    /* inputs */
    prices_t *prices;
    keys_t    keys;
    /* durable state */
    ckpt_t    ckpt;
    stats_t   stats;
    money_t   base_possibly_billed, base_estimated;
    run_record_t run_base;          /* the counters when this run began */
    cache_t  *cache;
    uint64_t  seed;                 /* for output ids */
    uint64_t  pending_lines;        /* lines written since the last commit */
    buf_t     line;                 /* an output line being formatted, reused */
    int64_t   start_ms, last_commit_ms;
    /* stopping */
    int       stop;
    int64_t   stop_deadline_ms;
    int       exit_signal;
    char      fatal[512];
    int       no_commit;            /* a write or fsync failed: never commit again */
    int64_t   drain_until_ms;       /* > 0: a STOP_IO that lets in-flight requests
                                       finish until then (shared ledger lost) */
} run_ctx_t;

/* ---- sched.c: the loop and commit points ------------------------------ */
int  sched_loop(run_ctx_t *c);
/* Commit point: outputs fsynced, then the checkpoint.  extra: raise the
 * durable money bound by at least this much.  0 or -1 (stop is set). */
int  sched_commit(run_ctx_t *c, int final, money_t extra);
void sched_release(run_ctx_t *c);
/* Records a fatal error (first one wins) and stops the run: exit 5. */
void run_fatal(run_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void run_fatal_io(run_ctx_t *c, const char *what, const char *path);

/* ---- admit.c: admission ----------------------------------------------- */
void    admit(run_ctx_t *c);
slot_t *slot_new(run_ctx_t *c);
void    slot_free(run_ctx_t *c, slot_t *s);
void    retry_push(run_ctx_t *c, slot_t *s);
void    dedup_remove(run_ctx_t *c, slot_t *s);
int     admit_init(run_ctx_t *c);
void    admit_release(run_ctx_t *c);

/* ---- finish.c: the one place a job ends -------------------------------- */
/* What a job ended with.  For a success: status, request_id, the body bytes
 * (and the parsed tree when the bytes are not one line of JSON), the results
 * mark.  For a failure: status (0: no response), request_id, body bytes
 * (server text, already redacted), code and message. */
typedef struct job_end {
    int           ok;
    long          status;
    const char   *request_id;
    const char   *body;
    size_t        body_len;
    const json_t *tree;
    int           mark;             /* RESULTS_MARK_* for the job itself */
    money_t       cost;             /* what the reply cost (followers: saved) */
    const char   *code, *message;
} job_end_t;
/* Writes the line of s, marks it done, hands the same outcome to every
 * coalesced follower (each its own line), and frees them all. */
void finish_job(run_ctx_t *c, slot_t *s, const job_end_t *e);
/* The failure of s from its recorded history (last status, body, id). */
void finish_failed(run_ctx_t *c, slot_t *s, const char *code, const char *message);
/* A line that could not become a job (--skip-invalid, duplicates). */
void finish_invalid(run_ctx_t *c, uint64_t ordinal, uint64_t lineno,
                    const char *custom_id, const char *msg);
/* Frees s and its followers; their jobs stay pending (run stopping). */
void finish_drop(run_ctx_t *c, slot_t *s);
/* Appends an attempt's outcome ("429", "timeout", ...) to s's history. */
void slot_seen(slot_t *s, const char *what);
/* s's history, made on first use (never NULL: without memory, a scratch
 * history that the next call reuses, so only the message is lost). */
slot_hist_t *slot_hist(slot_t *s);
/* s's history to read (an empty one when it has none). */
const slot_hist_t *slot_hist_peek(const slot_t *s);

/* ---- settle.c: the one place an attempt's reservation settles ----------- */
enum settle_how {
    SETTLE_HOW_USAGE = 0,    /* a 2xx: charge its usage (or the reservation
                                when the usage is missing or partial) */
    SETTLE_HOW_BILLED,       /* a failed attempt that may have been billed */
    SETTLE_HOW_FREE          /* nothing reached the provider's meter */
};
/* Settles s's outstanding reservation; returns the cost charged.  u may be
 * NULL unless how is SETTLE_HOW_USAGE. */
money_t settle_attempt(run_ctx_t *c, slot_t *s, int how, const usage_t *u);

/* ---- live.c: the live backend (curl multi) ------------------------------- */
extern const backend_t live_backend;
int  live_init(run_ctx_t *c);
void live_release(run_ctx_t *c);
/* Masks every loaded API key in server text (bodies, messages, reasons,
 * ids) before it can reach a file or the terminal. */
void redact(const run_ctx_t *c, char *buf, size_t len);
/* A retryable failure of s's last attempt: back to the queue with a
 * not-before time, or its final line once its attempts are used up. */
void retry_or_fail(run_ctx_t *c, slot_t *s, int64_t retry_after_ms, const char *last_code);

/* ---- keyshare.c: API key states shared through the ledger --------------- */
/* Merges every key's state with the shared ledger's and applies what is
 * tighter (exhausted/invalid, cooling, a lower AIMD factor, announced
 * limits); at most once a second unless force.  0, or -1 with a message in
 * err (the ledger is lost).  No-op without a shared ledger. */
int  keyshare_sync(run_ctx_t *c, int force, char *err, size_t errlen);

/* ---- runstats.c: the run's counters -------------------------------------- */
void run_sync_stats(run_ctx_t *c);

/* ---- progress.c -------------------------------------------------------- */
void progress_tick(run_ctx_t *c, int force);
void progress_finish(run_ctx_t *c);

/* ---- run_outputs.c: --ordered and --retry-failed (reorder.h, retry_failed.h) */
/* After the checkpoint is loaded, before the outputs are opened: finishes a
 * reorder or errors swap a crash interrupted, then applies --retry-failed.
 * 0, or an exit code. */
int  run_outputs_resume(run_ctx_t *c, int resumed);
/* After the last commit: --ordered on a complete run.  rc, or RUN_EXIT_IO. */
int  run_outputs_finish(run_ctx_t *c, int rc);

/* ---- signals.c --------------------------------------------------------- */
/* Installs SIGINT/SIGTERM handlers that count and write to a pipe; SIGPIPE
 * is ignored.  0 or -1. */
int  signals_install(void);
void signals_restore(void);
/* The read end the loop polls; -1 before install. */
int  signals_fd(void);
/* Signals received so far and the last one (drains the pipe). */
int  signals_take(int *last);

#endif
