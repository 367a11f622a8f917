/*
 * ledger_redis: the hiredis client of the shared ledger (see ledger_redis.h
 * for the model and ledger_lua.h for the scripts).
 *
 * Owns one redisContext (NULL while disconnected), the SHA1 of every loaded
 * script and the process id.  Every operation is one EVALSHA through
 * call_script(), the only place that talks to Redis after the connection is
 * made: it reconnects (AUTH, SELECT, SCRIPT LOAD) at most opts.attempts
 * times per call, reloads a script once on NOSCRIPT, and never answers from
 * local state.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include "clock.h"
#include "keys.h"
#include "ledger_lua.h"
#include "ledger_redis.h"
#include "ratelimit.h"
#include "redis_url.h"
#include "sha256.h"

enum { S_OPEN, S_LEASE, S_HEARTBEAT, S_RELEASE, S_SLOTS, S_RETURN, S_KEYGET, S_KEYSET,
       S_SHOW, S_COUNT };

static const char *const script_src[S_COUNT] = {
    LUA_OPEN, LUA_LEASE, LUA_HEARTBEAT, LUA_RELEASE, LUA_SLOTS, LUA_RETURN,
    LUA_KEYGET, LUA_KEYSET, LUA_SHOW
};

enum { K_META, K_LEASE, K_HB, K_SEQ, K_TAT, K_KEYS, K_KEY, K_COUNT };
static const char *const key_suffix[K_KEY] = { "meta", "lease", "hb", "seq", "tat", "keys" };

struct rledger {
    redisContext    *c;
    redis_url_t      url;
    char             where[300];      /* host:port/db, no secrets */
    char             name[65];
    char             keys[K_COUNT][256];
    char             id[128];
    char             sha[S_COUNT][41];
    rledger_opts_t    o;
    uint64_t         seq;
    int              registered;
    int              retried;         /* the last call_script resent a command */
    rledger_errkind_t kind;
    char             err[512];
};

__attribute__((format(printf, 3, 4)))
static int fail(rledger_t *l, rledger_errkind_t kind, const char *fmt, ...)
{
    va_list ap;

    l->kind = kind;
    va_start(ap, fmt);
    vsnprintf(l->err, sizeof(l->err), fmt, ap);
    va_end(ap);
    return -1;
}

void rledger_opts_default(rledger_opts_t *o)
{
    o->connect_timeout_ms = 500;
    o->command_timeout_ms = 1000;
    o->attempts = 3;
    o->horizon_ns = RLEDGER_HORIZON_NS;
    o->dead_ms = RLEDGER_DEAD_MS;
}

const char *rledger_error(const rledger_t *l) { return l->err; }
rledger_errkind_t rledger_errkind(const rledger_t *l) { return l->kind; }
const char *rledger_id(const rledger_t *l) { return l->id; }

static struct timeval tv_ms(int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return tv;
}

static void disconnect(rledger_t *l)
{
    if (l->c)
        redisFree(l->c);
    l->c = NULL;
}

/* Why the context failed, in words ("timed out" rather than EAGAIN). */
static const char *conn_why(const rledger_t *l)
{
    if (l->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
        return "timed out";
    return l->c->errstr[0] ? l->c->errstr : "connection lost";
}

/* A command during connection setup; 0 or -1 with l->err set. */
static int setup_cmd(rledger_t *l, int argc, const char **argv, redisReply **out)
{
    redisReply *r = redisCommandArgv(l->c, argc, argv, NULL);

    if (!r)
        return fail(l, RLEDGER_E_CONN, "Redis at %s: %s during %s", l->where, conn_why(l),
                    argv[0]);
    if (r->type == REDIS_REPLY_ERROR) {
        /* never argv: AUTH carries the password */
        fail(l, RLEDGER_E_REDIS, "Redis at %s refused %s: %s", l->where, argv[0], r->str);
        freeReplyObject(r);
        return -1;
    }
    if (out)
        *out = r;
    else
        freeReplyObject(r);
    return 0;
}

static int load_script(rledger_t *l, int i)
{
    const char *argv[3] = { "SCRIPT", "LOAD", script_src[i] };
    redisReply *r;

    if (setup_cmd(l, 3, argv, &r))
        return -1;
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        freeReplyObject(r);
        return fail(l, RLEDGER_E_REDIS, "Redis at %s: unexpected reply to SCRIPT LOAD", l->where);
    }
    memcpy(l->sha[i], r->str, 40);
    l->sha[i][40] = 0;
    freeReplyObject(r);
    return 0;
}

