/*
 * provider_int: what formats/provider.c shares with the per-dialect files
 * (provider_openai.c, provider_anthropic.c).  Private to formats/.
 */
#ifndef LLMB_PROVIDER_INT_H
#define LLMB_PROVIDER_INT_H
#include <jansson.h>
#include "provider.h"

/* A non-negative integer member (null / absent / negative / not an
 * integer -> 0); *found is set to 1 when the member is a usable integer. */
uint64_t prov_uint_member(const json_t *obj, const char *key, int *found);

/* Fill u from a "usage" object.  Return 1 when it had the dialect's token
 * fields, else 0 (u zeroed). */
int prov_openai_usage(const json_t *usage, usage_t *u);
int prov_anthropic_usage(const json_t *usage, usage_t *u);

#endif
