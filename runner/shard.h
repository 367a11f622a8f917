/*
 * shard: one job run as N shards (--shard I/N): shard I processes only the
 * jobs whose ordinal (position among the input's non-blank lines, from 0)
 * is I modulo N.  This module owns the spec syntax, the index taken from
 * the schedulers' environment, and the naming rule of a shard's files.
 *
 * Naming rule: ".shard-I-of-N" goes before the extension of every output
 * path (.jsonl.gz, .jsonl, .json, .ckpt; otherwise it is appended), so
 * out.jsonl -> out.shard-0-of-3.jsonl, whose errors, report and checkpoint
 * then derive as usual (out.shard-0-of-3.errors.jsonl,
 * out.shard-0-of-3.report.json, out.shard-0-of-3.jsonl.ckpt).
 */
#ifndef LLMB_SHARD_H
#define LLMB_SHARD_H
#include <stddef.h>
#include <stdint.h>

#define SHARD_MAX 100000u

/* Parses "I/N", "auto/N" or "/N" (the index from JOB_COMPLETION_INDEX,
 * else SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN when set).
 * 0, or -1 with a message in err. */
int      shard_parse(const char *spec, unsigned *i, unsigned *n, char *err, size_t errlen);
/* The path of shard i of n for path (naming rule above); malloc'd, NULL on
 * out of memory. */
char    *shard_path(const char *path, unsigned i, unsigned n);
/* How many of ordinals 0..njobs-1 belong to shard i of n (n 0: all). */
uint64_t shard_jobs(uint64_t njobs, unsigned i, unsigned n);

#endif