/* One connection attempt: connect, AUTH, SELECT, load the scripts. */
static int connect_once(rledger_t *l)
{
    char db[16];
    int i;

    disconnect(l);
    if (l->url.is_unix)
        l->c = redisConnectUnixWithTimeout(l->url.path, tv_ms(l->o.connect_timeout_ms));
    else
        l->c = redisConnectWithTimeout(l->url.host, l->url.port, tv_ms(l->o.connect_timeout_ms));
    if (!l->c)
        return fail(l, RLEDGER_E_CONN, "Redis at %s: out of memory", l->where);
    if (l->c->err) {
        fail(l, RLEDGER_E_CONN, "Redis at %s unreachable: %s", l->where, l->c->errstr);
        goto err;
    }
    if (redisSetTimeout(l->c, tv_ms(l->o.command_timeout_ms)) != REDIS_OK) {
        fail(l, RLEDGER_E_CONN, "Redis at %s: cannot set the command timeout", l->where);
        goto err;
    }
    if (l->url.has_pass) {
        const char *a3[3] = { "AUTH", l->url.user, l->url.pass };
        const char *a2[2] = { "AUTH", l->url.pass };
        if (l->url.user[0] ? setup_cmd(l, 3, a3, NULL) : setup_cmd(l, 2, a2, NULL))
            goto err;
    }
    if (l->url.db > 0) {
        const char *a[2] = { "SELECT", db };
        snprintf(db, sizeof(db), "%d", l->url.db);
        if (setup_cmd(l, 2, a, NULL))
            goto err;
    }
    for (i = 0; i < S_COUNT; i++)
        if (load_script(l, i))
            goto err;
    return 0;
err:
    disconnect(l);
    return -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* Runs script s with the ledger's keys (plus K_KEY when with_key) and
 * args.  Returns the reply array (first element "ok" or a refusal word), or
 * NULL with l->err set. */
static redisReply *call_script(rledger_t *l, int s, int with_key, int nargs, const char **args)
{
    const char *argv[3 + K_COUNT + 16];
    char nk[4];
    int nkeys = with_key ? K_COUNT : K_KEY, argc = 0, i, attempt, reloaded = 0;
    int64_t t0 = clock_mono_ms();
    redisReply *r = NULL;

    l->retried = 0;
    if (nargs > 16)
        return fail(l, RLEDGER_E_USAGE, "internal: too many script arguments"), NULL;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[argc++] = "EVALSHA";
    argv[argc++] = l->sha[s];
    argv[argc++] = nk;
    for (i = 0; i < nkeys; i++)
        argv[argc++] = l->keys[i];
    for (i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    for (attempt = 0; attempt < l->o.attempts; ) {
        if (!l->c) {
            if (attempt)
                sleep_ms(100 << (attempt - 1 < 4 ? attempt - 1 : 4));
            attempt++;
            if (connect_once(l)) {
                if (l->kind == RLEDGER_E_REDIS)
                    return NULL;              /* AUTH/SELECT refused: retrying will not help */
                continue;
            }
        }
        r = redisCommandArgv(l->c, argc, argv, NULL);
        if (!r) {
            fail(l, RLEDGER_E_CONN, "Redis at %s: %s", l->where, conn_why(l));
            disconnect(l);
            l->retried = 1;
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8) && !reloaded) {
            freeReplyObject(r);
            reloaded = 1;
            if (load_script(l, s)) {
                disconnect(l);
                continue;
            }
            argv[1] = l->sha[s];
            r = NULL;
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            fail(l, RLEDGER_E_REDIS, "Redis at %s: script error: %s", l->where, r->str);
            freeReplyObject(r);
            return NULL;
        }
        if (s != S_SHOW && (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
                            r->element[0]->type != REDIS_REPLY_STRING)) {
            freeReplyObject(r);
            fail(l, RLEDGER_E_REDIS, "Redis at %s: unexpected script reply", l->where);
            return NULL;
        }
        return r;
    }
    if (l->kind == RLEDGER_E_CONN) {
        char m[sizeof(l->err)];
        snprintf(m, sizeof(m), "%s", l->err);
        fail(l, RLEDGER_E_CONN, "%s (gave up after %d attempt%s in %.1f s; no local fallback)",
             m, l->o.attempts, l->o.attempts == 1 ? "" : "s",
             (double)(clock_mono_ms() - t0) / 1000.0);
    }
    return NULL;
}

static const char *elem(const redisReply *r, size_t i)
{
    if (i >= r->elements || r->element[i]->type != REDIS_REPLY_STRING)
        return "";
    return r->element[i]->str;
}

static int is_ok(const redisReply *r)
{
    return !strcmp(elem(r, 0), "ok");
}

static int to_money(const char *s, money_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int to_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int to_double(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int bad_reply(rledger_t *l, redisReply *r)
{
    freeReplyObject(r);
    return fail(l, RLEDGER_E_REDIS, "Redis at %s: malformed ledger data in '%s' (not written by "
                "this llmbatch version?)", l->where, l->keys[K_META]);
}

static int reaped(rledger_t *l, redisReply *r)
{
    freeReplyObject(r);
    l->registered = 0;
    return fail(l, RLEDGER_E_REAPED, "ledger '%s': this process (%s) was silent for more than "
                "%.1f s and was counted as dead; its lease is counted as possibly billed", l->name,
                l->id, l->o.dead_ms / 1000.0);
}

/* Handles the replies every registered operation may give instead of "ok":
 * "gone" and "reaped".  Returns 1 (with r freed and the error set) when it
 * did. */
static int lost(rledger_t *l, redisReply *r)
{
    if (!strcmp(elem(r, 0), "gone")) {
        freeReplyObject(r);
        l->registered = 0;
        fail(l, RLEDGER_E_REDIS, "ledger '%s' vanished from Redis at %s (deleted, or Redis "
             "restarted without persistence): stopping rather than counting from zero",
             l->name, l->where);
        return 1;
    }
    if (!strcmp(elem(r, 0), "reaped")) {
        reaped(l, r);
        return 1;
    }
    return 0;
}

static int valid_name(const char *s, size_t max, int colon)
{
    size_t n = 0;

    if (!s)
        return 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || (colon && (c == ':' || c == '@' || c == '+'))))
            return 0;
    }
    return n > 0 && n <= max;
}

