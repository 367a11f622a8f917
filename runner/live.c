/*
 * live: the live backend (backend.h) -- one HTTP attempt per transfer over
 * the curl multi pool (pool.c) -- and what each finished attempt means.
 *
 * on_done() is a short dispatch over outcome kinds.  Each branch settles
 * the attempt (settle.c), feeds the key's pacing, and either puts the job
 * back into admission's retry queue or ends it (finish.c).
 *
 * Server text (bodies, messages, request ids, Location headers) is passed
 * through redact() as soon as a reply arrives, so no loaded API key, of any
 * shape, can reach a file or the terminal from a server that echoes it.
 *
 * Setup slips stop the run with exit 5 and the jobs pending, instead of
 * failing every job: a URL curl cannot use, a redirect, an endpoint that
 * answers 404 to several jobs before it has answered anything else, DNS,
 * TLS, and a server that could not be reached on any attempt.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "clock.h"
#include "results.h"
#include "run_int.h"
#include "url.h"

#define NS_PER_MS 1000000LL
#define BACKOFF_BASE_MS 500
#define BACKOFF_CAP_MS 60000
#define RATE_LIMITED_MAX 100
#define SETUP_404_JOBS 3            /* distinct jobs that prove a wrong path */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

void redact(const run_ctx_t *c, char *buf, size_t len)
{
    keys_redact(&c->keys, buf, len);
}

/* ---- starting ---------------------------------------------------------- */

/* The header list of key k (auth, content type, dialect headers), built on
 * first use and kept for the run. */
static const struct curl_slist *key_headers(run_ctx_t *c, api_key_t *k)
{
    size_t i = (size_t)(k - c->keys.v);
    char auth[4200];
    const char *h[4];
    int n = 0;

    if (c->live.key_hdrs[i])
        return c->live.key_hdrs[i];
    if (keys_auth_header(k, auth, sizeof(auth)))
        return NULL;
    h[n++] = "Content-Type: application/json";
    h[n++] = auth;
    if (k->dialect == DIALECT_ANTHROPIC)
        h[n++] = "anthropic-version: " PROVIDER_ANTHROPIC_VERSION;
    h[n] = NULL;
    c->live.key_hdrs[i] = pool_headers(h);
    memset(auth, 0, sizeof(auth));
    return c->live.key_hdrs[i];
}

static const char *job_url(run_ctx_t *c, const job_t *j)
{
    char **u = &c->live.urls[j->dialect][j->endpoint];
    if (!*u)
        *u = url_join(c->live.base_url[j->dialect], j->path);
    return *u;
}

static int live_start(run_ctx_t *c, slot_t *s, api_key_t *k)
{
    const struct curl_slist *hdrs = key_headers(c, k);
    const char *url = job_url(c, &s->job);

    if (!hdrs || !url)
        return -1;
    return pool_start(&c->live.pool, url, hdrs, s->job.body, s->job.body_len, s);
}

/* ---- the history of a job's attempts ----------------------------------- */

static void keep_body(run_ctx_t *c, slot_t *s, long status, const char *body, size_t len)
{
    slot_hist_t *h = slot_hist(s);

    h->last_request_id[0] = '\0';
    free(h->last_body);
    h->last_body = NULL;
    h->last_body_len = 0;
    h->last_status = status;
    if (len > 65536)
        len = 65536;
    if (len && (h->last_body = malloc(len + 1))) {
        memcpy(h->last_body, body, len);
        h->last_body[len] = '\0';
        h->last_body_len = len;
        redact(c, h->last_body, len);
    }
}

static void keep_reply(run_ctx_t *c, slot_t *s, const xfer_result_t *r, const outcome_t *o)
{
    const char *id = provider_request_id(r->headers);
    slot_hist_t *h;

    keep_body(c, s, r->status, r->body, r->body_len);
    h = slot_hist(s);
    snprintf(h->last_request_id, sizeof(h->last_request_id), "%s", id ? id : "");
    redact(c, h->last_request_id, strlen(h->last_request_id));
    snprintf(h->last_code, sizeof(h->last_code), "%s", o->code);
    snprintf(h->last_message, sizeof(h->last_message), "%s", o->message);
    redact(c, h->last_message, strlen(h->last_message));
}

