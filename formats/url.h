/* url: joining a base URL and an API path without doubling "/v1". */
#ifndef LLMB_URL_H
#define LLMB_URL_H
#include <stddef.h>

/* base "http://h:8000", "http://h:8000/", "http://h:8000/v1" or
 * "http://h:8000/v1/" joined with path "/v1/chat/completions" all give
 * "http://h:8000/v1/chat/completions".  A base with another path prefix
 * ("https://gw/openai/v1") keeps it.  Returns a malloc'd string or NULL. */
char *url_join(const char *base, const char *path);

/* 0 if base is a usable API base: http:// or https:// (any case), a
 * non-empty host, no spaces or control characters.  Else -1 with the
 * problem in err ("is empty", "uses ftp://; only http:// and https:// are
 * supported", ...). */
int url_check_base(const char *base, char *err, size_t errlen);

#endif