static void make_id(rledger_t *l)
{
    char host[64] = "host";
    uint32_t rnd;

    if (gethostname(host, sizeof(host) - 1))
        snprintf(host, sizeof(host), "host");
    host[sizeof(host) - 1] = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (uint32_t)clock_mono_ns() ^ (uint32_t)getpid() * 2654435761u;
    snprintf(l->id, sizeof(l->id), "%s:%ld:%08" PRIx32, host, (long)getpid(), rnd);
}

rledger_t *rledger_connect(const char *name, const char *url, const rledger_opts_t *o,
                           char *err, size_t errlen, rledger_errkind_t *kind)
{
    rledger_t *l = calloc(1, sizeof(*l));
    int i;

    if (kind)
        *kind = RLEDGER_E_USAGE;
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (o)
        l->o = *o;
    else
        rledger_opts_default(&l->o);
    if (l->o.attempts < 1)
        l->o.attempts = 1;
    if (l->o.connect_timeout_ms <= 0)
        l->o.connect_timeout_ms = 500;      /* 0 would mean "wait forever" to hiredis */
    if (l->o.command_timeout_ms <= 0)
        l->o.command_timeout_ms = 1000;
    if (l->o.horizon_ns <= 0)
        l->o.horizon_ns = RLEDGER_HORIZON_NS;
    if (l->o.dead_ms <= 0)
        l->o.dead_ms = RLEDGER_DEAD_MS;
    if (!valid_name(name, 64, 0)) {
        snprintf(err, errlen, "bad ledger name '%s': use 1-64 of A-Z a-z 0-9 . _ -",
                 name ? name : "");
        goto err;
    }
    if (redis_url_parse(url, &l->url, err, errlen))
        goto err;
    snprintf(l->name, sizeof(l->name), "%s", name);
    redis_url_describe(&l->url, l->where, sizeof(l->where));
    for (i = 0; i < K_KEY; i++)
        snprintf(l->keys[i], sizeof(l->keys[i]), "llmbatch:ledger:{%s}:%s", name, key_suffix[i]);
    snprintf(l->keys[K_KEY], sizeof(l->keys[K_KEY]), "llmbatch:ledger:{%s}:key:", name);
    make_id(l);
    if (connect_once(l)) {
        /* one more try after a short pause: a Redis just started may not listen yet */
        sleep_ms(100);
        if (l->kind == RLEDGER_E_REDIS || connect_once(l)) {
            if (kind)
                *kind = l->kind;
            snprintf(err, errlen, "%s", l->err);
            goto err;
        }
    }
    if (kind)
        *kind = RLEDGER_E_NONE;
    return l;
err:
    rledger_free(l);
    return NULL;
}