void retry_or_fail(run_ctx_t *c, slot_t *s, int64_t retry_after_ms, const char *last_code)
{
    int64_t now_ns = clock_mono_ns(), delay_ms;

    if (s->attempts > c->o->max_retries) {
        const slot_hist_t *h = slot_hist_peek(s);
        char msg[400];
        snprintf(msg, sizeof(msg), "gave up after %d attempts (%s); last: %s",
                 s->attempts, h->seen, h->last_message[0] ? h->last_message : last_code);
        finish_failed(c, s, "max_retries_exceeded", msg);
        return;
    }
    if (s->hist)
        s->hist->wait_why[0] = '\0';
    if (retry_after_ms >= 0) {
        delay_ms = retry_after_ms;
        if (c->o->max_wait_s > 0 && delay_ms > (int64_t)(c->o->max_wait_s * 1000))
            delay_ms = (int64_t)(c->o->max_wait_s * 1000);
        slot_hist_t *h = slot_hist(s);
        snprintf(h->wait_why, sizeof(h->wait_why), "the server asked to retry job %.40s "
                 "after %lld s (retry-after)", s->job.custom_id,
                 (long long)(retry_after_ms / 1000));
    } else {
        int64_t cap = BACKOFF_BASE_MS;
        for (int i = 1; i < s->attempts && cap < BACKOFF_CAP_MS; i++)
            cap *= 2;
        if (cap > BACKOFF_CAP_MS)
            cap = BACKOFF_CAP_MS;
        delay_ms = (int64_t)(rng_next() % (uint64_t)(cap + 1));   /* full jitter */
    }
    s->not_before_ns = now_ns + delay_ms * NS_PER_MS;
    retry_push(c, s);
}

/* ---- outcomes ---------------------------------------------------------- */

static void key_gone(run_ctx_t *c, slot_t *s, key_state_t state, long status,
                     const char *reason);

/* A setup slip: the run stops (exit 5) and s stays pending. */
static void setup_stop(run_ctx_t *c, slot_t *s, const char *why)
{
    run_fatal(c, "%s", why);
    finish_drop(c, s);
}

static void on_transport_error(run_ctx_t *c, slot_t *s, const xfer_result_t *r)
{
    const char *what = r->timed_out ? "timeout" : "network_error";
    const char *err = r->error ? r->error : what;
    int dns = r->code == CURLE_COULDNT_RESOLVE_HOST || r->code == CURLE_COULDNT_RESOLVE_PROXY;
    slot_hist_t *h;
    char why[700];

    settle_attempt(c, s, r->reached ? SETTLE_HOW_BILLED : SETTLE_HOW_FREE, NULL);
    if (r->timed_out)
        c->stats.timeouts++;
    else if (r->code != CURLE_ABORTED_BY_CALLBACK)
        c->stats.network_errors++;
    switch (r->code) {
    case CURLE_ABORTED_BY_CALLBACK:
        finish_drop(c, s);            /* stopped: stays pending */
        return;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        snprintf(why, sizeof(why), "the API URL cannot be used (%s); check --base-url", err);
        setup_stop(c, s, why);
        return;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
        snprintf(why, sizeof(why), "TLS: %s (check the server, or pass --cacert FILE; "
                 "--insecure turns verification off)", err);
        setup_stop(c, s, why);
        return;
    default:
        break;
    }
    if ((r->code == CURLE_COULDNT_CONNECT || dns) &&
        ++s->connect_fails >= s->attempts &&
        (s->attempts > c->o->max_retries || (dns && s->attempts >= 2))) {
        /* the server could not be reached at all, attempt after attempt:
         * every job would end the same way, so stop with this one pending */
        snprintf(why, sizeof(why), "cannot reach the API after %d attempts (%s); check "
                 "--base-url and the network", s->attempts, err);
        setup_stop(c, s, why);
        return;
    }
    slot_seen(s, r->timed_out ? "timeout" : "net");
    keep_body(c, s, 0, NULL, 0);
    h = slot_hist(s);
    snprintf(h->last_code, sizeof(h->last_code), "%s", what);
    snprintf(h->last_message, sizeof(h->last_message), "%s", err);
    retry_or_fail(c, s, -1, what);
}

