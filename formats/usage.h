/*
 * usage: normalised token usage of one reply, the same for every dialect.
 * Filled by provider.c (provider_usage) from a success body, priced by
 * prices.c (price_cost) and summed by stats.c.  Plain data, no ownership.
 */
#ifndef LLMB_USAGE_H
#define LLMB_USAGE_H
#include <stdint.h>

/* `input` is billed at the input price, excluding cached and cache-write
 * tokens; `reasoning` is a part of `output`. */
typedef struct usage {
    uint64_t input;
    uint64_t cached_input;
    uint64_t cache_write;
    uint64_t output;
    uint64_t reasoning;
    int      present;        /* 0: the body had no usable "usage"; 1: input
                                and output counts; 2: only an input or total
                                count (complete only for embeddings) */
} usage_t;

#endif
