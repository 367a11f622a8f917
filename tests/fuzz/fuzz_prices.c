/*
 * fuzz_prices: the input as a price table file, loaded with prices_load
 * (prices.h).  On success every model is looked up by its own name and
 * by a few other names, and for each one a job and a usage derived from
 * a hash of the input are priced.
 *
 * Invariants: a failed load names the file in its message; every entry has
 * a non-empty name and non-negative prices; lookup by a table name returns
 * that entry, and a prefix match returns a key that prefixes the name; and
 * the spend-cap bound: the cost of any usage the job can be billed (input
 * tokens <= the body bytes, output <= limit * n) is at most
 * price_reservation's result.
 */
#include "fuzz_util.h"

#include "job.h"
#include "prices.h"
#include "provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);

    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A token count: usually small, sometimes huge (saturation paths). */
static uint64_t tokens(uint64_t *s)
{
    uint64_t r = next(s);

    switch (r & 3) {
    case 0: return 0;
    case 1: return (r >> 8) % 5000;
    case 2: return (r >> 8) % 2000000;
    default: return r >> 2;
    }
}

static void check_price(const price_t *pr, uint64_t *seed)
{
    static const endpoint_t eps[] = { EP_CHAT, EP_COMPLETIONS, EP_EMBEDDINGS,
                                      EP_RESPONSES, EP_MESSAGES };
    job_t j;
    usage_t u;
    money_t res, cost;
    char err[512];
    uint64_t in_bound, out_bound, left;
    int k;

    for (k = 0; k < 4; k++) {
        memset(&j, 0, sizeof j);
        j.model = pr->model;
        j.endpoint = eps[next(seed) % 5];
        j.body_len = (size_t)tokens(seed);
        j.max_output = (next(seed) & 1) ? tokens(seed) : 0;
        j.n = (uint32_t)(next(seed) % 4);
        j.nontext_parts = (uint32_t)(next(seed) % 3);
        j.has_tools = (int)(next(seed) & 1);
        j.text_bytes = tokens(seed);
        (void)job_token_weight(pr, &j);
        (void)job_expected_output(pr, &j);
        (void)job_token_weight(NULL, &j);
        if (price_reservation(pr, &j, &res, err, sizeof err) != 0) {
            FUZZ_CHECK(err[0] != '\0');
            continue;
        }
        FUZZ_CHECK(res >= 0);
        /* the bounds price_reservation documents, without saturation */
        in_bound = j.body_len + (j.has_tools ? 1024 : 0);
        if (j.nontext_parts && pr->part_tokens > (UINT64_MAX >> 4))
            continue;
        in_bound += j.nontext_parts * pr->part_tokens;
        if (j.endpoint == EP_EMBEDDINGS)
            out_bound = 0;
        else if (__builtin_mul_overflow(j.max_output ? j.max_output
                                                     : pr->max_output_tokens,
                                        (uint64_t)(j.n ? j.n : 1), &out_bound))
            continue;
        memset(&u, 0, sizeof u);
        left = in_bound;
        u.input = left ? next(seed) % (left + 1) : 0;
        left -= u.input;
        u.cached_input = left ? next(seed) % (left + 1) : 0;
        left -= u.cached_input;
        u.cache_write = left;
        u.output = out_bound;
        u.present = 1;
        cost = price_cost(pr, &u);
        FUZZ_CHECK(cost >= 0);
        if (cost > res)
            fprintf(stderr, "cost %lld > reservation %lld for %s\n",
                    (long long)cost, (long long)res, pr->model);
        FUZZ_CHECK(cost <= res);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {
        "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "claude-3-5-haiku-latest",
        "gpt", "", "text-embedding-3-small", "o1", NULL
    };
    const char *path = fuzz_file_path(data, size);
    char err[1024];
    prices_t *p;
    const price_t *pr;
    uint64_t seed = fnv1a(data, size);
    size_t i;

    if (!path)
        return 0;
    err[0] = '\0';
    p = prices_load(path, err, sizeof err);
    if (!p) {
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(strstr(err, path) != NULL);
        return 0;
    }
    for (i = 0; i < p->n; i++) {
        const price_t *e = &p->v[i];

        FUZZ_CHECK(e->model && e->model[0] != '\0');
        FUZZ_CHECK(e->input >= 0 && e->output >= 0 && e->cached_input >= 0 &&
                   e->cache_write >= 0);
        pr = prices_lookup(p, e->model);
        FUZZ_CHECK(pr != NULL && strcmp(pr->model, e->model) == 0);
        check_price(e, &seed);
    }
    for (i = 0; names[i]; i++) {
        pr = prices_lookup(p, names[i]);
        if (pr) {
            size_t k = strlen(pr->model);
            FUZZ_CHECK(strncmp(pr->model, names[i], k) == 0);
        }
    }
    FUZZ_CHECK(prices_lookup(p, NULL) == NULL);
    prices_free(p);
    return 0;
}