static void on_success(run_ctx_t *c, slot_t *s, const xfer_result_t *r, outcome_t *o)
{
    api_key_t *k = s->key;
    char reqid[128];
    const char *id = provider_request_id(r->headers);
    money_t cost;
    job_end_t e;

    if (k) {
        rl_key_success(&k->rl, clock_mono_ns());
        k->successes++;
    }
    c->live.ep_proven[s->job.dialect][s->job.endpoint] = 1;
    cost = settle_attempt(c, s, SETTLE_HOW_USAGE, &o->usage);
    stats_latency(&c->stats, r->elapsed_ms);
    snprintf(reqid, sizeof(reqid), "%s", id ? id : "");
    redact(c, reqid, strlen(reqid));
    if (c->cache && s->has_ckey && cache_usable(c->cache))
        cache_put(c->cache, slot_ckey(s), s->job.model, r->status, r->body, r->body_len, cost);
    e = (job_end_t){ .ok = 1, .status = r->status, .request_id = id ? reqid : NULL,
                     .body = r->body, .body_len = r->body_len, .tree = o->body,
                     .mark = RESULTS_MARK_NONE, .cost = cost };
    finish_job(c, s, &e);
}

static void on_retry(run_ctx_t *c, slot_t *s, const xfer_result_t *r, const outcome_t *o,
                     const rl_info_t *rli)
{
    api_key_t *k = s->key;
    char st[16];
    int billed = !o->rate_limited && (r->status >= 500 || r->status < 300);

    settle_attempt(c, s, billed ? SETTLE_HOW_BILLED : SETTLE_HOW_FREE, NULL);
    if (o->rate_limited && k && c->o->max_wait_s > 0) {
        int64_t wait_ms = o->retry_after_ms;
        if (rli->remaining_requests == 0 && rli->reset_requests_ms > wait_ms)
            wait_ms = rli->reset_requests_ms;
        if (rli->remaining_tokens == 0 && rli->reset_tokens_ms > wait_ms)
            wait_ms = rli->reset_tokens_ms;
        if (wait_ms > (int64_t)(c->o->max_wait_s * 1000)) {
            char why[200];
            snprintf(why, sizeof(why), "its rate limit asks to wait %lld s, more than "
                     "--max-wait %.0f s", (long long)((wait_ms + 999) / 1000),
                     c->o->max_wait_s);
            key_gone(c, s, KEY_EXHAUSTED, r->status, why);
            return;
        }
    }
    if (o->rate_limited && k) {
        key_stats_t *ks = stats_key(&c->stats, k->name);
        rl_key_on_429(&k->rl, clock_mono_ns(), o->retry_after_ms,
                      rli->limit_requests == -1 && rli->remaining_requests == -1 &&
                      rli->limit_tokens == -1 ? NULL : rli);
        k->n429++;
        if (ks)
            ks->n429++;
        c->stats.rate_limited++;
        /* pacing is our job, not the request's fault: a rate-limit 429
         * does not use up the job's retries (up to a sanity bound) */
        if (++s->rate_limited < RATE_LIMITED_MAX)
            s->attempts--;
    }
    snprintf(st, sizeof(st), "%ld", r->status);
    slot_seen(s, r->status < 300 ? "bad_body" : st);
    keep_reply(c, s, r, o);
    retry_or_fail(c, s, o->retry_after_ms, o->code);
}

/* 1 if a 404 names the model (the job's own reason, not the setup's). */
static int about_model(const outcome_t *o)
{
    return strstr(o->code, "model") != NULL || strstr(o->message, "model") != NULL;
}

