/*
 * Tests for runner/ledger_redis against a real redis-server this test starts
 * on a free loopback port (and stops).  Exits 77 (ctest SKIP) when
 * redis-server is not installed.
 *
 *   terms        create / attach / budget mismatch refused / raised / ceilings
 *   leases       the lease arithmetic, exact to the picodollar
 *   hammer       forked clients leasing, reserving and settling at random
 *                while the parent audits spent + leases <= cap in snapshots;
 *                at the end spent == the sum of what the clients settled
 *   reaping      a holder that dies keeps its lease counted as possibly
 *                billed; a holder that was silent too long is told so
 *   slots        forked clients taking shared rate slots: sorted slot times
 *                are >= step apart, and no window of W s holds more than
 *                N*W/60 + 1
 *   keys         merge rules of the shared key state; show; ledger_cmd
 *   recovery     NOSCRIPT (SCRIPT FLUSH) and a killed connection are
 *                survived; a password is used and never printed
 *   failure      Redis stopped (SIGSTOP) or killed: calls fail promptly with
 *                a clear error
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include "tap.h"
#include "clock.h"
#include "keys.h"
#include "ledger_cmd.h"
#include "ledger_lua.h"
#include "ledger_redis.h"
#include "lease.h"

static pid_t redis_pid;
static int redis_port;
static char url[128];

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return rng_state;
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts;
    if (ns <= 0)
        return;
    ts.tv_sec = ns / 1000000000LL;
    ts.tv_nsec = ns % 1000000000LL;
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static int free_port(void)
{
    struct sockaddr_in a = { 0 };
    socklen_t n = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
        !getsockname(fd, (struct sockaddr *)&a, &n))
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int have_redis_server(void)
{
    const char *path = getenv("PATH");
    char buf[512];

    while (path && *path) {
        const char *c = strchr(path, ':');
        size_t n = c ? (size_t)(c - path) : strlen(path);
        snprintf(buf, sizeof(buf), "%.*s/redis-server", (int)n, path);
        if (access(buf, X_OK) == 0)
            return 1;
        path = c ? c + 1 : NULL;
    }
    return 0;
}

static redisContext *raw(void)
{
    struct timeval tv = { 1, 0 };
    return redisConnectWithTimeout("127.0.0.1", redis_port, tv);
}

/* Starts redis-server on a free port; retries with another port when the
 * server exits (someone took the port first).  Up to 3 x 10 s. */
static int start_redis(void)
{
    char port[16];
    int i, tries;

    for (tries = 0; tries < 3; tries++) {
        redis_port = free_port();
        if (redis_port < 0)
            return -1;
        snprintf(port, sizeof(port), "%d", redis_port);
        redis_pid = fork();
        if (redis_pid < 0)
            return -1;
        if (redis_pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execlp("redis-server", "redis-server", "--port", port, "--save", "", "--appendonly",
                   "no", "--bind", "127.0.0.1", "--daemonize", "no", (char *)NULL);
            _exit(127);
        }
        for (i = 0; i < 200; i++) {           /* up to 10 s */
            redisContext *c = raw();
            if (c && !c->err) {
                redisReply *r = redisCommand(c, "PING");
                int ok = r && r->type == REDIS_REPLY_STATUS;
                freeReplyObject(r);
                redisFree(c);
                if (ok) {
                    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis_port);
                    return 0;
                }
            } else if (c) {
                redisFree(c);
            }
            if (waitpid(redis_pid, NULL, WNOHANG) == redis_pid)
                break;                        /* exited: port taken? */
            sleep_ns(50000000LL);
        }
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = 0;
    }
    return -1;
}

static void stop_redis(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGCONT);
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = 0;
    }
}

static rledger_t *conn(const char *name, const rledger_opts_t *o)
{
    char err[512];
    rledger_errkind_t k;
    rledger_t *l = rledger_connect(name, url, o, err, sizeof(err), &k);
    if (!l)
        fprintf(stderr, "connect: %s\n", err);
    return l;
}

static rledger_t *open_budget(const char *name, money_t cap, const rledger_opts_t *o)
{
    rledger_terms_t t = { .have_budget = 1, .budget = cap };
    rledger_t *l = conn(name, o);

    if (l && rledger_open(l, &t)) {
        fprintf(stderr, "open: %s\n", rledger_error(l));
        rledger_free(l);
        return NULL;
    }
    return l;
}