void rledger_free(rledger_t *l)
{
    if (!l)
        return;
    disconnect(l);
    memset(l->url.pass, 0, sizeof(l->url.pass));
    free(l);
}

static void fmt_money(char *buf, size_t n, money_t m)
{
    snprintf(buf, n, "%" PRId64, m < 0 ? (int64_t)0 : m);
}

static void fmt_usd(char *buf, size_t n, money_t m)
{
    money_format_min(m, 2, buf, n);
}

int rledger_open(rledger_t *l, rledger_terms_t *t)
{
    char dead[16], have[2], budget[24], raise[2], rpm[40], tpm[40], a[32], b[32], w[16];
    const char *args[7] = { l->id, dead, have, budget, raise, rpm, tpm };
    redisReply *r;
    double v;

    if (l->registered)       /* a second open would reset this process's lease to 0 */
        return fail(l, RLEDGER_E_USAGE, "ledger '%s': already open", l->name);
    if (t->have_budget && t->budget < 0)
        return fail(l, RLEDGER_E_USAGE, "ledger '%s': negative budget", l->name);
    snprintf(dead, sizeof(dead), "%d", l->o.dead_ms);
    snprintf(have, sizeof(have), "%d", t->have_budget ? 1 : 0);
    fmt_money(budget, sizeof(budget), t->have_budget ? t->budget : 0);
    snprintf(raise, sizeof(raise), "%d", t->raise_budget ? 1 : 0);
    snprintf(rpm, sizeof(rpm), "%.17g", t->rpm > 0 ? t->rpm : 0.0);
    snprintf(tpm, sizeof(tpm), "%.17g", t->tpm > 0 ? t->tpm : 0.0);
    r = call_script(l, S_OPEN, 0, 7, args);
    if (!r)
        return -1;
    snprintf(w, sizeof(w), "%s", elem(r, 0));     /* r is freed before w is used */
    if (!strcmp(w, "nocap")) {
        freeReplyObject(r);
        return fail(l, RLEDGER_E_REFUSED, "ledger '%s' was created without a budget; a shared "
                    "budget cannot be added later: drop --budget or use a new ledger name", l->name);
    }
    if (!strcmp(w, "budget") || !strcmp(w, "lower")) {
        money_t cap = 0;
        if (to_money(elem(r, 1), &cap))
            return bad_reply(l, r);
        fmt_usd(a, sizeof(a), cap);
        fmt_usd(b, sizeof(b), t->budget);
        freeReplyObject(r);
        if (!strcmp(w, "budget"))
            return fail(l, RLEDGER_E_REFUSED, "ledger '%s' has a budget of $%s, this run says $%s: "
                        "run without --budget to share the ledger's, or add --raise-budget to "
                        "raise it", l->name, a, b);
        return fail(l, RLEDGER_E_REFUSED, "ledger '%s' has a budget of $%s; a shared budget can "
                    "only be raised, not lowered to $%s", l->name, a, b);
    }
    if (!strcmp(w, "rpm") || !strcmp(w, "tpm")) {
        snprintf(a, sizeof(a), "%s", elem(r, 1));
        freeReplyObject(r);
        if (!strcmp(a, "0"))
            return fail(l, RLEDGER_E_REFUSED, "ledger '%s' has no --%s ceiling, this run names "
                        "%.17g: ceilings are set when a ledger is created (use a new ledger name)",
                        l->name, w, !strcmp(w, "rpm") ? t->rpm : t->tpm);
        return fail(l, RLEDGER_E_REFUSED, "ledger '%s' has --%s %s, this run names %.17g: run "
                    "without --%s to share the ledger's, or use a new ledger name", l->name, w, a,
                    !strcmp(w, "rpm") ? t->rpm : t->tpm, w);
    }
    if (!is_ok(r) || r->elements < 8)
        return bad_reply(l, r);
    t->have_budget = !strcmp(elem(r, 1), "1");
    if (to_money(elem(r, 2), &t->budget) || to_money(elem(r, 3), &t->spent) ||
        to_money(elem(r, 4), &t->possibly_billed))
        return bad_reply(l, r);
    if (to_double(elem(r, 5), &v))
        return bad_reply(l, r);
    t->rpm = v;
    if (to_double(elem(r, 6), &v))
        return bad_reply(l, r);
    t->tpm = v;
    t->created = !strcmp(elem(r, 7), "1");
    freeReplyObject(r);
    l->registered = 1;
    return 0;
}