static void on_final(run_ctx_t *c, slot_t *s, const xfer_result_t *r, const outcome_t *o,
                     const char *fallback_code)
{
    int d = s->job.dialect, ep = s->job.endpoint;

    /* a 5xx made final by x-should-retry: false may still have been billed */
    settle_attempt(c, s, r->status >= 500 ? SETTLE_HOW_BILLED : SETTLE_HOW_FREE, NULL);
    keep_reply(c, s, r, o);
    if (r->status == 404 && !c->live.ep_proven[d][ep] && !about_model(o)) {
        /* an endpoint that has answered nothing but 404 yet: the path is
         * probably wrong for every job, so hold the job, uncounted */
        if (++s->setup_holds == 1)
            c->live.ep_404[d][ep]++;
        if (c->live.ep_404[d][ep] >= SETUP_404_JOBS || s->setup_holds >= SETUP_404_JOBS) {
            char why[900];
            snprintf(why, sizeof(why), "%s answered 404 (%s) and nothing else; check "
                     "--base-url (the jobs stay pending)",
                     c->live.urls[d][ep] ? c->live.urls[d][ep] : s->job.path,
                     slot_hist_peek(s)->last_message);
            setup_stop(c, s, why);
            return;
        }
        s->attempts--;
        slot_seen(s, "404");
        retry_or_fail(c, s, 1000, "404");
        return;
    }
    finish_failed(c, s, o->code[0] ? o->code : fallback_code, slot_hist_peek(s)->last_message);
}

/* Key k of s is not used again this run (state, server's or our reason);
 * s retries on another key without counting an attempt. */
static void key_gone(run_ctx_t *c, slot_t *s, key_state_t state, long status,
                     const char *reason)
{
    api_key_t *k = s->key;

    if (k && k->state != state) {      /* said once, not once per request in flight */
        key_stats_t *ks = stats_key(&c->stats, k->name);
        k->state = state;
        snprintf(k->reason, sizeof(k->reason), "%s", reason);
        redact(c, k->reason, strlen(k->reason));
        if (ks) {
            snprintf(ks->state, sizeof(ks->state), "%s", key_state_name(k->state));
            snprintf(ks->reason, sizeof(ks->reason), "%s", k->reason);
        }
        if (!c->o->quiet)
            fprintf(stderr, "llmbatch: key %s is %s (HTTP %ld: %s); %s\n", k->name,
                    key_state_name(k->state), status, k->reason,
                    keys_any_usable(&c->keys, s->job.dialect)
                        ? "moving its jobs to the other keys"
                        : "no usable key left");
    }
    s->attempts--;
    s->not_before_ns = clock_mono_ns();
    retry_push(c, s);
}

static void on_key_problem(run_ctx_t *c, slot_t *s, const xfer_result_t *r,
                           const outcome_t *o)
{
    settle_attempt(c, s, SETTLE_HOW_FREE, NULL);
    key_gone(c, s, o->kind == OUT_KEY_INVALID ? KEY_INVALID : KEY_EXHAUSTED, r->status,
             o->message);
}

static void on_reply(run_ctx_t *c, slot_t *s, const xfer_result_t *r);

/* Every reply passes here first: its body is redacted (every loaded key
 * masked, also where JSON escapes hide one) and a UTF-8 byte-order mark,
 * which RFC 8259 lets a reader ignore, is dropped; then it is handled. */
static void on_done(void *ctx, void *user, const xfer_result_t *r)
{
    run_ctx_t *c = ctx;
    xfer_result_t clean = *r;
    char *fixed = NULL;
    size_t flen = 0;

    if (clean.body_len) {
        redact(c, (char *)clean.body, clean.body_len);   /* the pool's own buffer */
        if (keys_redact_json(&c->keys, clean.body, clean.body_len, &fixed, &flen) == 1) {
            clean.body = fixed;
            clean.body_len = flen;
        }
    }
    if (clean.body_len >= 3 && memcmp(clean.body, "\xef\xbb\xbf", 3) == 0) {
        clean.body += 3;
        clean.body_len -= 3;
    }
    on_reply(c, user, &clean);
    free(fixed);
}