static void test_terms(void)
{
    rledger_terms_t t = { .have_budget = 1, .budget = 5 * MONEY_PER_USD, .rpm = 600 };
    rledger_t *a = conn("terms", NULL), *b = conn("terms", NULL), *c = conn("terms", NULL);

    CHECK(a && b && c);
    if (!a || !b || !c)
        goto out;
    CHECK_INT(rledger_open(a, &t), 0);
    CHECK_INT(t.created, 1);
    CHECK_INT(t.budget, 5 * MONEY_PER_USD);

    /* same terms: attach */
    t = (rledger_terms_t){ .have_budget = 1, .budget = 5 * MONEY_PER_USD, .rpm = 600 };
    CHECK_INT(rledger_open(b, &t), 0);
    CHECK_INT(t.created, 0);

    /* no --budget, no --rpm: adopt the ledger's */
    t = (rledger_terms_t){ 0 };
    CHECK_INT(rledger_open(c, &t), 0);
    CHECK_INT(t.have_budget, 1);
    CHECK_INT(t.budget, 5 * MONEY_PER_USD);
    CHECK(t.rpm == 600);
    CHECK_INT(rledger_open(c, &t), -1);                 /* once per process */
    CHECK(strstr(rledger_error(c), "already open") != NULL);
    CHECK_INT(rledger_release(c, 0, 0, 0), 0);

    /* a different budget is refused... */
    t = (rledger_terms_t){ .have_budget = 1, .budget = 7 * MONEY_PER_USD };
    CHECK_INT(rledger_open(c, &t), -1);
    CHECK_INT(rledger_errkind(c), RLEDGER_E_REFUSED);
    fprintf(stderr, "refusal: %s\n", rledger_error(c));
    CHECK(strstr(rledger_error(c), "$5.00") && strstr(rledger_error(c), "$7.00") &&
          strstr(rledger_error(c), "--raise-budget"));
    /* ...unless raised explicitly; lowering never */
    t = (rledger_terms_t){ .have_budget = 1, .budget = 7 * MONEY_PER_USD, .raise_budget = 1 };
    CHECK_INT(rledger_open(c, &t), 0);
    CHECK_INT(t.budget, 7 * MONEY_PER_USD);
    CHECK_INT(rledger_release(c, 0, 0, 0), 0);
    t = (rledger_terms_t){ .have_budget = 1, .budget = 6 * MONEY_PER_USD, .raise_budget = 1 };
    CHECK_INT(rledger_open(c, &t), -1);
    CHECK(strstr(rledger_error(c), "only be raised") != NULL);
    /* ceilings must match */
    t = (rledger_terms_t){ .rpm = 1200 };
    CHECK_INT(rledger_open(c, &t), -1);
    fprintf(stderr, "refusal: %s\n", rledger_error(c));
    CHECK(strstr(rledger_error(c), "--rpm 600") != NULL);
    t = (rledger_terms_t){ .tpm = 1000 };
    CHECK_INT(rledger_open(c, &t), -1);
    CHECK(strstr(rledger_error(c), "no --tpm") != NULL);

    /* a ledger created without a budget cannot get one */
    rledger_free(c);
    c = conn("nocap", NULL);
    t = (rledger_terms_t){ 0 };
    CHECK(c && rledger_open(c, &t) == 0 && t.have_budget == 0);
    CHECK(c && rledger_release(c, 0, 0, 0) == 0);
    t = (rledger_terms_t){ .have_budget = 1, .budget = 1 };
    CHECK(c && rledger_open(c, &t) == -1 && strstr(rledger_error(c), "without a budget"));

    /* bad names and URLs */
    {
        char err[512];
        rledger_errkind_t k;
        CHECK(!rledger_connect("a{b}", url, NULL, err, sizeof(err), &k));
        CHECK_INT(k, RLEDGER_E_USAGE);
        CHECK(strstr(err, "bad ledger name") != NULL);
        CHECK(!rledger_connect("x", "rediss://u:hunter2@127.0.0.1:1/0", NULL, err, sizeof(err), &k));
        CHECK_INT(k, RLEDGER_E_USAGE);
        CHECK(strstr(err, "hiredis >= 1.0") && !strstr(err, "hunter2"));
    }
out:
    rledger_free(a);
    rledger_free(b);
    rledger_free(c);
}

