/*
 * prices: loads and validates the price table, looks models up, and turns
 * usage (or a job's worst case) into picodollars.
 *
 * The table owns every string in it.  Validation is strict: a missing or
 * negative price, a non-integer token limit, an empty model name (which
 * would prefix-match every model) or an unknown field (most likely a typo
 * that would silently fall back to a default price) rejects the file, with
 * a message that names the file, the model and the field.
 *
 * Invariant for the spend cap: price_reservation() is an upper bound of
 * what the provider can bill for the job, so every rounding goes up and
 * every product saturates instead of wrapping.
 */
#include "prices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRICES_TOOL_TOKENS 1024ULL  /* Anthropic's tool-use system prompt */
#define PRICES_DEFAULT_OUTPUT 4096ULL

static char *prices_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    if (d)
        memcpy(d, s, n);
    return d;
}

void prices_free(prices_t *p)
{
    size_t i;

    if (!p)
        return;
    for (i = 0; i < p->n; i++)
        free(p->v[i].model);
    free(p->v);
    free(p->path);
    free(p->updated);
    free(p->source);
    free(p);
}

/* A price field (USD per 1M tokens) into *out; 0 absent, 1 set, -1 bad. */
static int prices_money_field(const json_t *m, const char *key, money_t *out)
{
    json_t *v = json_object_get(m, key);

    if (!v)
        return 0;
    if (!json_is_number(v))
        return -1;
    return money_from_double_per_mtok(json_number_value(v), out) == 0 ? 1 : -1;
}

/* A token count field into *out; 0 absent, 1 set, -1 bad. */
static int prices_uint_field(const json_t *m, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(m, key);

    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int prices_known_field(const char *k)
{
    static const char *const known[] = {
        "input", "cached_input", "cache_write", "output",
        "max_output_tokens", "part_tokens", "note", NULL
    };
    size_t i;

    if (k[0] == '_')
        return 1;       /* comments: "_note", "_comment", ... */
    for (i = 0; known[i]; i++)
        if (strcmp(k, known[i]) == 0)
            return 1;
    return 0;
}

static int prices_parse_model(const char *path, const char *name,
                              const json_t *m, price_t *pr,
                              char *err, size_t errlen)
{
    static const char *const money_keys[] = {
        "input", "output", "cached_input", "cache_write"
    };
    money_t *money_dst[4];
    const char *k;
    json_t *v;
    size_t i;
    int r;

    if (!*name) {
        snprintf(err, errlen, "%s: a model name must not be empty", path);
        return -1;
    }
    if (!json_is_object(m)) {
        snprintf(err, errlen, "%s: model \"%s\": must be an object", path, name);
        return -1;
    }
    json_object_foreach((json_t *)m, k, v) {
        if (!prices_known_field(k)) {
            snprintf(err, errlen, "%s: model \"%s\": unknown field \"%s\"",
                     path, name, k);
            return -1;
        }
    }
    money_dst[0] = &pr->input;
    money_dst[1] = &pr->output;
    money_dst[2] = &pr->cached_input;
    money_dst[3] = &pr->cache_write;
    for (i = 0; i < 4; i++) {
        r = prices_money_field(m, money_keys[i], money_dst[i]);
        if (r < 0) {
            json_t *bad = json_object_get(m, money_keys[i]);
            if (json_is_number(bad))
                snprintf(err, errlen,
                         "%s: model \"%s\": \"%s\" is %g, out of range: a price must be "
                         "a number of USD per 1M tokens from 0 to %.0f",
                         path, name, money_keys[i], json_number_value(bad),
                         MONEY_MAX_USD_PER_MTOK);
            else
                snprintf(err, errlen,
                         "%s: model \"%s\": \"%s\" must be a number of USD per 1M tokens "
                         "from 0 to %.0f",
                         path, name, money_keys[i], MONEY_MAX_USD_PER_MTOK);
            return -1;
        }
        if (r == 0 && i < 2) {
            snprintf(err, errlen, "%s: model \"%s\": \"%s\" is missing",
                     path, name, money_keys[i]);
            return -1;
        }
        if (r == 0)
            *money_dst[i] = pr->input;  /* no discount / surcharge known */
    }
    if (prices_uint_field(m, "max_output_tokens", &pr->max_output_tokens) < 0) {
        snprintf(err, errlen,
                 "%s: model \"%s\": \"max_output_tokens\" must be a non-negative integer",
                 path, name);
        return -1;
    }
    if (prices_uint_field(m, "part_tokens", &pr->part_tokens) < 0) {
        snprintf(err, errlen,
                 "%s: model \"%s\": \"part_tokens\" must be a non-negative integer",
                 path, name);
        return -1;
    }
    return 0;
}

/* Copies an optional top-level string member; -1 if not a string or ENOMEM. */
static int prices_opt_string(const json_t *root, const char *key, char **dst,
                             const char *path, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);

    if (!v)
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s: \"%s\" must be a string", path, key);
        return -1;
    }
    *dst = prices_strdup(json_string_value(v));
    if (!*dst) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    return 0;
}

