/*
 * keycheck: `llmbatch keys` checks every key without spending: GET
 * /v1/models for both dialects, reporting valid / invalid / exhausted and
 * the rate limits the server announces.  --probe sends a 1-token request
 * instead, to read the limit headers the models endpoint does not send.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "run.h"
#include "clock.h"
#include "keys.h"
#include "pool.h"
#include "provider.h"
#include "ratelimit_hdr.h"
#include "url.h"

typedef struct kc_item {
    api_key_t *key;
    char *url, *body;
    struct curl_slist *hdrs;
    long status;
    char verdict[300];
    rl_info_t rl;
    int have_rl;
    int done;
} kc_item_t;

static void kc_done(void *ctx, void *user, const xfer_result_t *r)
{
    kc_item_t *it = user;
    outcome_t o;
    const char *body = r->body;
    size_t blen = r->body_len, flen = 0;
    char *fixed = NULL;

    it->done = 1;
    /* server text is shown: mask every loaded key in it first, also where
     * JSON escapes hide one */
    if (r->body_len) {
        keys_redact((const keys_t *)ctx, (char *)r->body, r->body_len);
        if (keys_redact_json((const keys_t *)ctx, r->body, r->body_len, &fixed, &flen) == 1) {
            body = fixed;
            blen = flen;
        }
    }
    it->status = r->status;
    if (r->code != CURLE_OK) {
        snprintf(it->verdict, sizeof(it->verdict), "unreachable (%s)", r->error);
        free(fixed);
        return;
    }
    it->have_rl = rl_parse_headers(r->headers, clock_wall_ms(), &it->rl);
    outcome_init(&o);
    provider_classify(it->key->dialect, r->status, r->headers, body, blen,
                      clock_wall_ms(), &o);
    switch (o.kind) {
    case OUT_SUCCESS:
        snprintf(it->verdict, sizeof(it->verdict), "valid");
        break;
    case OUT_KEY_INVALID:
        snprintf(it->verdict, sizeof(it->verdict), "invalid (HTTP %ld: %s)", r->status, o.message);
        break;
    case OUT_KEY_EXHAUSTED:
        snprintf(it->verdict, sizeof(it->verdict), "exhausted (HTTP %ld: %s)", r->status, o.message);
        break;
    default:
        if (o.rate_limited)
            snprintf(it->verdict, sizeof(it->verdict), "valid, rate-limited now (HTTP 429)");
        else
            snprintf(it->verdict, sizeof(it->verdict), "unknown (HTTP %ld: %s)", r->status, o.message);
        break;
    }
    outcome_release(&o);
    free(fixed);
}

static void print_limit(const char *what, int64_t limit, int64_t remaining, int64_t reset_ms)
{
    if (limit < 0 && remaining < 0)
        return;
    printf("    %s: limit %lld, remaining %lld", what, (long long)limit, (long long)remaining);
    if (reset_ms >= 0)
        printf(", full again in %.1f s", (double)reset_ms / 1000.0);
    printf("\n");
}

int keys_cmd(const char *keys_file, const char *base_url, int probe, const char *model,
             double timeout_s, const char *cacert, int insecure)
{
    keys_t ks;
    pool_t pool;
    pool_opts_t po = { (long)(timeout_s * 1000), 10000, cacert, insecure, 16, 0 };
    kc_item_t *items = NULL;
    char err[512], auth[4200];
    int rc = RUN_EXIT_USAGE, bad = 0;

    if (keys_load(&ks, keys_file, err, sizeof(err))) {
        fprintf(stderr, "llmbatch: %s\n", err);
        return RUN_EXIT_USAGE;
    }
    if (ks.n == 0) {
        fprintf(stderr, "llmbatch: no keys: set OPENAI_API_KEY / ANTHROPIC_API_KEY or pass "
                "--keys-file FILE\n");
        keys_release(&ks);
        return RUN_EXIT_USAGE;
    }
    if (probe)
        fprintf(stderr, "llmbatch: --probe sends one request with max_tokens 1 per key "
                "(about a millionth of a dollar each)\n");
    if (pool_init(&pool, &po) || !(items = calloc(ks.n, sizeof(*items))))
        goto out;
    for (size_t i = 0; i < ks.n; i++) {
        api_key_t *k = &ks.v[i];
        kc_item_t *it = &items[i];
        const char *base = cli_base_url(k->dialect, base_url);
        const char *hdrs[4];
        int n = 0;

        it->key = k;
        if (probe && k->dialect == DIALECT_ANTHROPIC) {
            it->url = url_join(base, "/v1/messages");
            it->body = strdup("{\"model\":\"claude-haiku-4-5\",\"max_tokens\":1,"
                              "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        } else if (probe) {
            size_t len = 200 + strlen(model);
            it->url = url_join(base, "/v1/chat/completions");
            if ((it->body = malloc(len)))
                snprintf(it->body, len, "{\"model\":\"%s\",\"max_tokens\":1,"
                         "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", model);
        } else {
            it->url = url_join(base, "/v1/models");
        }
        if (!it->url || (probe && !it->body) || keys_auth_header(k, auth, sizeof(auth)))
            goto out;
        hdrs[n++] = auth;
        if (k->dialect == DIALECT_ANTHROPIC)
            hdrs[n++] = "anthropic-version: " PROVIDER_ANTHROPIC_VERSION;
        if (probe)
            hdrs[n++] = "Content-Type: application/json";
        hdrs[n] = NULL;
        it->hdrs = pool_headers(hdrs);
        if (!it->hdrs ||
            pool_start(&pool, it->url, it->hdrs, it->body, it->body ? strlen(it->body) : 0, it))
            goto out;
        memset(auth, 0, sizeof(auth));
    }
    for (int spins = 0; pool.inflight > 0 && spins < 100000; spins++) {
        pool_perform(&pool, kc_done, &ks);
        if (pool.inflight)
            pool_wait(&pool, 200, -1);
    }
    for (size_t i = 0; i < ks.n; i++) {
        kc_item_t *it = &items[i];
        printf("%-16s %-9s %s\n", it->key->name, dialect_name(it->key->dialect), it->verdict);
        if (strncmp(it->verdict, "valid", 5) != 0)
            bad++;
        if (it->have_rl) {
            print_limit("requests/min", it->rl.limit_requests, it->rl.remaining_requests,
                        it->rl.reset_requests_ms);
            print_limit("tokens/min", it->rl.limit_tokens, it->rl.remaining_tokens,
                        it->rl.reset_tokens_ms);
        } else if (!probe && strncmp(it->verdict, "valid", 5) == 0) {
            printf("    (no rate-limit headers on /v1/models; --probe reads them with a "
                   "1-token request)\n");
        }
    }
    rc = bad ? RUN_EXIT_FAILED : RUN_EXIT_OK;
out:
    memset(auth, 0, sizeof(auth));
    pool_release(&pool);             /* before the urls and bodies it may still use */
    if (items)
        for (size_t i = 0; i < ks.n; i++) {
            free(items[i].url);
            free(items[i].body);
            pool_headers_free(items[i].hdrs);
        }
    free(items);
    keys_release(&ks);
    return rc;
}