static void test_leases(void)
{
    rledger_t *a = open_budget("lease", 1000, NULL), *b = open_budget("lease", 1000, NULL);
    rledger_lease_t la, lb;

    CHECK(a && b);
    if (!a || !b)
        goto out;
    CHECK_INT(rledger_lease(a, 600, 0, 0, 0, 0, &la), 0);
    CHECK_INT(la.granted, 600);
    CHECK_INT(rledger_lease(b, 600, 0, 0, 0, 0, &lb), 0);
    CHECK_INT(lb.granted, 400);                  /* the room left */
    CHECK_INT(lb.others, 600);
    CHECK_INT(lb.cap, 1000);
    /* a settles 100 (30 possibly billed), keeps 50 reserved, asks for 0 */
    CHECK_INT(rledger_lease(a, 0, 0, 50, 100, 30, &la), 0);
    CHECK_INT(la.granted, 50);                   /* never below in_use */
    CHECK_INT(la.spent, 100);
    CHECK_INT(rledger_lease(b, 10000, 0, 0, 0, 0, &lb), 0);
    CHECK_INT(lb.granted, 850);                  /* 1000 - 100 - 50 */
    CHECK_INT(la.short_lease, 0);
    /* a settles more than its lease covered (a server billing beyond the
     * reservation): the lease is cut to the room, and flagged */
    CHECK_INT(rledger_lease(a, 0, 0, 50, 120, 0, &la), 0);
    CHECK_INT(la.spent, 220);
    CHECK_INT(la.granted, 0);                    /* 220 + 850 > 1000: no room */
    CHECK_INT(la.short_lease, 1);
    CHECK_INT(rledger_release(b, 0, 0, 0), 0);
    CHECK_INT(rledger_lease(a, 10000, 0, 0, 0, 0, &la), 0);
    CHECK_INT(la.granted, 780);
    CHECK_INT(rledger_release(a, 80, 0, 10), 0);  /* 10 abandoned in flight */
    {
        rledger_t *c = conn("lease", NULL);
        json_t *j = c ? rledger_show(c) : NULL;
        CHECK(j != NULL);
        CHECK_STR(json_string_value(json_object_get(j, "spent_pp")), "310");
        CHECK_STR(json_string_value(json_object_get(j, "possibly_billed_pp")), "40");
        CHECK_STR(json_string_value(json_object_get(j, "leases_pp")), "0");
        CHECK_INT(json_array_size(json_object_get(j, "processes")), 0);
        json_decref(j);
        rledger_free(c);
    }
    /* need: two processes that each hold part of the room and each need
     * more than their part do not deadlock; a grant below need gives back */
    {
        rledger_t *c = open_budget("need", 100, NULL), *d = open_budget("need", 100, NULL);
        rledger_lease_t lc, ld;
        CHECK(c && d);
        if (c && d) {
            CHECK_INT(rledger_lease(c, 60, 0, 0, 0, 0, &lc), 0);
            CHECK_INT(rledger_lease(d, 60, 0, 0, 0, 0, &ld), 0);
            CHECK_INT(ld.granted, 40);
            CHECK_INT(rledger_lease(c, 70, 70, 0, 0, 0, &lc), 0);
            CHECK_INT(lc.granted, 0);                 /* 60 < 70: all back */
            CHECK_INT(rledger_lease(d, 70, 70, 0, 0, 0, &ld), 0);
            CHECK_INT(ld.granted, 70);
            CHECK_INT(rledger_lease(c, 70, 70, 20, 0, 0, &lc), 0);
            CHECK_INT(lc.granted, 20);                /* keeps only in_use */
        }
        rledger_free(c);
        rledger_free(d);
    }
    /* exact beyond 2^53 picodollars ($9007): doubles would round these */
    {
        money_t cap = 9007199254740993LL * 100 + 7;   /* ~ $900k */
        rledger_t *c = open_budget("big", cap, NULL);
        rledger_lease_t lc;
        CHECK(c != NULL);
        if (c) {
            CHECK_INT(rledger_lease(c, MONEY_MAX / 2, 0, 0, 0, 0, &lc), 0);
            CHECK_INT(lc.granted, cap);
            CHECK_INT(rledger_lease(c, cap, 0, 3, 9007199254740993LL, 1, &lc), 0);
            CHECK_INT(lc.spent, 9007199254740993LL);
            CHECK_INT(lc.granted, cap - 9007199254740993LL);
            rledger_free(c);
        }
    }
out:
    rledger_free(a);
    rledger_free(b);
}

/* --- many clients hammering one budget ------------------------------- */

#define HAMMER_CAP   2000000LL
#define HAMMER_KIDS  6
#define HAMMER_OPS   400

typedef struct kid_result {
    int64_t settled;        /* total this client settled (incl. abandoned) */
    int64_t possibly;
    int     violations;     /* local: reserved + settled_since > lease, or a
                             * reply with spent + lease + others > cap */
    int     errors;
    int     leases;
} kid_result_t;

/* One client: the local side is runner/lease's book, as the runner keeps
 * it; a reservation is made only when lease_fits, a report happens when
 * lease_due or at random. */
