/*
 * ratelimit_hdr: what servers announce about their limits.
 *   OpenAI:    x-ratelimit-{limit,remaining,reset}-{requests,tokens};
 *              reset is a Go-style duration: "1s", "20ms", "6m0s",
 *              "4m12.172s", "1h2m3s", "0.5s", "250us".
 *   Anthropic: anthropic-ratelimit-{requests,tokens,input-tokens,
 *              output-tokens}-{limit,remaining,reset}; reset is an RFC 3339
 *              time ("2026-11-26T05:00:12Z", with fraction and offset).
 * All fields are -1 when not announced.  Reset values are converted to
 * milliseconds from now (never negative).
 */
#ifndef LLMB_RATELIMIT_HDR_H
#define LLMB_RATELIMIT_HDR_H
#include <stdint.h>
#include "headers.h"
#include "timefmt.h"   /* rl_parse_duration_ms, rl_parse_rfc3339_ms */

typedef struct rl_info {
    int64_t limit_requests, remaining_requests, reset_requests_ms;
    int64_t limit_tokens,   remaining_tokens,   reset_tokens_ms;
} rl_info_t;

/* Returns 1 if any rate-limit header was found, else 0. */
int rl_parse_headers(const headers_t *h, int64_t now_ms, rl_info_t *out);

#endif
