/*
 * lineid: finds the identity of a line, for joining output lines back to
 * input lines (sort, --ordered, --retry-failed).
 *
 *  - An input line's custom_id exactly as the run assigns it: the line's
 *    "custom_id" member when it is a non-empty string, otherwise "line-N"
 *    (N = the 1-based line number): bare lines, and lines that are not JSON
 *    or carry no usable id (which --skip-invalid reports under "line-N").
 *  - An output line's (OpenAI batch output format) "custom_id" and "id".
 *
 * Values are decoded (JSON escapes resolved) into the caller's buffers.
 * Nothing is kept between calls.
 */
#ifndef LLMB_LINEID_H
#define LLMB_LINEID_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

/* 1 when the line is blank (only spaces and tabs): the run skips it, but it
 * still counts in line numbers. */
int lineid_blank(const char *line, size_t len);

/* Sets id (reset first) to the custom_id the run gives this input line.
 * 0, or -1 on out of memory. */
int lineid_input(const char *line, size_t len, uint64_t lineno, buf_t *id);

/* Reads an output line: custom_id (must be a string) into cid, and the
 * "id" member into bid when it is a string (else bid is left empty).
 * 0, or -1 with the problem in err ("not valid JSON", "not a JSON object",
 * "no \"custom_id\"", "\"custom_id\" is not a string", "out of memory"). */
int lineid_output(const char *line, size_t len, buf_t *cid, buf_t *bid,
                  char *err, size_t errlen);

/* A 64-bit hash of bytes (FNV-1a, then a final mix). */
uint64_t lineid_hash(const char *p, size_t n);

#endif
