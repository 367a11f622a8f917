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

#include "civil.h"

#define NS_PER_MS 1000000ULL

static int rl_isdigit(char c)
{
    return c >= '0' && c <= '9';
}

/* Unit suffix at p: nanoseconds per unit and its length, or 0. */
static uint64_t rl_unit(const char *p, size_t *len)
{
    if (strncmp(p, "ns", 2) == 0) { *len = 2; return 1ULL; }
    if (strncmp(p, "us", 2) == 0) { *len = 2; return 1000ULL; }
    if (strncmp(p, "\xc2\xb5s", 3) == 0) { *len = 3; return 1000ULL; } /* µ */
    if (strncmp(p, "\xce\xbcs", 3) == 0) { *len = 3; return 1000ULL; } /* μ */
    if (strncmp(p, "ms", 2) == 0) { *len = 2; return NS_PER_MS; }
    if (*p == 's') { *len = 1; return 1000ULL * NS_PER_MS; }
    if (*p == 'm') { *len = 1; return 60ULL * 1000 * NS_PER_MS; }
    if (*p == 'h') { *len = 1; return 3600ULL * 1000 * NS_PER_MS; }
    return 0;
}

int rl_parse_duration_ms(const char *s, int64_t *ms)
{
    uint64_t total_ns = 0;
    const char *p = s;

    if (!s || !ms)
        return -1;
    if (*p == '+')
        p++;
    if (strcmp(p, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*p == '\0')
        return -1;
    while (*p) {
        uint64_t whole = 0, frac = 0, fscale = 1, unit, part;
        int nd = 0, frac_rest = 0;
        size_t ulen = 0;

        while (rl_isdigit(*p)) {
            if (whole > (UINT64_MAX - 9) / 10)
                return -1;
            whole = whole * 10 + (uint64_t)(*p - '0');
            p++;
            nd++;
        }
        if (*p == '.') {
            p++;
            while (rl_isdigit(*p)) {
                if (fscale < 1000000000ULL) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    fscale *= 10;
                } else if (*p != '0') {
                    frac_rest = 1;      /* below 1e-9 of a unit: round up */
                }
                p++;
                nd++;
            }
        }
        if (nd == 0)
            return -1;
        unit = rl_unit(p, &ulen);
        if (!unit)
            return -1;
        p += ulen;
        if (whole && unit > UINT64_MAX / whole)
            return -1;
        part = whole * unit;
        /* frac/fscale of a unit, in ns, rounded up, without overflow:
         * unit = q*fscale + r  =>  frac*unit/fscale = frac*q + frac*r/fscale */
        {
            uint64_t q = unit / fscale, r = unit % fscale;
            uint64_t fr = frac * q + (frac * r + fscale - 1) / fscale;
            if (frac_rest)
                fr++;
            if (part > UINT64_MAX - fr)
                return -1;
            part += fr;
        }
        if (total_ns > UINT64_MAX - part)
            return -1;
        total_ns += part;
    }
    {
        uint64_t r = total_ns / NS_PER_MS + (total_ns % NS_PER_MS != 0);
        if (r > (uint64_t)INT64_MAX)
            return -1;
        *ms = (int64_t)r;
    }
    return 0;
}

/* Reads exactly n digits at *p; -1 if they are not all digits. */
static int rl_digits(const char **p, int n)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (!rl_isdigit((*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

int rl_parse_rfc3339_ms(const char *s, int64_t *epoch_ms)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, ms = 0, off_min = 0;
    int64_t t;

    if (!s || !epoch_ms)
        return -1;
    if ((y = rl_digits(&p, 4)) < 0 || *p++ != '-' ||
        (mo = rl_digits(&p, 2)) < 0 || *p++ != '-' ||
        (d = rl_digits(&p, 2)) < 0)
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if ((h = rl_digits(&p, 2)) < 0 || *p++ != ':' ||
        (mi = rl_digits(&p, 2)) < 0 || *p++ != ':' ||
        (sec = rl_digits(&p, 2)) < 0)
        return -1;
    if (*p == '.') {
        int nd = 0, rest = 0;
        p++;
        while (rl_isdigit(*p)) {
            if (nd < 3)
                ms = ms * 10 + (*p - '0');
            else if (*p != '0')
                rest = 1;
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (; nd < 3; nd++)
            ms *= 10;
        if (rest)
            ms++;               /* round up: never resume early */
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if ((oh = rl_digits(&p, 2)) < 0 || *p++ != ':' ||
            (om = rl_digits(&p, 2)) < 0 || oh > 23 || om > 59)
            return -1;
        off_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    if (ms == 1000) {
        ms = 999;
    }
    t = civil_epoch_ms(y, mo, d, h, mi, sec, ms);
    if (t < 0)
        return -1;
    *epoch_ms = t - (int64_t)off_min * 60000;
    return 0;
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