static void hammer_kid(int idx, int fd)
{
    kid_result_t res = { 0 };
    rledger_t *l;
    rledger_lease_t ls;
    lease_book_t b;
    money_t res_v[64], r_next = 0;
    int nres = 0, i;

    rng_state = 0x9E3779B97F4A7C15ULL * (uint64_t)(idx + 1);
    lease_init(&b, clock_mono_ns());
    l = open_budget("hammer", HAMMER_CAP, NULL);
    if (!l) {
        res.errors++;
        goto done;
    }
    for (i = 0; i < HAMMER_OPS; i++) {
        uint64_t op = rnd() % 10;
        int64_t now = clock_mono_ns();
        if (!r_next)
            r_next = 1 + (money_t)(rnd() % 20000);
        if (op < 5 && nres < 64) {                          /* reserve */
            if (lease_fits(&b, r_next)) {
                lease_reserve(&b, r_next);
                res_v[nres++] = r_next;
                r_next = 0;
            }
        } else if (op < 8 && nres > 0) {                   /* settle */
            int j = (int)(rnd() % (uint64_t)nres);
            money_t r = res_v[j], cost;
            int kind = (int)(rnd() % 4);
            cost = kind == 0 ? (money_t)(rnd() % (uint64_t)(r + 1)) : kind == 1 ? r : 0;
            res_v[j] = res_v[--nres];
            lease_settle(&b, r, cost, kind == 1);
            res.settled += cost;
            if (kind == 1)
                res.possibly += r;
        }
        if (op >= 8 || lease_due(&b, r_next, now)) {       /* report and lease */
            money_t want = lease_want(&b, r_next, now) + (money_t)(rnd() % 50000);
            if (rledger_lease(l, want, lease_need(&b, r_next), b.reserved, b.since, b.since_pb,
                             &ls)) {
                res.errors++;
                break;
            }
            res.leases++;
            if (ls.spent + ls.granted + ls.others > HAMMER_CAP || ls.short_lease)
                res.violations++;
            lease_reported(&b, ls.granted, r_next, now);
            if (!lease_fits(&b, r_next) && nres == 0 &&
                lease_cap_reached(ls.spent, ls.cap, ls.capped, r_next))
                r_next = 0;                                  /* that one never fits: a smaller one */
        }
        if (b.reserved + b.since > b.lease)
            res.violations++;
    }
    /* clean exit: half the clients abandon what they hold in flight */
    if (idx % 2 == 0) {
        if (rledger_release(l, b.since, b.since_pb, b.reserved))
            res.errors++;
        res.settled += b.reserved;
        res.possibly += b.reserved;
    } else {
        while (nres > 0) {
            money_t r = res_v[--nres];
            lease_settle(&b, r, r / 2, 0);
            res.settled += r / 2;
        }
        if (rledger_release(l, b.since, b.since_pb, 0))
            res.errors++;
    }
    rledger_free(l);
done:
    if (write(fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
        _exit(3);
    _exit(0);
}

static money_t jmoney(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? strtoll(s, NULL, 10) : -1;
}

static void test_hammer(void)
{
    int fds[2], i, audits = 0, bad_audits = 0, status, exited = 0;
    pid_t kids[HAMMER_KIDS];
    kid_result_t total = { 0 }, r;
    rledger_t *aud;
    int64_t t_end;

    /* create the ledger first so every kid attaches to the same budget */
    aud = open_budget("hammer", HAMMER_CAP, NULL);
    CHECK(aud != NULL);
    if (!aud || pipe(fds))
        return;
    for (i = 0; i < HAMMER_KIDS; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            close(fds[0]);
            hammer_kid(i, fds[1]);
        }
    }
    close(fds[1]);
    /* audit atomic snapshots while they run (bounded: 60 s) */
    t_end = clock_mono_ms() + 60000;
    while (exited < HAMMER_KIDS && clock_mono_ms() < t_end) {
        json_t *j = rledger_show(aud);
        if (j) {
            audits++;
            if (jmoney(j, "spent_pp") + jmoney(j, "leases_pp") > HAMMER_CAP)
                bad_audits++;
            json_decref(j);
        }
        for (i = 0; i < HAMMER_KIDS; i++)
            if (kids[i] > 0 && waitpid(kids[i], &status, WNOHANG) == kids[i]) {
                CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                kids[i] = 0;
                exited++;
            }
        sleep_ns(2000000);
    }
    CHECK_INT(exited, HAMMER_KIDS);
    for (i = 0; i < HAMMER_KIDS; i++) {
        if (read(fds[0], &r, sizeof(r)) != (ssize_t)sizeof(r)) {
            CHECK(!"kid result");
            break;
        }
        total.settled += r.settled;
        total.possibly += r.possibly;
        total.violations += r.violations;
        total.errors += r.errors;
        total.leases += r.leases;
    }
    close(fds[0]);
    CHECK(audits > 0);
    CHECK_INT(bad_audits, 0);
    CHECK_INT(total.violations, 0);
    CHECK_INT(total.errors, 0);
    CHECK(total.leases > HAMMER_KIDS * 10);
    {
        json_t *j = rledger_show(aud);
        /* the auditor itself is attached with a zero lease */
        CHECK(j != NULL);
        CHECK_INT(jmoney(j, "spent_pp"), total.settled);
        CHECK_INT(jmoney(j, "possibly_billed_pp"), total.possibly);
        CHECK(jmoney(j, "spent_pp") <= HAMMER_CAP);
        /* the demand far exceeds the cap: it was mostly used */
        CHECK(jmoney(j, "spent_pp") > HAMMER_CAP / 2);
        fprintf(stderr, "hammer: %d leases, spent %" PRId64 " of %lld, %d audits\n",
                total.leases, (int64_t)jmoney(j, "spent_pp"), HAMMER_CAP, audits);
        json_decref(j);
    }
    rledger_free(aud);
}

/* --- dead holders ------------------------------------------------------ */

static void test_reaping(void)
{
    rledger_opts_t o;
    rledger_t *live, *silent;
    rledger_lease_t ls;
    pid_t p;
    int status;
    json_t *j;

    rledger_opts_default(&o);
    o.dead_ms = 1500;
    live = open_budget("reap", 10000, &o);
    silent = open_budget("reap", 10000, &o);
    CHECK(live && silent);
    if (!live || !silent)
        goto out;
    CHECK_INT(rledger_lease(silent, 1000, 0, 0, 0, 0, &ls), 0);
    CHECK_INT(ls.granted, 1000);
    p = fork();
    if (p == 0) {              /* takes a lease of 3000, then dies without a word */
        rledger_t *d = open_budget("reap", 10000, &o);
        if (!d || rledger_lease(d, 3000, 0, 0, 0, 0, &ls) || ls.granted != 3000)
            _exit(1);
        kill(getpid(), SIGKILL);
    }
    waitpid(p, &status, 0);
    CHECK(WIFSIGNALED(status));
    CHECK_INT(rledger_lease(live, 100000, 0, 0, 0, 0, &ls), 0);
    CHECK_INT(ls.granted, 10000 - 3000 - 1000);   /* the dead lease still counts */
    j = rledger_show(live);
    CHECK(j && json_array_size(json_object_get(j, "processes")) == 3);
    json_decref(j);
    /* live heartbeats for 2.2 s; silent and the dead one do not */
    {
        int i;
        for (i = 0; i < 11; i++) {
            sleep_ns(200000000LL);
            CHECK_INT(rledger_heartbeat(live), 0);
        }
    }
    CHECK_INT(rledger_lease(live, 100000, 0, 6000, 0, 0, &ls), 0);
    CHECK_INT(ls.spent, 4000);                      /* both reaped leases */
    CHECK_INT(ls.others, 0);
    CHECK_INT(ls.granted, 6000);
    j = rledger_show(live);
    CHECK(j != NULL);
    CHECK_INT(jmoney(j, "possibly_billed_pp"), 4000);
    CHECK_INT(json_array_size(json_object_get(j, "processes")), 1);
    CHECK_INT(json_integer_value(json_object_get(j, "reaped_processes")), 2);
    json_decref(j);
    /* the silent one learns it was counted dead: it must stop */
    CHECK_INT(rledger_lease(silent, 1000, 0, 0, 500, 0, &ls), -1);
    CHECK_INT(rledger_errkind(silent), RLEDGER_E_REAPED);
    CHECK(strstr(rledger_error(silent), "possibly billed") != NULL);
    CHECK_INT(rledger_release(live, 0, 0, 0), 0);
out:
    rledger_free(live);
    rledger_free(silent);
}

/* --- shared rate slots ------------------------------------------------- */

#define SLOT_KIDS   4
#define SLOT_PER    200
#define SLOT_RPM    60000.0                       /* step 1 ms */

/* Redis-time ns of slot i of a block: end - (n - i) * step */
static int64_t slot_abs(const rledger_slots_t *s, uint64_t i)
{
    return strtoll(s->end, NULL, 10) - (int64_t)(s->n - i) * s->step_ns;
}

static void slot_kid(int idx, int fd)
{
    rledger_t *l = conn("slots", NULL);
    rledger_terms_t t = { .rpm = SLOT_RPM };
    rledger_slots_t s;
    int64_t buf[SLOT_PER];
    int used = 0, guard = 0;
    slot_walk_t w = { 0 };

    rng_state = 0xD1B54A32D192ED03ULL * (uint64_t)(idx + 1);
    if (!l || rledger_open(l, &t))
        _exit(1);
    while (used < SLOT_PER && guard++ < 10000) {
        uint64_t want = 1 + rnd() % 30, u, i;
        if (rledger_rate_slots(l, "rpm", SLOT_RPM, want, 0, &s))
            _exit(2);
        if (s.n == 0) {
            sleep_ns(s.first_ns - clock_mono_ns());
            continue;
        }
        if (s.n > want || s.first_ns < clock_mono_ns() - 1000000000LL)
            _exit(4);
        u = 1 + rnd() % s.n;                      /* use some, give back the rest */
        if (u > (uint64_t)(SLOT_PER - used))
            u = (uint64_t)(SLOT_PER - used);
        /* walk the block as the pacer does (runner/lease's slot walker) */
        slot_walk_init(&w, s.first_ns, s.step_ns, s.n, w.next_min_ns);
        for (i = 0; i < u; i++) {
            int64_t now = clock_mono_ns(), wait = slot_walk_wait(&w, 1, now);
            if (wait < 0)
                _exit(7);
            sleep_ns(wait);
            buf[used++] = slot_abs(&s, w.used);
            slot_walk_take(&w, 1, clock_mono_ns());
        }
        if (rledger_rate_return(l, &s, s.n - u, NULL))
            _exit(5);
    }
    if (write(fd, buf, sizeof(int64_t) * (size_t)used) != (ssize_t)(sizeof(int64_t) * (size_t)used))
        _exit(3);
    rledger_release(l, 0, 0, 0);
    rledger_free(l);
    _exit(used == SLOT_PER ? 0 : 6);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_slots(void)
{
    static int64_t all[SLOT_KIDS * SLOT_PER];
    int fds[SLOT_KIDS][2], i, status, min_gap_ok = 1, worst = 0;
    pid_t kids[SLOT_KIDS];
    size_t n = 0, a, b;
    static const double windows_s[] = { 0.0005, 0.001, 0.0025, 0.01, 0.05, 0.1, 0.5 };
    rledger_t *l = conn("slots", NULL);
    rledger_terms_t t = { .rpm = SLOT_RPM };
    rledger_slots_t s;
    const int64_t step = 1000000;

    CHECK(l && rledger_open(l, &t) == 0);
    for (i = 0; i < SLOT_KIDS; i++) {
        if (pipe(fds[i]))
            return;
        kids[i] = fork();
        if (kids[i] == 0)
            slot_kid(i, fds[i][1]);
        close(fds[i][1]);
    }
    for (i = 0; i < SLOT_KIDS; i++) {
        ssize_t got;
        while ((got = read(fds[i][0], (char *)(all + n), sizeof(int64_t) * SLOT_PER)) > 0)
            n += (size_t)got / sizeof(int64_t);
        close(fds[i][0]);
        waitpid(kids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK_INT(n, SLOT_KIDS * SLOT_PER);
    qsort(all, n, sizeof(all[0]), cmp_i64);
    for (a = 1; a < n; a++)
        if (all[a] - all[a - 1] < step)
            min_gap_ok = 0;
    CHECK(min_gap_ok);
    for (i = 0; i < (int)(sizeof(windows_s) / sizeof(windows_s[0])); i++) {
        int64_t w = (int64_t)(windows_s[i] * 1e9);
        double limit = SLOT_RPM * windows_s[i] / 60.0 + 1;
        int over = 0;
        for (a = 0, b = 0; a < n; a++) {          /* windows [all[a], all[a] + w] */
            while (b < n && all[b] <= all[a] + w)
                b++;
            if ((double)(b - a) > limit + 1e-9)
                over++;
            if ((int)(b - a) > worst && i == 3)
                worst = (int)(b - a);
        }
        CHECK_INT(over, 0);
    }
    fprintf(stderr, "slots: %zu slots by %d clients, at most %d in any 10 ms (limit 11)\n",
            n, SLOT_KIDS, worst);
    /* returning: a tail comes back, a block that is no longer the tail does not */
    if (l) {
        rledger_slots_t s2;
        int back = -1;
        /* 600/min: slot 6 is 0.6 s ahead, so it is still in the future */
        CHECK_INT(rledger_rate_slots(l, "ret", 600, 10, 0, &s), 0);
        CHECK_INT(s.n, 10);
        CHECK_INT(s.step_ns, 100000000);
        CHECK_INT(rledger_rate_return(l, &s, 4, &back), 0);
        CHECK_INT(back, 1);
        CHECK_INT(rledger_rate_slots(l, "ret", 600, 1, 0, &s2), 0);
        CHECK_INT(slot_abs(&s2, 0), slot_abs(&s, 6));   /* the first returned slot */
        CHECK_INT(rledger_rate_return(l, &s, 2, &back), 0);
        CHECK_INT(back, 0);
        /* the horizon: a slow ceiling grants one slot, then none for a minute */
        CHECK_INT(rledger_rate_slots(l, "key:team-a:rpm", 1, 5, 0, &s), 0);
        CHECK_INT(s.n, 1);
        CHECK_INT(rledger_rate_slots(l, "key:team-a:rpm", 1, 5, 0, &s2), 0);
        CHECK_INT(s2.n, 0);
        CHECK(s2.first_ns - clock_mono_ns() > 50000000000LL);
        /* tokens: a request's weight is one block even beyond the horizon
         * (10000 tpm: 6 ms a token, 2 s hold 334), and then the ceiling is
         * booked until that block ends */
        CHECK_INT(rledger_rate_slots(l, "tpm", 10000, 4000, 4000, &s), 0);
        CHECK_INT(s.n, 4000);
        CHECK_INT(s.step_ns, 6000000);
        CHECK_INT(rledger_rate_slots(l, "tpm", 10000, 10, 1, &s2), 0);
        CHECK_INT(s2.n, 0);
        CHECK(s2.first_ns - clock_mono_ns() > 20000000000LL);
        CHECK_INT(rledger_rate_return(l, &s, 3999, &back), 0);   /* used one */
        CHECK_INT(back, 1);
        CHECK_INT(rledger_rate_slots(l, "tpm", 10000, 10, 1, &s2), 0);
        CHECK_INT(s2.n, 10);
        CHECK_INT(rledger_rate_slots(l, "tpm", 1, 100000, 100000, &s2), -1);
        CHECK(strstr(rledger_error(l), "11 days") != NULL);
        CHECK_INT(rledger_rate_slots(l, "bad kind!", 1, 5, 0, &s2), -1);
        CHECK_INT(rledger_errkind(l), RLEDGER_E_USAGE);
    }
    rledger_free(l);
}

/* --- key state, show, the command ---------------------------------------- */

static void test_fingerprint(void)
{
    char a[32], b[32], c[32];

    rledger_key_fingerprint("sk-proj-AAAAAAAAAAAAAAAAAAAA1234", a, sizeof(a));
    rledger_key_fingerprint("sk-proj-BBBBBBBBBBBBBBBBBBBB1234", b, sizeof(b));
    rledger_key_fingerprint("sk-proj-AAAAAAAAAAAAAAAAAAAA1234", c, sizeof(c));
    CHECK_INT(strlen(a), 18);
    CHECK(!strncmp(a, "k-", 2));
    CHECK_STR(a, c);                                  /* stable across processes */
    CHECK(strcmp(a, b) != 0);                         /* same tail, different key */
}

static void test_keys(void)
{
    rledger_t *a = open_budget("keys", 1000, NULL), *b = open_budget("keys", 1000, NULL);
    rledger_key_t in, m;
    int64_t now;

    CHECK(a && b);
    if (!a || !b)
        goto out;
    CHECK_INT(rledger_key_get(a, "team-a", &m), 0);
    CHECK(m.factor == 1 && m.server_rpm == 0 && m.state == KEY_OK && m.cooling_until_ns == 0);

    now = clock_mono_ns();
    in = (rledger_key_t){ .server_rpm = 500, .factor = 0.5, .cooling_until_ns = now + 2000000000LL };
    CHECK_INT(rledger_key_update(a, "team-a", &in, &m), 0);
    in = (rledger_key_t){ .server_rpm = 450, .factor = 0.8, .cooling_until_ns = now + 1000000000LL,
                         .learned_rpm = 120, .learned_step = 6 };
    CHECK_INT(rledger_key_update(b, "team-a", &in, &m), 0);
    CHECK(m.server_rpm == 450);                       /* latest announcement */
    CHECK(m.factor >= 0.5 && m.factor < 0.6);         /* min, recovering at 0.1/s */
    CHECK(m.cooling_until_ns > now + 1500000000LL);   /* max */
    CHECK(m.learned_rpm >= 120 && m.learned_rpm < 130);
    in = (rledger_key_t){ .factor = 1, .learned_rpm = 200, .learned_step = 10 };
    CHECK_INT(rledger_key_update(a, "team-a", &in, &m), 0);
    CHECK(m.learned_rpm < 130);                       /* min */
    in = (rledger_key_t){ .factor = 1, .state = KEY_EXHAUSTED };
    snprintf(in.reason, sizeof(in.reason), "insufficient_quota");
    CHECK_INT(rledger_key_update(a, "team-a", &in, &m), 0);
    in = (rledger_key_t){ .factor = 1, .state = KEY_OK };
    CHECK_INT(rledger_key_update(b, "team-a", &in, &m), 0);
    CHECK_INT(m.state, KEY_EXHAUSTED);                /* sticky */
    CHECK_STR(m.reason, "insufficient_quota");
    CHECK_INT(rledger_key_get(b, "team-a", &m), 0);
    CHECK_INT(m.state, KEY_EXHAUSTED);
    CHECK_INT(rledger_key_get(b, "bad{key}", &m), -1);

    /* the command: JSON on out, a summary on err */
    {
        FILE *o = tmpfile(), *e = tmpfile();
        char buf[8192];
        size_t n;
        json_t *j;
        json_error_t je;
        CHECK(o && e);
        if (o && e) {
            CHECK_INT(ledger_show_write("keys", url, o, e), 0);
            rewind(o);
            j = json_loadf(o, 0, &je);
            CHECK(j != NULL);
            CHECK_STR(json_string_value(json_object_get(j, "budget_pp")), "1000");
            CHECK_INT(json_array_size(json_object_get(j, "processes")), 2);
            CHECK_INT(json_array_size(json_object_get(j, "keys")), 1);
            CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 0), "name")),
                      "team-a");
            json_decref(j);
            rewind(e);
            n = fread(buf, 1, sizeof(buf) - 1, e);
            buf[n] = 0;
            CHECK(strstr(buf, "2 processes") && strstr(buf, "key team-a: exhausted"));
            fclose(o);
            fclose(e);
        }
        o = tmpfile();
        e = tmpfile();
        if (o && e) {
            CHECK_INT(ledger_show_write("nosuch", url, o, e), 2);
            rewind(e);
            n = fread(buf, 1, sizeof(buf) - 1, e);
            buf[n] = 0;
            CHECK(strstr(buf, "no such ledger") != NULL);
            rewind(o);
            CHECK_INT(ledger_show_write("x", "redis://:hunter2@127.0.0.1:1/0", o, e), 2);
            rewind(e);
            n = fread(buf, 1, sizeof(buf) - 1, e);
            buf[n] = 0;
            CHECK(strstr(buf, "unreachable") && !strstr(buf, "hunter2"));
            fclose(o);
            fclose(e);
        }
    }
out:
    rledger_free(a);
    rledger_free(b);
}

