/*
 * stats: counters of a job and their JSON form (see stats.h).  The JSON
 * form keeps exact integers (picodollars, tokens) so that a resumed run
 * continues counting without rounding.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stats.h"

void stats_init(stats_t *s)
{
    memset(s, 0, sizeof(*s));
}

void stats_release(stats_t *s)
{
    for (size_t i = 0; i < s->nmodels; i++)
        free(s->models[i].model);
    free(s->models);
    free(s->keys);
    memset(s, 0, sizeof(*s));
}

model_stats_t *stats_model(stats_t *s, const char *model)
{
    model_stats_t *nv;

    for (size_t i = 0; i < s->nmodels; i++)
        if (strcmp(s->models[i].model, model) == 0)
            return &s->models[i];
    nv = realloc(s->models, (s->nmodels + 1) * sizeof(*nv));
    if (!nv)
        return NULL;
    s->models = nv;
    memset(&nv[s->nmodels], 0, sizeof(*nv));
    nv[s->nmodels].model = strdup(model);
    if (!nv[s->nmodels].model)
        return NULL;
    return &s->models[s->nmodels++];
}

key_stats_t *stats_key(stats_t *s, const char *name)
{
    key_stats_t *nv;

    for (size_t i = 0; i < s->nkeys; i++)
        if (strcmp(s->keys[i].name, name) == 0)
            return &s->keys[i];
    nv = realloc(s->keys, (s->nkeys + 1) * sizeof(*nv));
    if (!nv)
        return NULL;
    s->keys = nv;
    memset(&nv[s->nkeys], 0, sizeof(*nv));
    snprintf(nv[s->nkeys].name, sizeof(nv[s->nkeys].name), "%s", name);
    snprintf(nv[s->nkeys].state, sizeof(nv[s->nkeys].state), "ok");
    return &s->keys[s->nkeys++];
}

void stats_account(stats_t *s, const char *model, const char *key_name, const usage_t *u,
                   money_t cost, int priced, int success)
{
    model_stats_t *m = model ? stats_model(s, model) : NULL;
    key_stats_t *ks = key_name ? stats_key(s, key_name) : NULL;

    if (success && u) {
        stats_add_usage(&s->tok, u);
        if (!priced)
            s->unpriced_requests++;
    }
    if (m) {
        if (success && u) {
            m->requests++;
            stats_add_usage(&m->tok, u);
            m->unpriced = !priced;
        }
        m->cost = money_add(m->cost, cost);
    }
    if (ks) {
        if (success && u) {
            ks->tokens_in += u->input + u->cached_input + u->cache_write;
            ks->tokens_out += u->output;
        }
        ks->cost = money_add(ks->cost, cost);
    }
}

uint64_t stats_total_jobs(const stats_t *s, uint64_t bitmap_jobs)
{
    return bitmap_jobs > s->jobs_total ? bitmap_jobs : s->jobs_total;
}

json_t *stats_usage_json(const usage_t *u)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I}",
                     "input", (json_int_t)(u->input + u->cached_input + u->cache_write),
                     "cached_input", (json_int_t)u->cached_input,
                     "cache_write", (json_int_t)u->cache_write,
                     "output", (json_int_t)u->output,
                     "reasoning", (json_int_t)u->reasoning);
}

json_t *stats_by_model_json(const stats_t *s)
{
    json_t *o = json_object();
    for (size_t i = 0; i < s->nmodels; i++) {
        const model_stats_t *m = &s->models[i];
        json_object_set_new(o, m->model, json_pack(
            "{s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:b}",
            "requests", (json_int_t)m->requests,
            "input_tokens", (json_int_t)(m->tok.input + m->tok.cached_input + m->tok.cache_write),
            "cached_input_tokens", (json_int_t)m->tok.cached_input,
            "cache_write_tokens", (json_int_t)m->tok.cache_write,
            "output_tokens", (json_int_t)m->tok.output,
            "reasoning_tokens", (json_int_t)m->tok.reasoning,
            "cost_usd", json_usd(m->cost), "priced", !m->unpriced));
    }
    return o;
}

json_t *stats_by_status_json(const stats_t *s)
{
    json_t *o = json_object();

    for (int i = 1; o && i < 600; i++) {
        char name[8];
        if (!s->by_status[i])
            continue;
        snprintf(name, sizeof(name), "%d", i);
        json_object_set_new(o, name, json_integer((json_int_t)s->by_status[i]));
    }
    return o;
}

void stats_add_usage(usage_t *into, const usage_t *u)
{
    into->input += u->input;
    into->cached_input += u->cached_input;
    into->cache_write += u->cache_write;
    into->output += u->output;
    into->reasoning += u->reasoning;
}

void stats_latency(stats_t *s, int64_t ms)
{
    int b = 0;
    uint64_t v = ms > 0 ? (uint64_t)ms : 0;

    while (v > 0 && b < STATS_LAT_BUCKETS - 1) {
        v >>= 1;
        b++;
    }
    s->lat[b]++;
}

double stats_latency_pct(const stats_t *s, double pct)
{
    uint64_t total = 0, acc = 0;

    for (int i = 0; i < STATS_LAT_BUCKETS; i++)
        total += s->lat[i];
    if (!total)
        return 0;
    for (int i = 0; i < STATS_LAT_BUCKETS; i++) {
        acc += s->lat[i];
        if ((double)acc >= pct / 100.0 * (double)total) {
            /* bucket i holds [2^(i-1), 2^i) ms; report its geometric middle */
            if (i == 0)
                return 0.5;
            return ldexp(1.0, i - 1) * 1.4142135623730951;
        }
    }
    return 0;
}

