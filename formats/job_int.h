/*
 * job_int: what job.c shares with job_fast.c.  Private to formats/.
 */
#ifndef LLMB_JOB_INT_H
#define LLMB_JOB_INT_H
#include <stddef.h>
#include "job.h"

#define JOB_MAX_ID 512          /* longest custom_id, bytes */

/* The JOB_FAST path: 1 if the line was taken apart here (out filled), 0 if
 * the full parser must decide (it also produces the error messages), -1 on
 * ENOMEM.  out must be zeroed except ordinal/lineno/n. */
int job_parse_fast(const char *line, size_t len, const job_defaults_t *defs,
                   job_t *out);

/* JOB_RAW_KEY: fills out->key from dialect, endpoint and body bytes. */
void job_raw_key(job_t *out);

#endif
