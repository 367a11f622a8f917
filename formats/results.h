/*
 * results: output lines in the OpenAI batch output format, one JSON object
 * per line, always ending in "\n":
 *   {"id":"batch_req_<hex>","custom_id":..,"response":{"status_code":200,
 *    "request_id":..,"body":<response JSON>},"error":null}
 * Failures (errors file) use the same shape with "error":{"code","message"}
 * and "response" holding the last status and body (or null).
 * A reply served from the cache carries an extra top-level member
 * "llmbatch":{"cache":"hit"}, and one coalesced with an identical request
 * in flight "llmbatch":{"dedup":"coalesced"}; readers of the format ignore
 * unknown members.
 */
#ifndef LLMB_RESULTS_H
#define LLMB_RESULTS_H
#include <stdint.h>
#include <jansson.h>
#include "buf.h"

/* id: a stable "batch_req_" + 24 hex digits derived from seed and ordinal. */
int results_success_line(buf_t *out, uint64_t seed, uint64_t ordinal,
                         const char *custom_id, long status,
                         const char *request_id, const json_t *body,
                         int mark);
/* The same, embedding `raw` (the server's JSON text, which the caller has
 * parsed into `body` or validated) byte for byte when it is one object on
 * one line; otherwise `body` is re-serialised compactly.  With body NULL
 * (jansson could not hold the reply, e.g. an integer wider than 64 bits)
 * raw is embedded without the whitespace between its tokens when it is
 * valid JSON, else as null. */
int results_success_raw(buf_t *out, uint64_t seed, uint64_t ordinal,
                        const char *custom_id, long status,
                        const char *request_id, const char *raw, size_t raw_len,
                        const json_t *body, int mark);
/* Length of the "batch_req_" ids written here: the prefix + 24 hex digits. */
#define RESULTS_ID_LEN 34
/* The inverse of the id: when `id` (len bytes, without quotes) is the id
 * this module writes for (seed, some ordinal), sets *ordinal and returns 1;
 * otherwise 0.  All 96 bits of the id are checked, so an id written by
 * another tool or for another input is not mistaken for one of ours. */
int results_id_ordinal(const char *id, size_t len, uint64_t seed, uint64_t *ordinal);
enum { RESULTS_MARK_NONE = 0, RESULTS_MARK_CACHE = 1, RESULTS_MARK_COALESCED = 2 };
/* status 0 and body NULL: "response":null.  body may be a non-JSON text
 * (raw_body), then it is embedded as a JSON string. */
int results_error_line(buf_t *out, uint64_t seed, uint64_t ordinal,
                       const char *custom_id, long status,
                       const char *request_id, const json_t *body,
                       const char *raw_body, size_t raw_len,
                       const char *code, const char *message);

#endif