json_t *stats_latency_hist_json(const stats_t *s)
{
    json_t *a = json_array();
    int lo = 0, hi = STATS_LAT_BUCKETS - 1;

    if (!a)
        return NULL;
    while (lo <= hi && !s->lat[lo])
        lo++;
    while (hi >= lo && !s->lat[hi])
        hi--;
    for (int b = lo; b <= hi; b++) {
        /* the top bucket also holds everything above it: cap le_ms at int64 */
        json_int_t le = b >= 63 ? (json_int_t)INT64_MAX : (json_int_t)((1ULL << b) - 1);
        if (json_array_append_new(a, json_pack("{s:I,s:I}", "le_ms", le,
                                               "count", (json_int_t)s->lat[b]))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *json_usd(money_t m)
{
    /* rounded to 1e-9 USD for display; exact values are in the _pp fields */
    double v = (double)(m / 1000) / 1e9;
    return json_real(v);
}

json_t *json_money_pp(money_t m)
{
    return json_integer((json_int_t)m);
}

int json_get_money(const json_t *j, money_t *out)
{
    if (!json_is_integer(j))
        return -1;
    *out = (money_t)json_integer_value(j);
    return 0;
}

static json_t *usage_json(const usage_t *u)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I}",
                     "input", (json_int_t)u->input,
                     "cached_input", (json_int_t)u->cached_input,
                     "cache_write", (json_int_t)u->cache_write,
                     "output", (json_int_t)u->output,
                     "reasoning", (json_int_t)u->reasoning);
}

static uint64_t get_u64(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) && json_integer_value(v) > 0
               ? (uint64_t)json_integer_value(v) : 0;
}

static void usage_from(const json_t *o, usage_t *u)
{
    u->input = get_u64(o, "input");
    u->cached_input = get_u64(o, "cached_input");
    u->cache_write = get_u64(o, "cache_write");
    u->output = get_u64(o, "output");
    u->reasoning = get_u64(o, "reasoning");
}

json_t *stats_to_json(const stats_t *s)
{
    json_t *j = json_object(), *models = json_object(), *keys = json_object(),
           *status = stats_by_status_json(s);

    if (!j || !models || !keys || !status)
        goto fail;
    for (size_t i = 0; i < s->nmodels; i++) {
        const model_stats_t *m = &s->models[i];
        json_object_set_new(models, m->model,
            json_pack("{s:I,s:o,s:I,s:b}", "requests", (json_int_t)m->requests,
                      "tokens", usage_json(&m->tok), "cost_pp", (json_int_t)m->cost,
                      "unpriced", m->unpriced));
    }
    for (size_t i = 0; i < s->nkeys; i++) {
        const key_stats_t *k = &s->keys[i];
        json_object_set_new(keys, k->name,
            json_pack("{s:I,s:I,s:I,s:I,s:I,s:s,s:s}", "requests", (json_int_t)k->requests,
                      "tokens_in", (json_int_t)k->tokens_in,
                      "tokens_out", (json_int_t)k->tokens_out,
                      "n429", (json_int_t)k->n429, "cost_pp", (json_int_t)k->cost,
                      "state", k->state, "reason", k->reason));
    }
    json_object_set_new(j, "jobs_total", json_integer((json_int_t)s->jobs_total));
    json_object_set_new(j, "succeeded", json_integer((json_int_t)s->succeeded));
    json_object_set_new(j, "failed", json_integer((json_int_t)s->failed));
    json_object_set_new(j, "invalid", json_integer((json_int_t)s->invalid));
    json_object_set_new(j, "requests_sent", json_integer((json_int_t)s->requests_sent));
    json_object_set_new(j, "retries", json_integer((json_int_t)s->retries));
    json_object_set_new(j, "network_errors", json_integer((json_int_t)s->network_errors));
    json_object_set_new(j, "timeouts", json_integer((json_int_t)s->timeouts));
    json_object_set_new(j, "rate_limited", json_integer((json_int_t)s->rate_limited));
    json_object_set_new(j, "by_status", status);
    json_object_set_new(j, "tokens", usage_json(&s->tok));
    json_object_set_new(j, "unpriced_requests", json_integer((json_int_t)s->unpriced_requests));
    json_object_set_new(j, "by_model", models);
    json_object_set_new(j, "by_key", keys);
    json_object_set_new(j, "cache_hits", json_integer((json_int_t)s->cache_hits));
    json_object_set_new(j, "cache_misses", json_integer((json_int_t)s->cache_misses));
    json_object_set_new(j, "coalesced", json_integer((json_int_t)s->coalesced));
    json_object_set_new(j, "cache_saved_pp", json_money_pp(s->cache_saved));
    json_object_set_new(j, "alerts_fired", json_integer(s->alerts_fired));
    json_object_set_new(j, "spent_pp", json_money_pp(s->spent));
    json_object_set_new(j, "unconfirmed_pp", json_money_pp(s->unconfirmed));
    json_object_set_new(j, "possibly_billed_pp", json_money_pp(s->possibly_billed));
    json_object_set_new(j, "estimated_pp", json_money_pp(s->estimated));
    json_object_set_new(j, "elapsed_s", json_real(s->elapsed_s));
    json_object_set_new(j, "runs", json_integer(s->runs));
    return j;
fail:
    json_decref(j);
    json_decref(models);
    json_decref(keys);
    json_decref(status);
    return NULL;
}

