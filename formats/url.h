/* url: joining a base URL and an API path without doubling "/v1". */
#ifndef LLMB_URL_H
#define LLMB_URL_H

/* base "http://h:8000", "http://h:8000/", "http://h:8000/v1" or
 * "http://h:8000/v1/" joined with path "/v1/chat/completions" all give
 * "http://h:8000/v1/chat/completions".  A base with another path prefix
 * ("https://gw/openai/v1") keeps it.  Returns a malloc'd string or NULL. */
char *url_join(const char *base, const char *path);

#endif