/* --- recovery: NOSCRIPT, a killed connection, a password --------------- */

static int raw_cmd(const char *fmt, const char *arg)
{
    redisContext *c = raw();
    redisReply *r = c && !c->err ? redisCommand(c, fmt, arg) : NULL;
    int ok = r && r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (c)
        redisFree(c);
    return ok ? 0 : -1;
}

static void test_recovery(void)
{
    rledger_t *a = open_budget("rec", 1000, NULL);
    rledger_lease_t ls;
    char err[512], u[160];
    rledger_errkind_t k;

    CHECK(a != NULL);
    if (!a)
        return;
    CHECK_INT(rledger_lease(a, 100, 0, 0, 0, 0, &ls), 0);
    CHECK_INT(raw_cmd("SCRIPT %s", "FLUSH"), 0);
    CHECK_INT(rledger_lease(a, 200, 0, 0, 10, 0, &ls), 0);      /* NOSCRIPT -> reload */
    CHECK_INT(ls.granted, 200);
    CHECK_INT(ls.spent, 10);
    CHECK_INT(raw_cmd("CLIENT KILL TYPE %s", "normal"), 0);
    CHECK_INT(rledger_lease(a, 300, 0, 0, 10, 0, &ls), 0);      /* reconnects */
    CHECK_INT(ls.granted, 300);
    CHECK_INT(ls.spent, 20);

    /* a lease resent after a lost reply (same sequence number) is applied
     * once: replay by hand the client's last call (seq 3: open stores 0,
     * then three leases) with a settle of 10 */
    {
        redisContext *c = raw();
        redisReply *r = c && !c->err ? redisCommand(c, "SCRIPT LOAD %s", LUA_LEASE) : NULL;
        char sha[41] = "";
        int i;
        if (r && r->type == REDIS_REPLY_STRING && r->len == 40)
            memcpy(sha, r->str, 41);
        freeReplyObject(r);
        for (i = 0; i < 1; i++) {
            r = c && !c->err ? redisCommand(c, "EVALSHA %s 5 llmbatch:ledger:{rec}:meta "
                "llmbatch:ledger:{rec}:lease llmbatch:ledger:{rec}:hb llmbatch:ledger:{rec}:seq "
                "llmbatch:ledger:{rec}:tat %s 15000 %s 300 0 %s 0 0", sha, rledger_id(a),
                "3", "10") : NULL;
            CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 3);
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 3)
                CHECK_STR(r->element[2]->str, "20");    /* spent: not added again */
            freeReplyObject(r);
        }
        if (c)
            redisFree(c);
    }
    CHECK_INT(rledger_lease(a, 300, 0, 0, 10, 0, &ls), 0);      /* seq 4: applied */
    CHECK_INT(ls.spent, 30);

    /* a ledger that vanishes (deleted; Redis restarted empty) stops its
     * processes instead of starting over from zero */
    {
        rledger_t *g = open_budget("gone", 1000, NULL);
        rledger_slots_t sl;
        CHECK(g && rledger_lease(g, 100, 0, 0, 0, 0, &ls) == 0);
        CHECK_INT(raw_cmd("DEL %s", "llmbatch:ledger:{gone}:meta"), 0);
        CHECK(g && rledger_lease(g, 100, 0, 0, 0, 0, &ls) == -1);
        CHECK(g && rledger_errkind(g) == RLEDGER_E_REDIS && strstr(rledger_error(g), "vanished"));
        rledger_free(g);
        g = open_budget("gone2", 1000, NULL);
        CHECK_INT(raw_cmd("DEL %s", "llmbatch:ledger:{gone2}:meta"), 0);
        CHECK(g && rledger_rate_slots(g, "rpm", 60, 1, 0, &sl) == -1);
        CHECK(g && strstr(rledger_error(g), "vanished"));
        CHECK(g && rledger_heartbeat(g) == -1);        /* no longer open */
        rledger_free(g);
    }

    /* a password: used, never printed */
    CHECK_INT(raw_cmd("CONFIG SET requirepass %s", "pw-S3cret"), 0);
    snprintf(u, sizeof(u), "redis://:pw-S3cret@127.0.0.1:%d/0", redis_port);
    {
        rledger_t *p = rledger_connect("rec", u, NULL, err, sizeof(err), &k);
        json_t *j = p ? rledger_show(p) : NULL;
        CHECK(j && jmoney(j, "spent_pp") == 30);
        json_decref(j);
        rledger_free(p);
    }
    snprintf(u, sizeof(u), "redis://default:wrong-pw-XYZ@127.0.0.1:%d/0", redis_port);
    CHECK(!rledger_connect("rec", u, NULL, err, sizeof(err), &k));
    CHECK_INT(k, RLEDGER_E_REDIS);
    CHECK(strstr(err, "AUTH") && !strstr(err, "wrong-pw-XYZ"));
    /* the old connection was authenticated before: reset it and it must fail */
    {
        redisContext *c = raw();
        redisReply *r = c && !c->err ? redisCommand(c, "AUTH %s", "pw-S3cret") : NULL;
        freeReplyObject(r);
        r = c && !c->err ? redisCommand(c, "CONFIG SET requirepass %s", "") : NULL;
        CHECK(r && r->type == REDIS_REPLY_STATUS);
        freeReplyObject(r);
        if (c)
            redisFree(c);
    }
    CHECK_INT(rledger_release(a, 0, 0, 0), 0);
    rledger_free(a);
}