static void on_reply(run_ctx_t *c, slot_t *s, const xfer_result_t *r)
{
    api_key_t *k = s->key;
    outcome_t o;
    rl_info_t rli;

    s->inflight = 0;
    if (k) {
        key_stats_t *ks = stats_key(&c->stats, k->name);
        k->inflight--;
        if (ks)
            ks->requests++;
    }
    if (r->code != CURLE_OK) {
        on_transport_error(c, s, r);
        return;
    }
    c->stats.by_status[r->status > 0 && r->status < 600 ? r->status : 0]++;
    if (r->status >= 300 && r->status < 400) {
        char why[900];
        const char *loc = headers_get(r->headers, "location");
        snprintf(why, sizeof(why), "the API answered HTTP %ld, a redirect to %.500s; "
                 "llmbatch does not follow redirects (a POST would not survive them): "
                 "fix --base-url", r->status, loc && *loc ? loc : "(no Location)");
        redact(c, why, strlen(why));
        settle_attempt(c, s, SETTLE_HOW_FREE, NULL);
        setup_stop(c, s, why);
        return;
    }
    outcome_init(&o);
    provider_classify(s->job.dialect, r->status, r->headers, r->body, r->body_len,
                      clock_wall_ms(), &o);
    if (k && rl_parse_headers(r->headers, clock_wall_ms(), &rli))
        rl_key_observe(&k->rl, clock_mono_ns(), &rli);
    else
        memset(&rli, 0xff, sizeof(rli));   /* all -1: nothing announced */

    switch (o.kind) {
    case OUT_SUCCESS:
        on_success(c, s, r, &o);
        break;
    case OUT_RETRY:
        on_retry(c, s, r, &o, &rli);
        break;
    case OUT_FINAL:
        on_final(c, s, r, &o, "invalid_request");
        break;
    case OUT_KEY_INVALID:
        if (r->status == 403 && k && k->successes > 0) {
            /* this key works for other requests: the 403 is about this one
             * (a model or feature the project may not use) */
            on_final(c, s, r, &o, "permission_denied");
            break;
        }
        /* fall through */
    case OUT_KEY_EXHAUSTED:
        on_key_problem(c, s, r, &o);
        break;
    }
    outcome_release(&o);
}

/* ---- the backend table -------------------------------------------------- */

static void live_perform(run_ctx_t *c)
{
    pool_perform(&c->live.pool, on_done, c);
}

static void live_wait(run_ctx_t *c, int timeout_ms, int fd)
{
    pool_wait(&c->live.pool, timeout_ms, fd);
}

static void live_abort_all(run_ctx_t *c)
{
    if (c->live.pool.multis && c->live.pool.inflight)
        pool_abort_all(&c->live.pool, on_done, c);
}

static int live_inflight(const run_ctx_t *c)
{
    return c->live.pool.inflight;
}

const backend_t live_backend = {
    "live", live_start, live_perform, live_wait, live_abort_all, live_inflight
};

int live_init(run_ctx_t *c)
{
    const run_opts_t *o = c->o;
    pool_opts_t po = { (long)(o->timeout_s * 1000), (long)(o->connect_timeout_s * 1000),
                       o->cacert, o->insecure, o->concurrency, 0 };

    rng_state ^= (uint64_t)clock_mono_ns() | 1;
    if (!(c->live.key_hdrs = calloc(c->keys.n ? c->keys.n : 1, sizeof(*c->live.key_hdrs))))
        return -1;
    po.plain_http = 1;
    for (int d = 0; d < 2; d++) {
        if (!(c->live.base_url[d] = strdup(cli_base_url((dialect_t)d, o->base_url))))
            return -1;
        po.plain_http &= strncmp(c->live.base_url[d], "http://", 7) == 0;
    }
    return pool_init(&c->live.pool, &po);
}

void live_release(run_ctx_t *c)
{
    live_abort_all(c);
    if (c->live.pool.multis)
        pool_release(&c->live.pool);
    if (c->live.key_hdrs)
        for (size_t i = 0; i < c->keys.n; i++)
            pool_headers_free(c->live.key_hdrs[i]);
    free(c->live.key_hdrs);
    c->live.key_hdrs = NULL;
    for (int d = 0; d < 2; d++) {
        free(c->live.base_url[d]);
        c->live.base_url[d] = NULL;
        for (int e = 0; e < 5; e++) {
            free(c->live.urls[d][e]);
            c->live.urls[d][e] = NULL;
        }
    }
}
