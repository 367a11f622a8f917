/*
 * test_prices: price table loading and validation, model lookup, exact
 * cost arithmetic and worst-case reservations (formats/prices.c).
 * Runs with the repository root as the working directory, so it also
 * checks that samples/prices.json itself loads.
 */
#include "tap.h"
#include "prices.h"

#include <stdlib.h>
#include <unistd.h>

static char tmp_path[128];

/* Writes text to a temporary table and loads it; NULL + err on failure. */
static prices_t *load_text(const char *text, char *err, size_t errlen)
{
    FILE *f;
    prices_t *p;

    snprintf(tmp_path, sizeof(tmp_path), "/tmp/llmb_test_prices_%ld.json",
             (long)getpid());
    f = fopen(tmp_path, "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    p = prices_load(tmp_path, err, errlen);
    unlink(tmp_path);
    return p;
}

/* True if the table is rejected with a message containing want. */
static int rejects(const char *text, const char *want)
{
    char err[512];
    prices_t *p = load_text(text, err, sizeof(err));

    if (p) {
        prices_free(p);
        fprintf(stderr, "  accepted: %s\n", text);
        return 0;
    }
    if (!strstr(err, want) || !strstr(err, tmp_path)) {
        fprintf(stderr, "  message: %s\n", err);
        return 0;
    }
    return 1;
}

static job_t mkjob(const char *model, endpoint_t ep, size_t body_len,
                   uint64_t max_output, uint32_t n)
{
    job_t j;

    memset(&j, 0, sizeof(j));
    j.model = (char *)model;
    j.endpoint = ep;
    j.dialect = ep == EP_MESSAGES ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
    j.body_len = body_len;
    j.max_output = max_output;
    j.n = n;
    return j;
}

#define PP(usd_per_mtok) ((money_t)((usd_per_mtok) * 1000000))

int main(void)
{
    char err[512];
    prices_t *p;
    const price_t *pr, *mock;
    usage_t u;
    job_t j;
    money_t m;

    /* ---- the shipped table ---- */
    p = prices_load("samples/prices.json", err, sizeof(err));
    CHECK(p != NULL);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return tap_done();
    }
    CHECK(p->updated != NULL && strlen(p->updated) == 10);
    CHECK(p->source != NULL && strstr(p->source, "verify") != NULL);
    CHECK_STR(p->path, "samples/prices.json");
    {
        static const char *const must[] = {
            "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano",
            "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5.1", "o1", "o3", "o3-mini",
            "o4-mini", "text-embedding-3-small", "text-embedding-3-large",
            "text-embedding-ada-002", "claude-opus-4", "claude-opus-4-1",
            "claude-opus-4-5", "claude-sonnet-4", "claude-sonnet-4-5",
            "claude-haiku-4-5", "claude-3-5-haiku", "mock-model", NULL
        };
        size_t i;
        for (i = 0; must[i]; i++) {
            pr = prices_lookup(p, must[i]);
            CHECK(pr != NULL && strcmp(pr->model, must[i]) == 0);
            if (!pr)
                fprintf(stderr, "  missing %s\n", must[i]);
            else if (strncmp(must[i], "text-embedding", 14) != 0)
                CHECK(pr->max_output_tokens > 0 && pr->output > 0);
        }
    }
    mock = prices_lookup(p, "mock-model");
    CHECK(mock != NULL);
    if (!mock)
        return tap_done();
    CHECK_INT(mock->input, 1000000);
    CHECK_INT(mock->cached_input, 500000);
    CHECK_INT(mock->cache_write, 1250000);
    CHECK_INT(mock->output, 2000000);
    CHECK_INT(mock->max_output_tokens, 4096);
    CHECK_INT(mock->part_tokens, 1000);
    pr = prices_lookup(p, "gpt-4o-mini");
    CHECK_INT(pr->input, PP(0.15));
    CHECK_INT(pr->cached_input, 75000);
    pr = prices_lookup(p, "claude-sonnet-4-5");
    CHECK_INT(pr->cache_write, 3750000);
    CHECK_INT(pr->cached_input, 300000);

    /* ---- lookup ---- */
    pr = prices_lookup(p, "gpt-4o-mini-2024-07-18");
    CHECK_STR(pr ? pr->model : NULL, "gpt-4o-mini");
    pr = prices_lookup(p, "gpt-4o-2024-08-06");
    CHECK_STR(pr ? pr->model : NULL, "gpt-4o");
    pr = prices_lookup(p, "claude-sonnet-4-5-20250929");
    CHECK_STR(pr ? pr->model : NULL, "claude-sonnet-4-5");
    pr = prices_lookup(p, "claude-opus-4-20250514");
    CHECK_STR(pr ? pr->model : NULL, "claude-opus-4");
    pr = prices_lookup(p, "o3-pro-2025-06-10");
    CHECK_STR(pr ? pr->model : NULL, "o3-pro");
    CHECK(prices_lookup(p, "llama-3") == NULL);
    CHECK(prices_lookup(p, "gpt") == NULL);      /* a key must be a prefix of the id */
    CHECK(prices_lookup(p, "") == NULL);
    CHECK(prices_lookup(NULL, "gpt-4o") == NULL);

    /* ---- cost ---- */
    memset(&u, 0, sizeof(u));
    u.input = 1000;
    u.cached_input = 2000;
    u.cache_write = 400;
    u.output = 300;
    u.reasoning = 100;          /* part of output: not billed twice */
    /* 1000*1e6 + 2000*5e5 + 400*1.25e6 + 300*2e6 = 1e9+1e9+5e8+6e8 */
    CHECK_INT(price_cost(mock, &u), 3100000000LL);
    pr = prices_lookup(p, "gpt-4o-mini");
    memset(&u, 0, sizeof(u));
    u.input = 176;
    u.cached_input = 1024;
    u.output = 300;
    /* 176*150000 + 1024*75000 + 300*600000 = 26400000+76800000+180000000 */
    CHECK_INT(price_cost(pr, &u), 283200000LL);
    memset(&u, 0, sizeof(u));
    CHECK_INT(price_cost(mock, &u), 0);
    u.output = UINT64_MAX;
    CHECK_INT(price_cost(mock, &u), MONEY_MAX);

    /* ---- reservation ---- */
    j = mkjob("mock-model", EP_CHAT, 1000, 100, 1);
    CHECK_INT(price_reservation(mock, &j, &m, err, sizeof(err)), 0);
    /* 1000 tokens at max(1, 1.25, 0.5) + 100 at 2.00 */
    CHECK_INT(m, 1000 * 1250000LL + 100 * 2000000LL);
    j.n = 3;
    CHECK_INT(price_reservation(mock, &j, &m, err, sizeof(err)), 0);
    CHECK_INT(m, 1000 * 1250000LL + 300 * 2000000LL);
    j.has_tools = 1;
    CHECK_INT(price_reservation(mock, &j, &m, err, sizeof(err)), 0);
    CHECK_INT(m, 2024 * 1250000LL + 300 * 2000000LL);
    j.nontext_parts = 2;
    CHECK_INT(price_reservation(mock, &j, &m, err, sizeof(err)), 0);
    CHECK_INT(m, 4024 * 1250000LL + 300 * 2000000LL);
    j = mkjob("mock-model", EP_MESSAGES, 500, 0, 1);   /* no max_tokens: table max */
    CHECK_INT(price_reservation(mock, &j, &m, err, sizeof(err)), 0);
    CHECK_INT(m, 500 * 1250000LL + 4096 * 2000000LL);
    j.n = 0;                                            /* treated as 1 */
    CHECK_INT(price_reservation(mock, &j, &m, err, sizeof(err)), 0);
    CHECK_INT(m, 500 * 1250000LL + 4096 * 2000000LL);
    /* embeddings: input only, no output limit needed */
    pr = prices_lookup(p, "text-embedding-3-small");
    j = mkjob("text-embedding-3-small", EP_EMBEDDINGS, 300, 0, 1);
    CHECK_INT(price_reservation(pr, &j, &m, err, sizeof(err)), 0);
    CHECK_INT(m, 300 * 20000LL);
    /* OpenAI, cache_write defaults to input */
    pr = prices_lookup(p, "gpt-4o");
    j = mkjob("gpt-4o", EP_CHAT, 200, 50, 2);
    CHECK_INT(price_reservation(pr, &j, &m, err, sizeof(err)), 0);
    CHECK_INT(m, 200 * 2500000LL + 100 * 10000000LL);
    /* saturates instead of wrapping */
    j = mkjob("gpt-4o", EP_CHAT, 10, UINT64_MAX / 2, 3);
    CHECK_INT(price_reservation(pr, &j, &m, err, sizeof(err)), 0);
    CHECK_INT(m, MONEY_MAX);

    /* cannot be bounded */
    pr = prices_lookup(p, "o3-mini");           /* no part_tokens */
    j = mkjob("o3-mini", EP_CHAT, 100, 10, 1);
    j.nontext_parts = 1;
    err[0] = '\0';
    CHECK_INT(price_reservation(pr, &j, &m, err, sizeof(err)), -1);
    CHECK(strstr(err, "part_tokens") != NULL);
    CHECK(strstr(err, "o3-mini") != NULL);

    /* ---- token weight and expected output ---- */
    j = mkjob("mock-model", EP_CHAT, 1000, 100, 2);
    j.text_bytes = 401;
    CHECK_INT(job_token_weight(mock, &j), 101 + 200);
    j.max_output = 0;
    CHECK_INT(job_token_weight(mock, &j), 101 + 8192);
    CHECK_INT(job_token_weight(NULL, &j), 101 + 8192);
    CHECK_INT(job_expected_output(mock, &j), 2048);
    j.max_output = 3;
    CHECK_INT(job_expected_output(mock, &j), 2);     /* at least 1 each */
    j.endpoint = EP_EMBEDDINGS;
    CHECK_INT(job_token_weight(mock, &j), 101);
    CHECK_INT(job_expected_output(mock, &j), 0);
    prices_free(p);

    /* ---- small tables: defaults, prefix, missing limits ---- */
    p = load_text("{\"models\":{\"m\":{\"input\":3,\"output\":15},"
                  "\"m-long\":{\"input\":1,\"output\":2,\"part_tokens\":0,\"_note\":\"x\","
                  "\"note\":\"y\"}}}", err, sizeof(err));
    CHECK(p != NULL);
    if (p) {
        CHECK_INT(p->n, 2);
        CHECK(p->updated == NULL && p->source == NULL);
        pr = prices_lookup(p, "m");
        CHECK_INT(pr->cached_input, 3000000);       /* defaults to input */
        CHECK_INT(pr->cache_write, 3000000);
        CHECK_INT(pr->max_output_tokens, 0);
        pr = prices_lookup(p, "m-long-2");
        CHECK_STR(pr ? pr->model : NULL, "m-long");
        pr = prices_lookup(p, "m-lo");
        CHECK_STR(pr ? pr->model : NULL, "m");
        pr = prices_lookup(p, "m");
        j = mkjob("m", EP_CHAT, 10, 0, 1);
        CHECK_INT(price_reservation(pr, &j, &m, err, sizeof(err)), -1);
        CHECK(strstr(err, "max_output_tokens") != NULL);
        j.max_output = 5;
        CHECK_INT(price_reservation(pr, &j, &m, err, sizeof(err)), 0);
        CHECK_INT(m, 10 * 3000000LL + 5 * 15000000LL);
        prices_free(p);
    }

    /* ---- bad tables ---- */
    CHECK(prices_load("/nonexistent/prices.json", err, sizeof(err)) == NULL);
    CHECK(strstr(err, "/nonexistent/prices.json") != NULL);
    CHECK(rejects("{\"models\":{\"x\":{\"input\":1,", ""));
    CHECK(rejects("[]", "must be a JSON object"));
    CHECK(rejects("{}", "\"models\""));
    CHECK(rejects("{\"models\":{}}", "\"models\""));
    CHECK(rejects("{\"models\":[]}", "\"models\""));
    CHECK(rejects("{\"models\":{\"x\":{\"input\":1,\"output\":-2}}}",
                  ": model \"x\": \"output\" is -2, out of range: a price must be a number "
                  "of USD per 1M tokens from 0 to 9200000000000"));
    CHECK(rejects("{\"models\":{\"x\":{\"input\":\"1\",\"output\":2}}}",
                  "model \"x\": \"input\" must be a number of USD per 1M tokens "
                  "from 0 to 9200000000000"));
    CHECK(rejects("{\"models\":{\"x\":{\"input\":1}}}",
                  "model \"x\": \"output\" is missing"));
    CHECK(rejects("{\"models\":{\"x\":{\"output\":1}}}",
                  "model \"x\": \"input\" is missing"));
    CHECK(rejects("{\"models\":{\"x\":{\"input\":1,\"output\":1,\"cached_input\":null}}}",
                  "model \"x\": \"cached_input\" must be a number of USD per 1M tokens"));
    CHECK(rejects("{\"models\":{\"x\":{\"input\":1,\"output\":1,\"cache_write\":1e30}}}",
                  "model \"x\": \"cache_write\" is 1e+30, out of range: a price must be "
                  "a number of USD per 1M tokens from 0 to 9200000000000"));
    /* the range's edges, for every price field */
    CHECK(rejects("{\"models\":{\"x\":{\"input\":9.2e12,\"output\":1}}}",
                  "model \"x\": \"input\" is 9.2e+12, out of range"));
    CHECK(rejects("{\"models\":{\"x\":{\"input\":1,\"output\":1,\"cached_input\":-0.5}}}",
                  "model \"x\": \"cached_input\" is -0.5, out of range"));
    CHECK(rejects("{\"models\":{\"x\":{\"input\":1,\"output\":1e300}}}",
                  "model \"x\": \"output\" is 1e+300, out of range"));
    CHECK(rejects("{\"models\":{\"x\":{\"input\":1,\"output\":1,\"max_output_tokens\":1.5}}}",
                  "\"max_output_tokens\" must be a non-negative integer"));
    CHECK(rejects("{\"models\":{\"x\":{\"input\":1,\"output\":1,\"part_tokens\":-1}}}",
                  "\"part_tokens\" must be a non-negative integer"));
    CHECK(rejects("{\"models\":{\"x\":{\"input\":1,\"output\":1,\"ouput\":1}}}",
                  "unknown field \"ouput\""));
    CHECK(rejects("{\"models\":{\"x\":5}}", "model \"x\": must be an object"));
    CHECK(rejects("{\"models\":{\"\":{\"input\":1,\"output\":1}}}", "must not be empty"));
    CHECK(rejects("{\"updated\":5,\"models\":{\"x\":{\"input\":1,\"output\":1}}}",
                  "\"updated\" must be a string"));
    CHECK(rejects("{\"models\":{\"x\":{\"input\":1,\"output\":1},"
                  "\"x\":{\"input\":2,\"output\":2}}}", "duplicate"));
    return tap_done();
}