/* --- Redis stopped or gone ---------------------------------------------- */

static void test_failure(void)
{
    rledger_opts_t o;
    rledger_t *a;
    rledger_lease_t ls;
    rledger_slots_t s;
    int64_t t0, dt;
    char err[512];
    rledger_errkind_t k;

    rledger_opts_default(&o);
    o.command_timeout_ms = 300;
    o.connect_timeout_ms = 300;
    o.attempts = 2;
    a = open_budget("fail", 1000, &o);
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK_INT(rledger_lease(a, 100, 0, 0, 0, 0, &ls), 0);

    /* hung: the command times out; bounded by attempts x timeouts */
    kill(redis_pid, SIGSTOP);
    t0 = clock_mono_ms();
    CHECK_INT(rledger_lease(a, 100, 0, 0, 5, 0, &ls), -1);
    dt = clock_mono_ms() - t0;
    CHECK_INT(rledger_errkind(a), RLEDGER_E_CONN);
    CHECK(strstr(rledger_error(a), "no local fallback") != NULL);
    CHECK(dt < 3000);
    fprintf(stderr, "stopped Redis: failed in %" PRId64 " ms: %s\n", dt, rledger_error(a));
    kill(redis_pid, SIGCONT);
    sleep_ns(100000000LL);
    CHECK_INT(rledger_heartbeat(a), 0);                      /* back */

    /* killed: refused connections fail fast */
    stop_redis();
    t0 = clock_mono_ms();
    CHECK_INT(rledger_lease(a, 100, 0, 0, 0, 0, &ls), -1);
    dt = clock_mono_ms() - t0;
    CHECK_INT(rledger_errkind(a), RLEDGER_E_CONN);
    CHECK(strstr(rledger_error(a), "unreachable") != NULL);
    CHECK(dt < 3000);
    fprintf(stderr, "killed Redis: failed in %" PRId64 " ms: %s\n", dt, rledger_error(a));
    CHECK_INT(rledger_rate_slots(a, "rpm", 60, 1, 0, &s), -1);
    CHECK_INT(rledger_release(a, 0, 0, 0), -1);
    rledger_free(a);
    t0 = clock_mono_ms();
    CHECK(!rledger_connect("fail", url, &o, err, sizeof(err), &k));
    CHECK_INT(k, RLEDGER_E_CONN);
    CHECK(clock_mono_ms() - t0 < 3000);
}

int main(void)
{
    if (!have_redis_server()) {
        printf("SKIP: redis-server not installed\n");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    if (start_redis()) {
        fprintf(stderr, "cannot start redis-server\n");
        stop_redis();
        return 1;
    }
    test_terms();
    test_leases();
    test_hammer();
    test_reaping();
    test_slots();
    test_fingerprint();
    test_keys();
    test_recovery();
    test_failure();              /* last: kills the server */
    stop_redis();
    return tap_done();
}
