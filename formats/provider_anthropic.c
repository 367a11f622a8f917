/*
 * provider_anthropic: Anthropic /v1/messages usage, normalised to usage_t.
 *
 * input_tokens already excludes cache reads and writes, so it maps straight
 * to `input`; cache_creation_input_tokens -> cache_write,
 * cache_read_input_tokens -> cached_input, output_tokens -> output (which
 * includes any extended-thinking tokens; Anthropic does not report them
 * apart, so reasoning stays 0).
 */
#include "provider_int.h"

int prov_anthropic_usage(const json_t *usage, usage_t *u)
{
    int fi = 0, fo = 0, dummy = 0;

    if (!json_is_object(usage))
        return 0;
    u->input = prov_uint_member(usage, "input_tokens", &fi);
    u->output = prov_uint_member(usage, "output_tokens", &fo);
    if (!fi && !fo)
        return 0;
    u->cache_write = prov_uint_member(usage, "cache_creation_input_tokens", &dummy);
    u->cached_input = prov_uint_member(usage, "cache_read_input_tokens", &dummy);
    u->reasoning = 0;
    u->present = fi && fo ? 1 : 2;
    return 1;
}
