/*
 * provider: turns one HTTP response (status, headers, body) into an outcome,
 * in each provider's wire dialect.  No curl, no clock: `now_ms` (Unix epoch
 * milliseconds) is passed in so parsing is testable with plain strings.
 *
 * Classification (the same for both dialects unless noted):
 *   success      2xx whose body is a JSON object (any RFC 8259 JSON:
 *                \u0000 in strings and numbers of any size included;
 *                a usage number too wide for 64 bits leaves usage.present
 *                0, so the reply is charged as estimated)
 *   retry        408, 409, 429 (rate limit), 500, 502, 503, 504, 529, other
 *                5xx, a truncated/unparseable 2xx body; x-should-retry: true
 *                makes any status retryable, x-should-retry: false makes a
 *                retryable status final
 *   final        any other 4xx (400, 404, 413, 422, ...)
 *   key_invalid  401, 403
 *   key_exhausted 429 (or 402/403/400) whose error code/type is
 *                insufficient_quota, billing_hard_limit_reached,
 *                billing_not_active, or whose message says the credit
 *                balance is too low / spend limit reached
 * Transport errors (no status) are classified by the caller as retry.
 */
#ifndef LLMB_PROVIDER_H
#define LLMB_PROVIDER_H
#include <stdint.h>
#include <stddef.h>
#include <jansson.h>
#include "headers.h"
#include "job.h"
#include "timefmt.h"
#include "usage.h"

/* The Anthropic API version every Anthropic request names (one copy:
 * the run and `llmbatch keys` both send PROVIDER_ANTHROPIC_VERSION_HEADER). */
#define PROVIDER_ANTHROPIC_VERSION "2023-06-01"
#define PROVIDER_ANTHROPIC_VERSION_HEADER "anthropic-version: " PROVIDER_ANTHROPIC_VERSION

/* The base URL a dialect's requests go to when neither --base-url nor the
 * environment variable provider_base_url_env(d) names one:
 * "https://api.openai.com/v1" or "https://api.anthropic.com" (endpoint
 * paths are joined with url_join, which drops a repeated "/v1"). */
const char *provider_default_base_url(dialect_t d);
/* "OPENAI_BASE_URL" or "ANTHROPIC_BASE_URL". */
const char *provider_base_url_env(dialect_t d);

typedef enum outcome_kind {
    OUT_SUCCESS = 0,
    OUT_RETRY,
    OUT_FINAL,
    OUT_KEY_INVALID,
    OUT_KEY_EXHAUSTED
} outcome_kind_t;

typedef struct outcome {
    outcome_kind_t kind;
    int      rate_limited;   /* a 429 that is about rate, not quota */
    int64_t  retry_after_ms; /* from retry-after-ms / retry-after; -1 none */
    usage_t  usage;
    json_t  *body;           /* parsed body (owned).  NULL if not JSON, and
                                also for a success whose body is one JSON
                                object on one line, or holds a number
                                jansson cannot (wider than 64 bits): only
                                its usage is parsed, the caller embeds the
                                bytes (results_success_raw) */
    char     code[64];       /* error code, e.g. "rate_limit_exceeded" */
    char     message[512];   /* server's message or our reason */
} outcome_t;

void outcome_init(outcome_t *o);
void outcome_release(outcome_t *o);

/* Classifies a complete HTTP response.  Always fills `o` (never fails). */
void provider_classify(dialect_t d, long status, const headers_t *h,
                       const char *body, size_t body_len, int64_t now_ms,
                       outcome_t *o);

/* Extracts usage from a parsed success body. Returns 1 if present, else 0. */
int  provider_usage(dialect_t d, const json_t *body, usage_t *u);

/* Milliseconds to wait as the server asks: retry-after-ms (may be
 * fractional), else retry-after as delta-seconds (may be fractional) or an
 * HTTP-date (IMF-fixdate, RFC 850, asctime).  -1 when absent or invalid;
 * a date in the past gives 0. */
int64_t provider_retry_after_ms(const headers_t *h, int64_t now_ms);

/* x-should-retry: 1 true, 0 false, -1 absent. */
int provider_should_retry(const headers_t *h);

/* The request id header: x-request-id, else request-id; NULL if none. */
const char *provider_request_id(const headers_t *h);

#endif
