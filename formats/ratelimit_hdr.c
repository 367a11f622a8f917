/*
 * ratelimit_hdr: reads the rate-limit headers both providers send into one
 * rl_info_t (requests and tokens: limit, remaining, ms until reset).
 *
 * OpenAI resets are Go durations, Anthropic resets are RFC 3339 instants;
 * both become "ms from now", rounded up and never negative, so the pacer
 * never resumes early.  Unknown or malformed fields stay -1.
 */
#include "ratelimit_hdr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

static int rl_isdigit(char c)
{
    return c >= '0' && c <= '9';
}

/* A non-negative decimal integer header value; -1 if absent or bad. */
static int64_t rl_int(const headers_t *h, const char *name)
{
    const char *v = headers_get(h, name);
    char *end;
    long long x;

    if (!v || !rl_isdigit(*v))
        return -1;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno || *end != '\0' || x < 0)
        return -1;
    return (int64_t)x;
}

static int64_t rl_openai_reset(const headers_t *h, const char *name)
{
    const char *v = headers_get(h, name);
    int64_t ms;

    if (!v || rl_parse_duration_ms(v, &ms) < 0)
        return -1;
    return ms;
}

static int64_t rl_anthropic_reset(const headers_t *h, const char *name,
                                  int64_t now_ms)
{
    const char *v = headers_get(h, name);
    int64_t at;

    if (!v || rl_parse_rfc3339_ms(v, &at) < 0)
        return -1;
    return at > now_ms ? at - now_ms : 0;
}

/* The smaller of two optional (-1 = unknown) values. */
static int64_t rl_min(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

int rl_parse_headers(const headers_t *h, int64_t now_ms, rl_info_t *out)
{
    rl_info_t r;

    r.limit_requests = rl_int(h, "x-ratelimit-limit-requests");
    r.remaining_requests = rl_int(h, "x-ratelimit-remaining-requests");
    r.reset_requests_ms = rl_openai_reset(h, "x-ratelimit-reset-requests");
    r.limit_tokens = rl_int(h, "x-ratelimit-limit-tokens");
    r.remaining_tokens = rl_int(h, "x-ratelimit-remaining-tokens");
    r.reset_tokens_ms = rl_openai_reset(h, "x-ratelimit-reset-tokens");

    if (r.limit_requests < 0)
        r.limit_requests = rl_int(h, "anthropic-ratelimit-requests-limit");
    if (r.remaining_requests < 0)
        r.remaining_requests = rl_int(h, "anthropic-ratelimit-requests-remaining");
    if (r.reset_requests_ms < 0)
        r.reset_requests_ms =
            rl_anthropic_reset(h, "anthropic-ratelimit-requests-reset", now_ms);

    if (r.limit_tokens < 0 && r.remaining_tokens < 0 && r.reset_tokens_ms < 0) {
        r.limit_tokens = rl_int(h, "anthropic-ratelimit-tokens-limit");
        r.remaining_tokens = rl_int(h, "anthropic-ratelimit-tokens-remaining");
        r.reset_tokens_ms =
            rl_anthropic_reset(h, "anthropic-ratelimit-tokens-reset", now_ms);
    }
    if (r.limit_tokens < 0 && r.remaining_tokens < 0 && r.reset_tokens_ms < 0) {
        /* No combined bucket: the tighter of the input and output buckets. */
        r.limit_tokens =
            rl_min(rl_int(h, "anthropic-ratelimit-input-tokens-limit"),
                   rl_int(h, "anthropic-ratelimit-output-tokens-limit"));
        r.remaining_tokens =
            rl_min(rl_int(h, "anthropic-ratelimit-input-tokens-remaining"),
                   rl_int(h, "anthropic-ratelimit-output-tokens-remaining"));
        r.reset_tokens_ms =
            rl_min(rl_anthropic_reset(h, "anthropic-ratelimit-input-tokens-reset", now_ms),
                   rl_anthropic_reset(h, "anthropic-ratelimit-output-tokens-reset", now_ms));
    }
    if (out)
        *out = r;
    return r.limit_requests >= 0 || r.remaining_requests >= 0 ||
           r.reset_requests_ms >= 0 || r.limit_tokens >= 0 ||
           r.remaining_tokens >= 0 || r.reset_tokens_ms >= 0;
}