static int need_registered(rledger_t *l)
{
    if (!l->registered)
        return fail(l, RLEDGER_E_USAGE, "ledger '%s': not open (call rledger_open first)", l->name);
    return 0;
}

int rledger_lease(rledger_t *l, money_t want, money_t need, money_t in_use,
                  money_t settled_delta, money_t possibly_delta, rledger_lease_t *out)
{
    char dead[16], seq[24], w[24], u[24], sd[24], pd[24], nd[24];
    const char *args[8] = { l->id, dead, seq, w, u, sd, pd, nd };
    redisReply *r;
    money_t cap;

    if (need_registered(l))
        return -1;
    if (want < 0 || need < 0 || in_use < 0 || settled_delta < 0 || possibly_delta < 0 ||
        possibly_delta > settled_delta)
        return fail(l, RLEDGER_E_USAGE, "rledger_lease: negative or inconsistent amounts");
    snprintf(dead, sizeof(dead), "%d", l->o.dead_ms);
    snprintf(seq, sizeof(seq), "%" PRIu64, ++l->seq);
    fmt_money(w, sizeof(w), want);
    fmt_money(u, sizeof(u), in_use);
    fmt_money(sd, sizeof(sd), settled_delta);
    fmt_money(pd, sizeof(pd), possibly_delta);
    fmt_money(nd, sizeof(nd), need);
    r = call_script(l, S_LEASE, 0, 8, args);
    if (!r || lost(l, r))
        return -1;
    if (!is_ok(r) || r->elements < 6 || to_money(elem(r, 1), &out->granted) ||
        to_money(elem(r, 2), &out->spent) || to_money(elem(r, 3), &out->others) ||
        to_money(elem(r, 5), &cap))
        return bad_reply(l, r);
    out->capped = !strcmp(elem(r, 4), "1");
    out->cap = out->capped ? cap : MONEY_MAX;
    out->short_lease = out->granted < in_use;
    freeReplyObject(r);
    return 0;
}

int rledger_heartbeat(rledger_t *l)
{
    char dead[16];
    const char *args[2] = { l->id, dead };
    redisReply *r;

    if (need_registered(l))
        return -1;
    snprintf(dead, sizeof(dead), "%d", l->o.dead_ms);
    r = call_script(l, S_HEARTBEAT, 0, 2, args);
    if (!r || lost(l, r))
        return -1;
    freeReplyObject(r);
    return 0;
}

int rledger_release(rledger_t *l, money_t settled_delta, money_t possibly_delta, money_t in_flight)
{
    char dead[16], sd[24], pd[24], fl[24];
    const char *args[5] = { l->id, dead, sd, pd, fl };
    redisReply *r;

    if (need_registered(l))
        return -1;
    if (settled_delta < 0 || possibly_delta < 0 || in_flight < 0)
        return fail(l, RLEDGER_E_USAGE, "rledger_release: negative amounts");
    snprintf(dead, sizeof(dead), "%d", l->o.dead_ms);
    fmt_money(sd, sizeof(sd), settled_delta);
    fmt_money(pd, sizeof(pd), possibly_delta);
    fmt_money(fl, sizeof(fl), in_flight);
    r = call_script(l, S_RELEASE, 0, 5, args);
    if (!r)
        return -1;
    /* a release resent after a lost reply finds itself gone: it was applied */
    if (!(l->retried && !strcmp(elem(r, 0), "reaped")) && lost(l, r))
        return -1;
    freeReplyObject(r);
    l->registered = 0;
    return 0;
}

