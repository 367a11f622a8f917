/*
 * timefmt: parsers for the time formats in server replies, all without a
 * clock, locale or TZ, all in UTC epoch milliseconds:
 *   - HTTP-date (retry-after): IMF-fixdate, RFC 850 and asctime;
 *   - RFC 3339 instants (anthropic-ratelimit-*-reset), with fraction and
 *     offset, rounded up to the millisecond (a pacer never resumes early);
 *   - Go durations (x-ratelimit-reset-*): "1s", "6m0s", "4m12.172s",
 *     "250us", rounded up to the millisecond.
 * The names keep their historical prefixes (callers in provider.c and
 * ratelimit_hdr.c, tests and fuzz targets use them).
 */
#ifndef LLMB_TIMEFMT_H
#define LLMB_TIMEFMT_H
#include <stdint.h>

/* HTTP-date -> epoch ms, or -1 if malformed or before 1970. */
int64_t http_date_ms(const char *s);
/* Go duration -> ms (rounded up).  0 on success, -1 if malformed. */
int rl_parse_duration_ms(const char *s, int64_t *ms);
/* RFC 3339 -> epoch ms.  0 on success, -1 if malformed. */
int rl_parse_rfc3339_ms(const char *s, int64_t *epoch_ms);

#endif
