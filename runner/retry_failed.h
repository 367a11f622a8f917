/*
 * retry_failed: `run --retry-failed[=CODES]`: the jobs in the errors file
 * whose error matches CODES lose their error line and become pending again.
 *
 * CODES is a comma list of error codes (max_retries_exceeded,
 * invalid_request_error, ...) and statuses (429, 500) or status classes
 * (4xx, 5xx), matched against the line's error.code and
 * response.status_code (the last status).  Without CODES: every failed job
 * except error code invalid_input.
 *
 * A line's job is found by its "id" (the batch_req id llmbatch writes is an
 * invertible function of the input's hash and the job's position; see
 * results_id_ordinal), so the match is exact, needs no pass over the input
 * and no memory beyond the done-bitmap.  Lines that are not ours (another
 * id, unreadable JSON) are kept and counted: they are never retried.
 *
 * Crash protocol (the run wires it into its checkpoint; a crash anywhere
 * never leaves a job with zero lines or two):
 *   1. retry_failed_prepare() cuts the errors file to its committed size,
 *      writes the lines to keep to tmp_out (retry_failed_tmp_path(),
 *      "ERRORS.retry.tmp"), fsynced, and clears the retried jobs in the
 *      caller's bitmap copy.  Nothing durable has changed yet.
 *   2. The run saves the checkpoint with those bits, errors_size =
 *      kept_size, stats.failed lowered by lines_removed, and
 *      "retry_swap":"pending".
 *   3. retry_failed_commit() renames tmp_out over the errors file and
 *      fsyncs the directory.
 *   4. The run saves the checkpoint without the flag.
 * On every checkpoint load: with "retry_swap":"pending",
 * retry_failed_finish_pending() (renames the tmp if it still exists), then
 * step 4, before the errors file is opened; without it,
 * retry_failed_discard() (a crash before step 2 leaves only the tmp).
 * Call step 1 before the errors file is opened for appending (or close it
 * first): the rename replaces the file under any open descriptor.
 */
#ifndef LLMB_RETRY_FAILED_H
#define LLMB_RETRY_FAILED_H
#include <stddef.h>
#include <stdint.h>

#define RETRY_MAX_ITEMS 32
#define RETRY_CODE_MAX 64
#define RETRY_TMP_SUFFIX ".retry.tmp"

typedef struct retry_codes {
    int    all;                        /* no list: everything but invalid_input */
    size_t ncodes;
    char   codes[RETRY_MAX_ITEMS][RETRY_CODE_MAX];
    size_t nstatus;
    struct { int lo, hi; } status[RETRY_MAX_ITEMS];   /* inclusive ranges */
} retry_codes_t;

/* Per-code counts of what was retried (the first RETRY_MAX_ITEMS distinct
 * codes; the rest are added to `other`).  code "" = the line had none. */
typedef struct retry_result {
    uint64_t kept_size;       /* size of tmp_out: the new errors_size */
    uint64_t lines_kept;
    uint64_t lines_removed;   /* error lines dropped (stats.failed -= this) */
    uint64_t n_retry;         /* jobs whose done bit was cleared */
    uint64_t not_ours;        /* matching lines kept: id not from this input */
    uint64_t unreadable;      /* lines kept: not JSON / no error object */
    size_t   ncodes;
    struct { char code[RETRY_CODE_MAX]; uint64_t n; } by_code[RETRY_MAX_ITEMS];
    uint64_t other;
} retry_result_t;

/* Parses --retry-failed's value; spec NULL = the default.  0, or -1 with a
 * message naming the bad item in err (an empty item, "5x", "600", ...). */
int retry_codes_parse(const char *spec, retry_codes_t *out, char *err, size_t errlen);
/* 1 when an error line with this code (NULL: none) and last status (0:
 * none) is to be retried. */
int retry_codes_match(const retry_codes_t *c, const char *code, long status);

/* errors_path + ".retry.tmp", malloc'd (NULL on out of memory). */
char *retry_failed_tmp_path(const char *errors_path);

/* Step 1.  errors_path is first cut to committed_size (the checkpoint's
 * errors_size; an uncommitted tail belongs to jobs that will run again).
 * seed: the checkpoint's input_hash.  bits/njobs: the done-bitmap; on
 * success the retried jobs' bits are cleared, on failure it is unchanged.
 * tmp_out: gzip when out_gz.  0, or -1 with a message in err (tmp_out is
 * then removed).  res may not be NULL. */
int retry_failed_prepare(const char *errors_path, uint64_t committed_size, uint64_t seed,
                         const retry_codes_t *codes, uint64_t *bits, uint64_t njobs,
                         const char *tmp_out, int out_gz, retry_result_t *res,
                         char *err, size_t errlen);
/* Step 3: rename + fsync of the directory.  0 or -1 (errno). */
int retry_failed_commit(const char *tmp_out, const char *errors_path);
/* Resume with "retry_swap":"pending": renames the tmp over errors_path if
 * it exists.  1 renamed, 0 nothing to do, -1 error (errno). */
int retry_failed_finish_pending(const char *errors_path);
/* Resume without the flag: removes a leftover tmp.  0 or -1 (errno). */
int retry_failed_discard(const char *errors_path);

/* The whole protocol on the run's checkpoint (steps 1 to 4; seed =
 * ck->input_hash, committed size = ck->errors_size, the bitmap = ck->bits).
 * Call it after the checkpoint is loaded (and after retry_failed_resume),
 * before the errors file is opened.  It also lowers stats->failed by the
 * lines removed (and stats->invalid by the invalid_input ones), clears
 * ck->complete when a job became pending and ck->ordered (new lines will
 * be appended in completion order).  errors_gz: the errors file's
 * compression (gzip when its name ends in ".gz").  0, or -1 with a message
 * in err (nothing durable changed if it fails before step 2; after it, the
 * rerun finishes through retry_failed_resume()). */
struct ckpt;
struct stats;
int retry_failed_apply(struct ckpt *ck, const char *ckpt_path, struct stats *stats,
                       const char *errors, int errors_gz, const retry_codes_t *codes,
                       retry_result_t *res, char *err, size_t errlen);
/* Resume side, right after the checkpoint is loaded: with the flag, renames
 * the tmp if it is still there and saves the checkpoint without the flag;
 * without it, removes a stale tmp.  0, or -1 with a message in err. */
int retry_failed_resume(struct ckpt *ck, const char *ckpt_path, const struct stats *stats,
                        const char *errors, char *err, size_t errlen);

#endif