prices_t *prices_load(const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL, *models, *m;
    prices_t *p = NULL;
    const char *name;
    size_t n;
    int oom = 0;

    if (errlen)
        err[0] = '\0';
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line > 0)
            snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column,
                     jerr.text);
        else
            snprintf(err, errlen, "%s: %s", path, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: must be a JSON object", path);
        goto err;
    }
    models = json_object_get(root, "models");
    if (!json_is_object(models) || json_object_size(models) == 0) {
        snprintf(err, errlen, "%s: \"models\" must be a non-empty object", path);
        goto err;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        oom = 1;
        goto err;
    }
    p->path = prices_strdup(path);
    if (!p->path) {
        oom = 1;
        goto err;
    }
    if (prices_opt_string(root, "updated", &p->updated, path, err, errlen) < 0 ||
        prices_opt_string(root, "source", &p->source, path, err, errlen) < 0)
        goto err;
    n = json_object_size(models);
    p->v = calloc(n, sizeof(*p->v));
    if (!p->v) {
        oom = 1;
        goto err;
    }
    json_object_foreach(models, name, m) {
        price_t *pr = &p->v[p->n];
        if (prices_parse_model(path, name, m, pr, err, errlen) < 0)
            goto err;
        pr->model = prices_strdup(name);
        if (!pr->model) {
            oom = 1;
            goto err;
        }
        p->n++;
    }
    json_decref(root);
    return p;
err:
    if (oom)
        snprintf(err, errlen, "%s: out of memory", path);
    prices_free(p);
    json_decref(root);
    return NULL;
}

const price_t *prices_lookup(const prices_t *p, const char *model)
{
    const price_t *best = NULL;
    size_t i, best_len = 0;

    if (!p || !model)
        return NULL;
    for (i = 0; i < p->n; i++)
        if (strcmp(p->v[i].model, model) == 0)
            return &p->v[i];
    for (i = 0; i < p->n; i++) {
        size_t k = strlen(p->v[i].model);
        if (k > best_len && strncmp(p->v[i].model, model, k) == 0) {
            best = &p->v[i];
            best_len = k;
        }
    }
    return best;
}

money_t price_cost(const price_t *p, const usage_t *u)
{
    money_t c = 0;

    c = money_add(c, money_mul(u->input, p->input));
    c = money_add(c, money_mul(u->cached_input, p->cached_input));
    c = money_add(c, money_mul(u->cache_write, p->cache_write));
    c = money_add(c, money_mul(u->output, p->output));
    return c;
}

static uint64_t prices_sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t prices_sat_mul(uint64_t a, uint64_t b)
{
    uint64_t r;

    if (__builtin_mul_overflow(a, b, &r))
        return UINT64_MAX;
    return r;
}

static uint64_t prices_n(const job_t *j)
{
    return j->n ? j->n : 1;
}

int price_reservation(const price_t *p, const job_t *j, money_t *out,
                      char *err, size_t errlen)
{
    uint64_t in_tokens, out_tokens, limit;
    money_t in_price;

    if (errlen)
        err[0] = '\0';
    if (j->server_context) {
        snprintf(err, errlen,
                 "the request pulls stored context (previous_response_id, conversation "
                 "or a stored prompt) whose tokens the body does not show, so its cost "
                 "cannot be bounded");
        return -1;
    }
    if (j->nontext_parts > 0 && p->part_tokens == 0) {
        snprintf(err, errlen,
                 "model \"%s\": the request has %u non-text content part(s) "
                 "and the price table gives no part_tokens for \"%s\", so its "
                 "cost cannot be bounded",
                 j->model ? j->model : "?", (unsigned)j->nontext_parts, p->model);
        return -1;
    }
    /* Every token is at least one byte of the body (JSON only adds bytes). */
    in_tokens = j->body_len;
    if (j->has_tools)
        in_tokens = prices_sat_add(in_tokens, PRICES_TOOL_TOKENS);
    in_tokens = prices_sat_add(in_tokens,
                               prices_sat_mul(j->nontext_parts, p->part_tokens));
    in_price = p->input;
    if (p->cache_write > in_price)
        in_price = p->cache_write;
    if (p->cached_input > in_price)
        in_price = p->cached_input;

    if (j->endpoint == EP_EMBEDDINGS) {
        out_tokens = 0;
    } else {
        limit = j->max_output ? j->max_output : p->max_output_tokens;
        if (limit == 0) {
            snprintf(err, errlen,
                     "model \"%s\": the request sets no max_tokens and the "
                     "price table gives no max_output_tokens for \"%s\", so "
                     "its cost cannot be bounded",
                     j->model ? j->model : "?", p->model);
            return -1;
        }
        out_tokens = prices_sat_mul(limit, prices_n(j));
    }
    *out = money_add(money_mul(in_tokens, in_price),
                     money_mul(out_tokens, p->output));
    return 0;
}

/* The output token limit a job runs under, 0 for embeddings. */
static uint64_t prices_out_limit(const price_t *p, const job_t *j)
{
    if (j->endpoint == EP_EMBEDDINGS)
        return 0;
    if (j->max_output)
        return j->max_output;
    if (p && p->max_output_tokens)
        return p->max_output_tokens;
    return PRICES_DEFAULT_OUTPUT;
}

uint64_t job_token_weight(const price_t *p, const job_t *j)
{
    uint64_t text = j->text_bytes / 4 + (j->text_bytes % 4 != 0);

    return prices_sat_add(text, prices_sat_mul(prices_out_limit(p, j), prices_n(j)));
}

uint64_t job_expected_output(const price_t *p, const job_t *j)
{
    uint64_t q;

    if (j->endpoint == EP_EMBEDDINGS)
        return 0;
    q = prices_out_limit(p, j) / 4;
    if (q == 0)
        q = 1;
    return prices_sat_mul(q, prices_n(j));
}