static int64_t step_for(double per_min)
{
    double s = 60e9 / per_min;

    if (s > 3600e9)
        s = 3600e9;
    return (int64_t)ceil(s);
}

int rledger_rate_slots(rledger_t *l, const char *kind, double per_min, uint64_t n_want,
                       uint64_t n_min, rledger_slots_t *out)
{
    char step[24], want[24], hor[24], nmin[24];
    const char *args[6] = { l->id, kind, step, want, hor, nmin };
    redisReply *r;
    int64_t rel, n, now;

    memset(out, 0, sizeof(*out));
    if (need_registered(l))
        return -1;
    if (!valid_name(kind, sizeof(out->kind) - 1, 1))
        return fail(l, RLEDGER_E_USAGE, "rledger_rate_slots: bad ceiling name");
    if (!(per_min > 0) || !isfinite(per_min) || n_want < 1)
        return fail(l, RLEDGER_E_USAGE, "rledger_rate_slots: rate and count must be positive");
    if (n_want > 100000000)
        n_want = 100000000;
    if (n_min > n_want)
        n_want = n_min;
    out->step_ns = step_for(per_min);
    /* Redis keeps times as exact two-limb integers, but a block's length
     * is computed as a Lua double: keep it far below 2^53 ns */
    if ((double)n_min * (double)out->step_ns > 1e15)
        return fail(l, RLEDGER_E_USAGE, "a start of %" PRIu64 " units at %.6g per minute would "
                    "take more than 11 days", n_min, per_min);
    snprintf(step, sizeof(step), "%" PRId64, out->step_ns);
    snprintf(want, sizeof(want), "%" PRIu64, n_want);
    snprintf(hor, sizeof(hor), "%" PRId64, l->o.horizon_ns);
    snprintf(nmin, sizeof(nmin), "%" PRIu64, n_min);
    r = call_script(l, S_SLOTS, 0, 6, args);
    if (!r)
        return -1;
    /* after the reply: local time is no earlier than Redis's now in the
     * script, so slot times mapped from here are never early */
    now = clock_mono_ns();
    if (lost(l, r))
        return -1;
    if (!is_ok(r) || r->elements < 4 || to_i64(elem(r, 1), &rel) || to_i64(elem(r, 2), &n) ||
        rel < 0 || n < 0 || strlen(elem(r, 3)) >= sizeof(out->end))
        return bad_reply(l, r);
    out->first_ns = now + rel;
    out->n = (uint64_t)n;
    snprintf(out->kind, sizeof(out->kind), "%s", kind);
    snprintf(out->end, sizeof(out->end), "%s", elem(r, 3));
    freeReplyObject(r);
    return 0;
}

int rledger_rate_return(rledger_t *l, const rledger_slots_t *s, uint64_t n_unused, int *returned)
{
    char n[24], step[24];
    const char *args[4] = { s->kind, s->end, n, step };
    redisReply *r;

    if (returned)
        *returned = 0;
    if (n_unused == 0 || s->n == 0)
        return 0;
    if (n_unused > s->n)
        return fail(l, RLEDGER_E_USAGE, "rledger_rate_return: more slots than granted");
    snprintf(n, sizeof(n), "%" PRIu64, n_unused);
    snprintf(step, sizeof(step), "%" PRId64, s->step_ns);
    r = call_script(l, S_RETURN, 0, 4, args);
    if (!r)
        return -1;
    if (!is_ok(r))
        return bad_reply(l, r);
    if (returned)
        *returned = !strcmp(elem(r, 1), "1");
    freeReplyObject(r);
    return 0;
}

static int key_target(rledger_t *l, const char *fp)
{
    if (!valid_name(fp, 80, 1) && !(fp && fp[0] && strlen(fp) <= 80 && !strpbrk(fp, "{} \t\r\n")))
        return fail(l, RLEDGER_E_USAGE, "ledger: bad key name (use the key's label or fingerprint)");
    snprintf(l->keys[K_KEY], sizeof(l->keys[K_KEY]), "llmbatch:ledger:{%s}:key:%s", l->name, fp);
    return 0;
}

