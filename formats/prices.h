/*
 * prices: the price table (samples/prices.json or --prices FILE).
 *
 * File format (JSON):
 *   {"updated":"YYYY-MM-DD","source":"...",
 *    "models":{"gpt-4o":{"input":2.5,"cached_input":1.25,"cache_write":2.5,
 *              "output":10,"max_output_tokens":16384,"part_tokens":1600},..}}
 * Batch APIs: optional top-level "batch_discount":{"openai":0.5,"anthropic":0.5}
 * (the fraction taken off every rate; default 0.5 for both) and an optional
 * per-model "batch_discount" that overrides its provider's.
 * Prices are USD per 1M tokens; held as picodollars per token (exact).
 * part_tokens (optional) is the worst-case tokens of one non-text content
 * part (image, audio, file); without it such jobs cannot be bounded.
 * Lookup: exact model id first, then the longest table key that is a prefix
 * of the model id (so "gpt-4o-mini-2024-07-18" matches "gpt-4o-mini").
 */
#ifndef LLMB_PRICES_H
#define LLMB_PRICES_H
#include <stdint.h>
#include <stddef.h>
#include "money.h"
#include "job.h"
#include "provider.h"

typedef struct price {
    char    *model;
    money_t  input, cached_input, cache_write, output;   /* per token */
    uint64_t max_output_tokens;
    uint64_t part_tokens;                                 /* 0 = unknown */
    int32_t  batch_discount_ppm;   /* per-model "batch_discount" in millionths;
                                      -1: the provider's (prices_t) */
} price_t;

typedef struct prices {
    price_t *v;
    size_t   n;
    char    *path;
    char    *updated;
    char    *source;
    int32_t  batch_discount_ppm[2];   /* per dialect_t, millionths (default
                                         500000: both providers halve batch prices) */
} prices_t;

/* Loads and validates a table.  NULL with a message naming the file and the
 * problem in err. */
prices_t *prices_load(const char *path, char *err, size_t errlen);
void prices_free(prices_t *p);
const price_t *prices_lookup(const prices_t *p, const char *model);

/* The batch-API price of p for a job of dialect d: every rate minus the
 * discount, rounded up to a whole picodollar per token (reservations and
 * costs never undershoot).  *out shares p's model string. */
void price_batch(const prices_t *t, const price_t *p, dialect_t d, price_t *out);
/* Cost of a response's usage. */
money_t price_cost(const price_t *p, const usage_t *u);

/* Upper bound of what a job can be billed (see README "Spend cap"):
 *   input  <= body bytes (+1024 tokens if it has tools, Anthropic's tool
 *             prompt) at the dearest of the input / cache-write / cached
 *             prices, + nontext_parts * part_tokens;
 *   output <= (max_output or the model's max_output_tokens) * n.
 * Returns 0, or -1 with the reason in err when the job cannot be bounded
 * (non-text parts and no part_tokens). */
int price_reservation(const price_t *p, const job_t *j, money_t *out,
                      char *err, size_t errlen);

/* Rate weight in tokens, as OpenAI counts it: text bytes/4 + output limit*n.
 * p may be NULL (then max_output 0 counts as 4096). */
uint64_t job_token_weight(const price_t *p, const job_t *j);

/* Expected output tokens for "estimate" (a quarter of the output limit,
 * at least 1; embeddings 0). */
uint64_t job_expected_output(const price_t *p, const job_t *j);

#endif
