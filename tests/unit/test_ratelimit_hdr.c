/*
 * test_ratelimit_hdr: Go durations, RFC 3339 instants and both providers'
 * rate-limit header sets (formats/ratelimit_hdr.c).
 */
#include "tap.h"
#include "ratelimit_hdr.h"

static int64_t dur(const char *s)
{
    int64_t ms = -99;
    if (rl_parse_duration_ms(s, &ms) < 0)
        return -1;
    return ms;
}

static int64_t t3339(const char *s)
{
    int64_t ms = -99;
    if (rl_parse_rfc3339_ms(s, &ms) < 0)
        return -1;
    return ms;
}

/* 2026-11-26T05:00:12Z */
#define T0 1795669212000LL

int main(void)
{
    headers_t h;
    rl_info_t r;

    /* Go durations (rounded up to ms) */
    CHECK_INT(dur("1s"), 1000);
    CHECK_INT(dur("20ms"), 20);
    CHECK_INT(dur("6m0s"), 360000);
    CHECK_INT(dur("4m12.172s"), 252172);
    CHECK_INT(dur("1h2m3s"), 3723000);
    CHECK_INT(dur("0.5s"), 500);
    CHECK_INT(dur("250us"), 1);
    CHECK_INT(dur("250\xc2\xb5s"), 1);
    CHECK_INT(dur("1500us"), 2);
    CHECK_INT(dur("100ns"), 1);
    CHECK_INT(dur("1.5m"), 90000);
    CHECK_INT(dur("1.5h"), 5400000);
    CHECK_INT(dur("0s"), 0);
    CHECK_INT(dur("0"), 0);
    CHECK_INT(dur("2ms500us"), 3);
    CHECK_INT(dur("1.0000000001s"), 1001);     /* sub-ns fraction rounds up */
    CHECK_INT(dur("59.999s"), 59999);
    CHECK_INT(dur(""), -1);
    CHECK_INT(dur("s"), -1);
    CHECK_INT(dur("1"), -1);
    CHECK_INT(dur("1x"), -1);
    CHECK_INT(dur("-1s"), -1);
    CHECK_INT(dur("1s "), -1);
    CHECK_INT(dur(".s"), -1);
    CHECK_INT(dur("99999999999999999999h"), -1);
    CHECK_INT(dur("9999999999h"), -1);

    /* RFC 3339 */
    CHECK_INT(t3339("1970-01-01T00:00:00Z"), 0);
    CHECK_INT(t3339("2026-11-26T05:00:12Z"), T0);
    CHECK_INT(t3339("2026-11-26T05:00:12.345Z"), T0 + 345);
    CHECK_INT(t3339("2026-11-26T05:00:12.3Z"), T0 + 300);
    CHECK_INT(t3339("2026-11-26T05:00:12.3451Z"), T0 + 346);
    CHECK_INT(t3339("2026-11-26T05:00:12+01:00"), T0 - 3600000);
    CHECK_INT(t3339("2026-11-26T05:00:12-05:30"), T0 + 19800000);
    CHECK_INT(t3339("2026-11-26t05:00:12z"), T0);
    CHECK_INT(t3339("2026-11-26 05:00:12Z"), T0);
    CHECK_INT(t3339("2024-02-29T00:00:00Z"), 1709164800000LL);
    CHECK_INT(t3339("2000-03-01T00:00:00Z"), 951868800000LL);
    CHECK_INT(t3339("2026-11-26T05:00:12"), -1);     /* no offset */
    CHECK_INT(t3339("2025-02-29T00:00:00Z"), -1);
    CHECK_INT(t3339("2026-13-01T00:00:00Z"), -1);
    CHECK_INT(t3339("2026-11-26T24:00:00Z"), -1);
    CHECK_INT(t3339("2026-11-26T05:00:12.Z"), -1);
    CHECK_INT(t3339("2026-11-26T05:00:12Zx"), -1);
    CHECK_INT(t3339("2026-11-26"), -1);
    CHECK_INT(t3339(""), -1);
    CHECK_INT(t3339("26-11-26T05:00:12Z"), -1);

    /* OpenAI headers */
    headers_init(&h);
    CHECK_INT(rl_parse_headers(&h, T0, &r), 0);
    CHECK_INT(r.limit_requests, -1);
    CHECK_INT(r.reset_tokens_ms, -1);
    headers_add(&h, "x-ratelimit-limit-requests", "500");
    headers_add(&h, "x-ratelimit-remaining-requests", "499");
    headers_add(&h, "x-ratelimit-reset-requests", "120ms");
    headers_add(&h, "x-ratelimit-limit-tokens", "30000");
    headers_add(&h, "x-ratelimit-remaining-tokens", "29000");
    headers_add(&h, "x-ratelimit-reset-tokens", "6m0s");
    CHECK_INT(rl_parse_headers(&h, T0, &r), 1);
    CHECK_INT(r.limit_requests, 500);
    CHECK_INT(r.remaining_requests, 499);
    CHECK_INT(r.reset_requests_ms, 120);
    CHECK_INT(r.limit_tokens, 30000);
    CHECK_INT(r.remaining_tokens, 29000);
    CHECK_INT(r.reset_tokens_ms, 360000);
    headers_clear(&h);
    headers_add(&h, "x-ratelimit-remaining-tokens", "-5");
    headers_add(&h, "x-ratelimit-limit-tokens", "12abc");
    headers_add(&h, "x-ratelimit-reset-tokens", "soon");
    CHECK_INT(rl_parse_headers(&h, T0, &r), 0);
    CHECK_INT(r.remaining_tokens, -1);
    CHECK_INT(r.limit_tokens, -1);
    CHECK_INT(r.reset_tokens_ms, -1);

    /* Anthropic, combined tokens bucket */
    headers_clear(&h);
    headers_add(&h, "anthropic-ratelimit-requests-limit", "50");
    headers_add(&h, "anthropic-ratelimit-requests-remaining", "49");
    headers_add(&h, "anthropic-ratelimit-requests-reset", "2026-11-26T05:00:13.5Z");
    headers_add(&h, "anthropic-ratelimit-tokens-limit", "100000");
    headers_add(&h, "anthropic-ratelimit-tokens-remaining", "90000");
    headers_add(&h, "anthropic-ratelimit-tokens-reset", "2026-11-26T05:00:12Z");
    headers_add(&h, "anthropic-ratelimit-input-tokens-remaining", "10");
    CHECK_INT(rl_parse_headers(&h, T0 + 500, &r), 1);
    CHECK_INT(r.limit_requests, 50);
    CHECK_INT(r.remaining_requests, 49);
    CHECK_INT(r.reset_requests_ms, 1000);
    CHECK_INT(r.limit_tokens, 100000);
    CHECK_INT(r.remaining_tokens, 90000);    /* tokens-* wins over input-* */
    CHECK_INT(r.reset_tokens_ms, 0);         /* in the past: 0, not negative */

    /* Anthropic, only input/output buckets: the tighter one */
    headers_clear(&h);
    headers_add(&h, "anthropic-ratelimit-input-tokens-limit", "80000");
    headers_add(&h, "anthropic-ratelimit-input-tokens-remaining", "70000");
    headers_add(&h, "anthropic-ratelimit-input-tokens-reset", "2026-11-26T05:01:12Z");
    headers_add(&h, "anthropic-ratelimit-output-tokens-limit", "16000");
    headers_add(&h, "anthropic-ratelimit-output-tokens-remaining", "1000");
    headers_add(&h, "anthropic-ratelimit-output-tokens-reset", "2026-11-26T05:00:22+00:00");
    CHECK_INT(rl_parse_headers(&h, T0, &r), 1);
    CHECK_INT(r.limit_tokens, 16000);
    CHECK_INT(r.remaining_tokens, 1000);
    CHECK_INT(r.reset_tokens_ms, 10000);
    CHECK_INT(r.limit_requests, -1);
    /* one bucket only */
    headers_clear(&h);
    headers_add(&h, "anthropic-ratelimit-input-tokens-remaining", "7");
    CHECK_INT(rl_parse_headers(&h, T0, &r), 1);
    CHECK_INT(r.remaining_tokens, 7);
    CHECK_INT(r.limit_tokens, -1);
    /* a bad reset stays unknown */
    headers_clear(&h);
    headers_add(&h, "anthropic-ratelimit-requests-reset", "tomorrow");
    CHECK_INT(rl_parse_headers(&h, T0, &r), 0);
    headers_release(&h);
    return tap_done();
}
