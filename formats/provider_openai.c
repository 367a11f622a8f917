/*
 * provider_openai: OpenAI's usage shapes, normalised to usage_t.
 *
 *   chat/completions, completions, embeddings:
 *     prompt_tokens (includes cached), prompt_tokens_details.cached_tokens,
 *     completion_tokens (includes reasoning),
 *     completion_tokens_details.reasoning_tokens; embeddings have only
 *     prompt_tokens / total_tokens.
 *   responses:
 *     input_tokens, input_tokens_details.cached_tokens, output_tokens,
 *     output_tokens_details.reasoning_tokens.
 * Normalised: input = prompt - cached (never negative), cached_input =
 * cached, output = completion, reasoning (a part of output).
 */
#include "provider_int.h"

static void prov_openai_fill(usage_t *u, uint64_t prompt, uint64_t cached,
                             uint64_t completion, uint64_t reasoning)
{
    if (cached > prompt)
        cached = prompt;    /* never bill more than the prompt */
    u->input = prompt - cached;
    u->cached_input = cached;
    u->cache_write = 0;
    u->output = completion;
    u->reasoning = reasoning > completion ? completion : reasoning;
    u->present = 1;
}

int prov_openai_usage(const json_t *usage, usage_t *u)
{
    int found = 0, dummy = 0;
    uint64_t prompt, cached, completion, reasoning;

    if (!json_is_object(usage))
        return 0;
    prompt = prov_uint_member(usage, "prompt_tokens", &found);
    if (found) {
        /* chat / completions / embeddings (no completion_tokens there) */
        cached = prov_uint_member(json_object_get(usage, "prompt_tokens_details"),
                                  "cached_tokens", &dummy);
        found = 0;
        completion = prov_uint_member(usage, "completion_tokens", &found);
        reasoning = prov_uint_member(
            json_object_get(usage, "completion_tokens_details"),
            "reasoning_tokens", &dummy);
        prov_openai_fill(u, prompt, cached, completion, reasoning);
        if (!found)
            u->present = 2;     /* no output count: complete only for embeddings */
        return 1;
    }
    prompt = prov_uint_member(usage, "input_tokens", &found);
    if (found) {
        /* responses */
        cached = prov_uint_member(json_object_get(usage, "input_tokens_details"),
                                  "cached_tokens", &dummy);
        found = 0;
        completion = prov_uint_member(usage, "output_tokens", &found);
        reasoning = prov_uint_member(
            json_object_get(usage, "output_tokens_details"),
            "reasoning_tokens", &dummy);
        prov_openai_fill(u, prompt, cached, completion, reasoning);
        if (!found)
            u->present = 2;
        return 1;
    }
    /* An embeddings-like body with only total_tokens: count it as input. */
    prompt = prov_uint_member(usage, "total_tokens", &found);
    if (found) {
        prov_openai_fill(u, prompt, 0, 0, 0);
        u->present = 2;
        return 1;
    }
    return 0;
}
