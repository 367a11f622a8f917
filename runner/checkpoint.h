/*
 * checkpoint: the durable state of a job, so that rerunning the same command
 * resumes it (see README "Checkpoint and resume").
 *
 * It records: the input's identity (size + content hash) and a hash of the
 * settings that change what is sent; the committed sizes of the results and
 * errors files; a bitmap of the jobs (by ordinal) that have their line in
 * one of them; the reservation high-water mark (money that may be in flight,
 * counted as possibly billed if the run dies); and the cumulative stats.
 *
 * The file is JSON, written atomically (temp file, fsync, rename, fsync of
 * the directory) after the output files were fsynced, so the checkpoint
 * never names a line that is not on disk.
 */
#ifndef LLMB_CHECKPOINT_H
#define LLMB_CHECKPOINT_H
#include <stdint.h>
#include <stddef.h>
#include <jansson.h>
#include "money.h"
#include "stats.h"

typedef struct ckpt {
    uint64_t input_size, input_hash;
    uint64_t settings_hash;
    char    *input_path;
    char    *results_path, *errors_path;   /* resolved; NULL in older checkpoints */
    uint64_t results_size, errors_size;
    money_t  hwm;
    uint64_t njobs;          /* bitmap length in bits */
    uint64_t *bits;
    int      complete;       /* every job has its line */
    unsigned dialects;       /* bit (1 << dialect_t) for each dialect the input uses */
    unsigned shard_i, shard_n;  /* --shard I/N (shard_n 0: the whole input) */
    int      legacy;         /* loaded from a format-1 file (no checksum) */
    /* --ordered / sort (runner/reorder.h has the protocol); saved only when set */
    int      ordered;        /* "ordered":true: the outputs are in input order */
    int      reorder_ready;  /* "reorder":"ready": the PATH.reorder.tmp files are
                                complete and fsynced, with these sizes */
    uint64_t reorder_results_size, reorder_errors_size;
    /* --retry-failed (runner/retry_failed.h): "retry_swap":"pending" */
    int      retry_swap;
} ckpt_t;

void ckpt_init(ckpt_t *c);
void ckpt_release(ckpt_t *c);
/* Sizes the bitmap for n jobs (grows; keeps bits).  0 / -1. */
int  ckpt_resize(ckpt_t *c, uint64_t n);
static inline int ckpt_done(const ckpt_t *c, uint64_t i)
{
    return i < c->njobs && (c->bits[i >> 6] >> (i & 63)) & 1;
}
static inline void ckpt_mark(ckpt_t *c, uint64_t i)
{
    if (i < c->njobs)
        c->bits[i >> 6] |= (uint64_t)1 << (i & 63);
}
uint64_t ckpt_count_done(const ckpt_t *c);
/* The jobs this run owns: all njobs, or shard_i's share of them (shard.h). */
uint64_t ckpt_jobs(const ckpt_t *c);

/* 1 loaded, 0 no such file, -1 unreadable/corrupt (message in err, saying
 * what is wrong and what to do).  Refused: a checksum that does not match,
 * a damaged header, a bitmap whose length disagrees with the job count,
 * done bits beyond the last job, "complete" with jobs not done, negative or
 * overflowing money.  A format-1 file (no checksum) loads with legacy set.
 * stats may be NULL. */
int  ckpt_load(const char *path, ckpt_t *c, stats_t *stats, char *err, size_t errlen);
/* Before a resume: 0 if the results and errors files hold at least the
 * bytes the checkpoint committed (a longer file is an uncommitted tail that
 * the run cuts); else -1 with a message (file shortened by hand, or
 * missing) and what to do.  Notes a legacy checkpoint on stderr. */
int  ckpt_check_resume(const ckpt_t *c, const char *ckpt_path, const char *results,
                       const char *errors, char *err, size_t errlen);
/* Atomic durable write of format 2 (with its checksum); 0 or -1 (errno). */
int  ckpt_save(const char *path, const ckpt_t *c, const stats_t *stats);

#endif