static int key_reply(rledger_t *l, redisReply *r, rledger_key_t *out)
{
    int64_t cool, state;

    memset(out, 0, sizeof(*out));
    if (!is_ok(r) || r->elements < 9 || to_double(elem(r, 1), &out->server_rpm) ||
        to_double(elem(r, 2), &out->server_tpm) || to_double(elem(r, 3), &out->factor) ||
        to_double(elem(r, 4), &out->learned_rpm) || to_double(elem(r, 5), &out->learned_step) ||
        to_i64(elem(r, 6), &cool) || to_i64(elem(r, 7), &state) || cool < 0 ||
        state < KEY_OK || state > KEY_INVALID)
        return bad_reply(l, r);
    out->cooling_until_ns = cool > 0 ? clock_mono_ns() + cool * 1000000LL : 0;
    out->state = (int)state;
    snprintf(out->reason, sizeof(out->reason), "%s", elem(r, 8));
    freeReplyObject(r);
    return 0;
}

int rledger_key_get(rledger_t *l, const char *fp, rledger_key_t *out)
{
    char rec[32], forget[24];
    const char *args[2] = { rec, forget };
    redisReply *r;

    if (key_target(l, fp))
        return -1;
    snprintf(rec, sizeof(rec), "%.17g", RL_RECOVER_STEP);
    snprintf(forget, sizeof(forget), "%lld", RL_FORGET_NS / 1000000LL);
    r = call_script(l, S_KEYGET, 1, 2, args);
    if (!r)
        return -1;
    return key_reply(l, r, out);
}

int rledger_key_update(rledger_t *l, const char *fp, const rledger_key_t *in, rledger_key_t *merged)
{
    char rec[32], forget[24], rpm[32], tpm[32], fac[32], lr[32], ls[32], cool[24], st[8];
    const char *args[11] = { rec, forget, fp, rpm, tpm, fac, lr, ls, cool, st, in->reason };
    redisReply *r;
    rledger_key_t tmp;
    int64_t rel = 0;

    if (key_target(l, fp))
        return -1;
    if (in->state < KEY_OK || in->state > KEY_INVALID || !(in->factor > 0) ||
        !isfinite(in->factor) || in->server_rpm < 0 || in->server_tpm < 0 || in->learned_rpm < 0)
        return fail(l, RLEDGER_E_USAGE, "rledger_key_update: bad key state");
    if (in->cooling_until_ns > 0) {
        rel = (in->cooling_until_ns - clock_mono_ns() + 999999) / 1000000;
        if (rel < 0)
            rel = 0;
    }
    snprintf(rec, sizeof(rec), "%.17g", RL_RECOVER_STEP);
    snprintf(forget, sizeof(forget), "%lld", RL_FORGET_NS / 1000000LL);
    snprintf(rpm, sizeof(rpm), "%.17g", in->server_rpm);
    snprintf(tpm, sizeof(tpm), "%.17g", in->server_tpm);
    snprintf(fac, sizeof(fac), "%.17g", in->factor);
    snprintf(lr, sizeof(lr), "%.17g", in->learned_rpm);
    snprintf(ls, sizeof(ls), "%.17g", in->learned_step);
    snprintf(cool, sizeof(cool), "%" PRId64, rel);
    snprintf(st, sizeof(st), "%d", in->state == KEY_COOLING ? KEY_OK : in->state);
    r = call_script(l, S_KEYSET, 1, 11, args);
    if (!r)
        return -1;
    return key_reply(l, r, merged ? merged : &tmp);
}

/* "123" (picodollars) -> {"x": USD, "x_pp": "123"} */
static int put_money(json_t *o, const char *k, const char *pp)
{
    char kk[64];
    money_t m;

    if (!pp)
        pp = "0";
    if (to_money(pp, &m))
        return -1;
    snprintf(kk, sizeof(kk), "%s_pp", k);
    json_object_set_new(o, k, json_real(money_to_usd(m)));
    json_object_set_new(o, kk, json_string(pp));
    return 0;
}

