/*
 * fuzz_ratelimit_hdr: the rate-limit and date parsers (ratelimit_hdr.h,
 * timefmt.h's http_date_ms) on NUL-terminated pieces of the input (split
 * at "\n"), and rl_parse_headers over a header list made of those pieces:
 * each piece is added both as a raw header line and as the value of one of
 * the headers the parser reads.
 *
 * Invariants: parsed durations and times are non-negative; an RFC 3339
 * time lies in years 1970..9999 give or take the offset; http_date_ms is
 * -1 or non-negative; rl_parse_headers returns 1 exactly when a field is
 * set, and every field is -1 or non-negative.
 */
#include "fuzz_util.h"

#include "headers.h"
#include "provider.h"
#include "ratelimit_hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS 1764133200000LL   /* 2025-11-26T05:00:00Z */
#define MAX_MS 253402300800000LL /* 10000-01-01T00:00:00Z */

static const char *const rl_names[] = {
    "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
    "anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-limit",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-limit",
    "anthropic-ratelimit-output-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
    "retry-after", "retry-after-ms",
};
#define NNAMES (sizeof rl_names / sizeof rl_names[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    headers_t h;
    rl_info_t info;
    const uint8_t *p = data;
    size_t n = size, k = 0;
    int64_t v, ra;
    int any;

    headers_init(&h);
    while (n > 0 && k < 64) {
        char *s = fuzz_next_field(&p, &n, '\n');

        v = -7;
        if (rl_parse_duration_ms(s, &v) == 0)
            FUZZ_CHECK(v >= 0);
        v = -7;
        if (rl_parse_rfc3339_ms(s, &v) == 0)
            FUZZ_CHECK(v >= -24 * 3600000LL && v < MAX_MS + 24 * 3600000LL);
        v = http_date_ms(s);
        FUZZ_CHECK(v == -1 || (v >= 0 && v < MAX_MS));
        FUZZ_CHECK(headers_add_line(&h, s, strlen(s)) == 0);
        if (s[0])
            FUZZ_CHECK(headers_add(&h, rl_names[k % NNAMES], s) == 0);
        free(s);
        k++;
    }
    any = rl_parse_headers(&h, NOW_MS, &info);
    FUZZ_CHECK(any == 0 || any == 1);
    FUZZ_CHECK(info.limit_requests >= -1 && info.remaining_requests >= -1 &&
               info.reset_requests_ms >= -1 && info.limit_tokens >= -1 &&
               info.remaining_tokens >= -1 && info.reset_tokens_ms >= -1);
    FUZZ_CHECK(any == (info.limit_requests >= 0 || info.remaining_requests >= 0 ||
                       info.reset_requests_ms >= 0 || info.limit_tokens >= 0 ||
                       info.remaining_tokens >= 0 || info.reset_tokens_ms >= 0));
    FUZZ_CHECK(rl_parse_headers(&h, NOW_MS, NULL) == any);
    ra = provider_retry_after_ms(&h, NOW_MS);
    FUZZ_CHECK(ra >= -1);
    headers_release(&h);
    return 0;
}
