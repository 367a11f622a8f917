/*
 * headers: the response header list of one HTTP response, as collected by
 * runner/pool from curl's header callback.  Names are stored lower-cased;
 * values are trimmed of surrounding whitespace.  The list owns its strings.
 */
#ifndef LLMB_HEADERS_H
#define LLMB_HEADERS_H
#include <stddef.h>

typedef struct header {
    char *name;
    char *value;
} header_t;

/* Bounds on one response's header block (memory stays bounded whatever a
 * server sends).  A single header line over 100 KB is refused by curl
 * itself first (CURL_MAX_HTTP_HEADER); these cap the block as a whole. */
#define HEADERS_MAX_BYTES ((size_t)256 << 10)   /* names + values */
#define HEADERS_MAX_COUNT 2000
#define HEADERS_TOO_LARGE (-2)
#define HEADERS_TOO_LARGE_MSG "response header too large"

typedef struct headers {
    header_t *v;
    size_t    n, cap;
    size_t    bytes;             /* names + values stored */
} headers_t;

void headers_init(headers_t *h);
void headers_release(headers_t *h);
/* Drops all entries (keeps storage); used when curl reports a new response
 * (e.g. after a 100-continue or a redirect). */
void headers_clear(headers_t *h);
/* Adds a raw header line as received ("Name: value\r\n"); lines without a
 * colon (the status line, the blank line) are ignored.  -1 on ENOMEM,
 * HEADERS_TOO_LARGE when the block would pass HEADERS_MAX_BYTES or
 * HEADERS_MAX_COUNT (the response should then be failed with
 * HEADERS_TOO_LARGE_MSG). */
int  headers_add_line(headers_t *h, const char *line, size_t len);
int  headers_add(headers_t *h, const char *name, const char *value);
/* HEADERS_TOO_LARGE_MSG if a transport error text is curl's refusal of an
 * over-long header line or header block, else NULL, so the failure is
 * named "response header too large" whoever refused it. */
const char *headers_too_large_reason(const char *transport_error);
/* Value of the last header with this (lower-case) name, or NULL. */
const char *headers_get(const headers_t *h, const char *lname);

#endif
