/*
 * canon: canonical JSON text, so that two requests that differ only in key
 * order or whitespace get the same bytes (and so the same cache key).
 *
 * The canonical form: object keys sorted bytewise, compact (no whitespace),
 * every non-ASCII character and control character escaped as \uXXXX, numbers
 * as jansson prints them (integers exactly; reals with 17 significant digits,
 * which round-trips a double).  An integer and a real are different values
 * (1 != 1.0).  Duplicate keys: the last one wins.
 */
#ifndef LLMB_CANON_H
#define LLMB_CANON_H
#include <stddef.h>
#include <jansson.h>
#include "buf.h"

/* Parses len bytes of JSON (any value, surrounding whitespace allowed) and
 * APPENDS its canonical form to out.  Returns 0, or -1 if the text is not
 * valid JSON (or on out of memory); on -1 out is left as it was. */
int canon_json(const char *text, size_t len, buf_t *out);

/* Smallest %g precision (15..17) at which every real in v prints back to
 * the same double, for JSON_REAL_PRECISION: 0.7 stays "0.7" instead of
 * jansson's default "0.69999999999999996". */
int json_real_precision(const json_t *v);

/* The identity of a request, for the cache and in-run dedup: SHA-256 over
 * the dialect name, "\n", the url path, "\n" and the canonical JSON of the
 * body.  The API key and custom_id are never part of it.  0 or -1. */
int canon_request_key(const char *dialect, const char *path, const json_t *body,
                      unsigned char out[32]);

#endif
