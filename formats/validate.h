/*
 * validate: the validation pass over an input, before anything is sent (and
 * the whole of `llmbatch estimate`).  It streams the file once: parses every
 * line, finds duplicate custom_ids, looks every model up in the price table
 * and bounds each job's cost.  No line is kept.  Functions keep the scan_
 * prefix (scan_input, scan_result_t).
 *
 * Every job's custom_id takes part, generated ones ("line-N" for a bare
 * line without custom_id) included: a generated id that an explicit
 * custom_id elsewhere also uses is a duplicate, reported with both lines.
 *
 * Duplicates in bounded memory: a scalable Bloom filter (~10 bits per id,
 * ~1.3 bytes per id in all) answers "maybe seen"; the few candidates are
 * recounted exactly in a second pass that reports each repeat with the line
 * of its first occurrence.  Ids are compared by 64-bit digest (hash.h) in
 * that recount, so two different ids with the same digest (odds ~1e-7 for
 * 2M ids) would be reported as duplicates.
 *
 * Jobs are numbered as the run numbers them (reader_next_job in reader.h):
 * blank lines are skipped and do not count, over-long lines do.
 * Data flow and invariants of formats/: formats/README.md.
 */
#ifndef LLMB_VALIDATE_H
#define LLMB_VALIDATE_H
#include <stdio.h>
#include <stdint.h>
#include "job.h"
#include "money.h"
#include "prices.h"

typedef struct scan_model {
    char    *model;
    int      priced;
    uint64_t jobs;
    uint64_t input_bound;        /* tokens: upper bound (bytes) */
    uint64_t input_expected;     /* tokens: text bytes / 4 */
    uint64_t output_bound, output_expected;
    money_t  worst, expected;
    uint64_t no_max_tokens;      /* jobs reserving the model's whole output limit */
} scan_model_t;

typedef struct scan_result {
    uint64_t lines;              /* all lines */
    uint64_t jobs;               /* non-blank lines (valid or not) */
    uint64_t invalid;            /* lines that failed validation */
    uint64_t unpriced;           /* valid jobs whose model has no price */
    unsigned dialects;           /* bit (1 << dialect_t) for each used */
    scan_model_t *models;
    size_t   nmodels;
    money_t  worst, expected;
    money_t  max_reservation;
    /* with skip_invalid: the ordinals of invalid jobs, ascending, each with
     * its reason in the top byte (SCAN_BAD_*) */
    uint64_t *bad;
    size_t   nbad, capbad;
} scan_result_t;

enum { SCAN_BAD_PARSE = 1, SCAN_BAD_DUP, SCAN_BAD_PRICE, SCAN_BAD_TOOLONG };
#define SCAN_BAD_ORD(x)    ((x) & ((1ULL << 56) - 1))
#define SCAN_BAD_REASON(x) ((int)((x) >> 56))

typedef struct scan_opts {
    const job_defaults_t *defs;
    const prices_t *prices;      /* may be NULL */
    int      need_prices;        /* --budget: unpriced or unboundable jobs are errors */
    int      skip_invalid;       /* invalid lines are counted, not fatal */
    int      exact_bodies;       /* build each body (exact byte bounds, for
                                    --budget and estimate); else the line
                                    length stands in for it */
    unsigned max_report;         /* how many problems to print (then "and N more") */
    FILE    *err;                /* where problems go ("FILE:LINE: problem") */
    const char *name;            /* FILE in those messages (NULL: the path) */
    int      fast;               /* parse as the run will: with JOB_FAST */
} scan_opts_t;

/* Returns 0 if the input can be run, 2 if it has problems (printed to
 * o->err), -1 on an unreadable/corrupt file (printed too). */
int  scan_input(const char *path, const scan_opts_t *o, scan_result_t *r);
void scan_result_release(scan_result_t *r);

#endif