int stats_from_json(stats_t *s, const json_t *j)
{
    const char *name;
    json_t *v;

    if (!json_is_object(j))
        return -1;
    s->jobs_total = get_u64(j, "jobs_total");
    s->succeeded = get_u64(j, "succeeded");
    s->failed = get_u64(j, "failed");
    s->invalid = get_u64(j, "invalid");
    s->requests_sent = get_u64(j, "requests_sent");
    s->retries = get_u64(j, "retries");
    s->network_errors = get_u64(j, "network_errors");
    s->timeouts = get_u64(j, "timeouts");
    s->rate_limited = get_u64(j, "rate_limited");
    json_object_foreach(json_object_get(j, "by_status"), name, v) {
        char *end;
        long code = strtol(name, &end, 10);
        if (*end == '\0' && code > 0 && code < 600 && json_is_integer(v))
            s->by_status[code] = (uint64_t)json_integer_value(v);
    }
    usage_from(json_object_get(j, "tokens"), &s->tok);
    s->unpriced_requests = get_u64(j, "unpriced_requests");
    json_object_foreach(json_object_get(j, "by_model"), name, v) {
        model_stats_t *m = stats_model(s, name);
        if (!m)
            return -1;
        m->requests = get_u64(v, "requests");
        usage_from(json_object_get(v, "tokens"), &m->tok);
        json_get_money(json_object_get(v, "cost_pp"), &m->cost);
        m->unpriced = json_is_true(json_object_get(v, "unpriced"));
    }
    json_object_foreach(json_object_get(j, "by_key"), name, v) {
        key_stats_t *k = stats_key(s, name);
        const char *st;
        if (!k)
            return -1;
        k->requests = get_u64(v, "requests");
        k->tokens_in = get_u64(v, "tokens_in");
        k->tokens_out = get_u64(v, "tokens_out");
        k->n429 = get_u64(v, "n429");
        json_get_money(json_object_get(v, "cost_pp"), &k->cost);
        if ((st = json_string_value(json_object_get(v, "state"))))
            snprintf(k->state, sizeof(k->state), "%s", st);
        if ((st = json_string_value(json_object_get(v, "reason"))))
            snprintf(k->reason, sizeof(k->reason), "%s", st);
    }
    s->cache_hits = get_u64(j, "cache_hits");
    s->cache_misses = get_u64(j, "cache_misses");
    s->coalesced = get_u64(j, "coalesced");
    json_get_money(json_object_get(j, "cache_saved_pp"), &s->cache_saved);
    s->alerts_fired = (uint32_t)get_u64(j, "alerts_fired");
    json_get_money(json_object_get(j, "spent_pp"), &s->spent);
    json_get_money(json_object_get(j, "unconfirmed_pp"), &s->unconfirmed);
    json_get_money(json_object_get(j, "possibly_billed_pp"), &s->possibly_billed);
    json_get_money(json_object_get(j, "estimated_pp"), &s->estimated);
    v = json_object_get(j, "elapsed_s");
    s->elapsed_s = json_is_number(v) ? json_number_value(v) : 0;
    s->runs = (uint32_t)get_u64(j, "runs");
    return 0;
}