json_t *rledger_show(rledger_t *l)
{
    char dead[16], rec[32], forget[24];
    const char *args[3] = { dead, rec, forget };
    redisReply *r;
    json_t *in = NULL, *out = NULL, *procs, *p;
    json_error_t je;
    size_t i;

    snprintf(dead, sizeof(dead), "%d", l->o.dead_ms);
    snprintf(rec, sizeof(rec), "%.17g", RL_RECOVER_STEP);
    snprintf(forget, sizeof(forget), "%lld", RL_FORGET_NS / 1000000LL);
    r = call_script(l, S_SHOW, 0, 3, args);
    if (!r)
        return NULL;
    if (r->type != REDIS_REPLY_STRING || !(in = json_loadb(r->str, r->len, 0, &je))) {
        bad_reply(l, r);
        return NULL;
    }
    freeReplyObject(r);
    out = json_object();
    if (!out)
        goto bad;
    json_object_set_new(out, "ledger", json_string(l->name));
    json_object_set_new(out, "redis", json_string(l->where));
    json_object_set(out, "exists", json_object_get(in, "exists"));
    if (json_is_true(json_object_get(in, "exists"))) {
        const char *capped = json_string_value(json_object_get(in, "capped"));
        int64_t created = 0, now = (int64_t)json_number_value(json_object_get(in, "now_ms"));
        const char *cs = json_string_value(json_object_get(in, "created_ms"));
        double rpm = 0, tpm = 0;
        if (capped && !strcmp(capped, "1")) {
            if (put_money(out, "budget", json_string_value(json_object_get(in, "cap"))))
                goto bad;
        } else {
            json_object_set_new(out, "budget", json_null());
        }
        if (put_money(out, "spent", json_string_value(json_object_get(in, "spent"))) ||
            put_money(out, "possibly_billed", json_string_value(json_object_get(in, "possibly"))) ||
            put_money(out, "leases", json_string_value(json_object_get(in, "leases"))))
            goto bad;
        if (json_string_value(json_object_get(in, "rpm")))
            to_double(json_string_value(json_object_get(in, "rpm")), &rpm);
        if (json_string_value(json_object_get(in, "tpm")))
            to_double(json_string_value(json_object_get(in, "tpm")), &tpm);
        json_object_set_new(out, "rpm", rpm > 0 ? json_real(rpm) : json_null());
        json_object_set_new(out, "tpm", tpm > 0 ? json_real(tpm) : json_null());
        if (cs && !to_i64(cs, &created))
            json_object_set_new(out, "age_s", json_integer((now - created) / 1000));
        json_object_set_new(out, "reaped_processes", json_integer(
            json_string_value(json_object_get(in, "reaped"))
            ? strtoll(json_string_value(json_object_get(in, "reaped")), NULL, 10) : 0));
        procs = json_array();
        json_array_foreach(json_object_get(in, "processes"), i, p) {
            json_t *q = json_object();
            json_object_set(q, "id", json_object_get(p, "id"));
            json_object_set(q, "heartbeat_age_ms", json_object_get(p, "heartbeat_age_ms"));
            json_object_set(q, "stale", json_object_get(p, "stale"));
            if (put_money(q, "lease", json_string_value(json_object_get(p, "lease")))) {
                json_decref(q);
                json_decref(procs);
                goto bad;
            }
            json_array_append_new(procs, q);
        }
        json_object_set_new(out, "processes", procs);
        /* cjson encodes an empty list as {} */
        json_object_set_new(out, "keys", json_is_array(json_object_get(in, "keys"))
                            ? json_deep_copy(json_object_get(in, "keys")) : json_array());
    }
    json_decref(in);
    return out;
bad:
    json_decref(in);
    json_decref(out);
    fail(l, RLEDGER_E_REDIS, "Redis at %s: malformed ledger data in '%s'", l->where, l->keys[K_META]);
    return NULL;
}

void rledger_key_fingerprint(const char *secret, char *out, size_t outlen)
{
    static const char domain[] = "llmbatch ledger key v1";
    unsigned char d[SHA256_DIGEST_LEN];
    char hex[65];
    sha256_ctx_t c;

    sha256_init(&c);
    sha256_update(&c, domain, sizeof(domain));     /* with its NUL */
    sha256_update(&c, secret, strlen(secret));
    sha256_final(&c, d);
    sha256_hex(d, hex);
    snprintf(out, outlen, "k-%.16s", hex);
    memset(d, 0, sizeof(d));
}
