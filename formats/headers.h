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

typedef struct headers {
    header_t *v;
    size_t    n, cap;
} headers_t;

void headers_init(headers_t *h);
void headers_release(headers_t *h);
/* Drops all entries (keeps storage); used when curl reports a new response
 * (e.g. after a 100-continue or a redirect). */
void headers_clear(headers_t *h);
/* Adds a raw header line as received ("Name: value\r\n"); lines without a
 * colon (the status line, the blank line) are ignored.  -1 on ENOMEM. */
int  headers_add_line(headers_t *h, const char *line, size_t len);
int  headers_add(headers_t *h, const char *name, const char *value);
/* Value of the last header with this (lower-case) name, or NULL. */
const char *headers_get(const headers_t *h, const char *lname);

#endif
