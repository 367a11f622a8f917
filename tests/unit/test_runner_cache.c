/*
 * test_runner_cache: the response cache against real SQLite files in temp
 * directories: keys, put/flush/get round trip, two handles on one directory,
 * a lock held past busy_timeout, corrupt files, prune and stats.
 */
#define _GNU_SOURCE
#include "cache.h"
#include "job.h"
#include "tap.h"
#include <sqlite3.h>
#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

static const char BODY[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char RESP[] = "{\"id\":\"chatcmpl-1\",\"choices\":[]}";
static const char CHAT[] = "/v1/chat/completions";

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

static void key_of(const char *body, cache_key_t *k)
{
    CHECK_INT(cache_key_of(DIALECT_OPENAI, CHAT, body, strlen(body), k), 0);
}

/* Runs f with stderr captured; returns what was written (malloc'd). */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    s = malloc((size_t)n + 1);
    if (s) {
        size_t got = fread(s, 1, (size_t)n, f);
        s[got] = '\0';
    }
    fclose(f);
    return s;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    const char *p = hay;
    while (p && (p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

static void test_keys(void)
{
    cache_key_t a, b, c;
    char hex[65];
    job_defaults_t defs = { NULL, 0, -1, 0 };
    job_t j1, j2;
    char err[256];
    static const char L1[] =
        "{\"custom_id\":\"req-1\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
        "\"body\":{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}";
    static const char L2[] =
        "{\"custom_id\":\"other-id\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
        "\"body\":{\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}],\"model\":\"gpt-4o-mini\"}}";

    key_of(BODY, &a);
    cache_key_hex(&a, hex);
    /* sha256("openai\n/v1/chat/completions\n" + canonical body) */
    CHECK_STR(hex, "1063953114bf40030663b8fbf3856acd37ec66a230df2f14714117c5fdb7a0c4");
    key_of(" { \"messages\" : [ {\"content\":\"hi\", \"role\":\"user\"} ],\n\"model\":\"gpt-4o-mini\" } ", &b);
    CHECK(memcmp(a.b, b.b, 32) == 0);
    key_of("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi!\"}]}", &c);
    CHECK(memcmp(a.b, c.b, 32) != 0);
    CHECK_INT(cache_key_of(DIALECT_ANTHROPIC, CHAT, BODY, strlen(BODY), &c), 0);
    CHECK(memcmp(a.b, c.b, 32) != 0);
    CHECK_INT(cache_key_of(DIALECT_OPENAI, "/v1/completions", BODY, strlen(BODY), &c), 0);
    CHECK(memcmp(a.b, c.b, 32) != 0);
    CHECK_INT(cache_key_of(DIALECT_OPENAI, CHAT, "{\"model\":", 9, &c), -1);
    CHECK_INT(cache_key_of(DIALECT_OPENAI, CHAT, NULL, 0, &c), -1);

    /* custom_id is not part of the key: two lines that differ in custom_id
     * (and key order) give the same key from their bodies */
    memset(&j1, 0, sizeof j1);
    memset(&j2, 0, sizeof j2);
    CHECK_INT(job_parse(L1, strlen(L1), 1, &defs, &j1, err, sizeof err), 0);
    CHECK_INT(job_parse(L2, strlen(L2), 2, &defs, &j2, err, sizeof err), 0);
    if (j1.body && j2.body) {
        CHECK_INT(cache_key_of(j1.dialect, j1.path, j1.body, j1.body_len, &b), 0);
        CHECK_INT(cache_key_of(j2.dialect, j2.path, j2.body, j2.body_len, &c), 0);
        CHECK(memcmp(b.b, c.b, 32) == 0);
        CHECK(memcmp(a.b, b.b, 32) == 0);
    }
    job_release(&j1);
    job_release(&j2);
}

static void test_round_trip(const char *root)
{
    char *dir = join(root, "a/b/c");            /* mkdir -p */
    char err[512];
    cache_t *c;
    cache_key_t k, k2;
    char *body = NULL;
    size_t len = 0;
    long status = 0;
    money_t cost = 0;

    key_of(BODY, &k);
    key_of("{\"model\":\"x\"}", &k2);
    c = cache_open(dir, err, sizeof err);
    CHECK(c != NULL);
    if (!c)
        goto out;
    CHECK(cache_usable(c));
    CHECK_INT(cache_get(c, &k, &body, &len, &status, &cost), 0);
    CHECK(body == NULL);
    CHECK_INT(cache_put(c, &k, "gpt-4o-mini", 200, RESP, strlen(RESP), 1234567), 0);
    /* visible to its own run before the flush */
    CHECK_INT(cache_get(c, &k, &body, &len, &status, &cost), 1);
    CHECK_STR(body, RESP);
    free(body);
    body = NULL;
    CHECK_INT(cache_flush(c), 0);
    CHECK_INT(cache_flush(c), 0);               /* nothing queued: no-op */
    cache_count_hits(c, 2, 1000);
    cache_count_hits(c, 1, 500);
    cache_close(c);

    c = cache_open(dir, err, sizeof err);
    CHECK(c != NULL);
    if (!c)
        goto out;
    CHECK_INT(cache_get(c, &k, &body, &len, &status, &cost), 1);
    CHECK_STR(body, RESP);
    CHECK_INT(len, strlen(RESP));
    CHECK_INT(status, 200);
    CHECK_INT(cost, 1234567);
    free(body);
    body = NULL;
    CHECK_INT(cache_get(c, &k2, &body, &len, NULL, NULL), 0);
    /* replace */
    CHECK_INT(cache_put(c, &k, "gpt-4o-mini", 201, "{}", 2, 7), 0);
    CHECK_INT(cache_flush(c), 0);
    CHECK_INT(cache_get(c, &k, &body, &len, &status, &cost), 1);
    CHECK_STR(body, "{}");
    CHECK_INT(status, 201);
    CHECK_INT(cost, 7);
    free(body);
    body = NULL;
    CHECK_INT(cache_dropped(c), 0);
    cache_close(c);

    /* stats */
    {
        char *outp = join(root, "stats.out");
        FILE *o = fopen(outp, "w+");
        char *text;
        CHECK(o != NULL);
        if (o) {
            CHECK_INT(cache_cmd_stats(dir, o, stderr), 0);
            fclose(o);
            text = read_file(outp);
            CHECK(text && strstr(text, "entries:        1\n"));
            CHECK(text && strstr(text, "hits to date:   3\n"));
            CHECK(text && strstr(text, "saved to date:  $0.000000\n"));   /* 1500 pp */
            CHECK(text && strstr(text, "bytes on disk:  "));
            CHECK(text && strstr(text, "oldest entry:   20"));
            free(text);
        }
        remove(outp);
        free(outp);
    }
    cache_close(NULL);
out:
    free(dir);
}

static void test_two_handles(const char *root)
{
    char *dir = join(root, "shared");
    char err[512];
    cache_t *a = cache_open(dir, err, sizeof err);
    cache_t *b = cache_open(dir, err, sizeof err);
    cache_key_t k1, k2;
    char *body = NULL;
    size_t len;
    long st;
    money_t cost;
    int i;

    CHECK(a && b);
    if (!a || !b)
        goto out;
    key_of("{\"n\":1}", &k1);
    key_of("{\"n\":2}", &k2);
    CHECK_INT(cache_put(a, &k1, "m", 200, "{\"r\":1}", 7, 10), 0);
    CHECK_INT(cache_get(b, &k1, &body, &len, &st, &cost), 0);  /* not flushed yet */
    CHECK_INT(cache_flush(a), 0);
    CHECK_INT(cache_get(b, &k1, &body, &len, &st, &cost), 1);
    CHECK_STR(body, "{\"r\":1}");
    free(body);
    body = NULL;
    CHECK_INT(cache_put(b, &k2, "m", 200, "{\"r\":2}", 7, 20), 0);
    CHECK_INT(cache_get(a, &k2, &body, &len, &st, &cost), 0);
    CHECK_INT(cache_flush(b), 0);
    CHECK_INT(cache_get(a, &k2, &body, &len, &st, &cost), 1);
    CHECK_STR(body, "{\"r\":2}");
    CHECK_INT(cost, 20);
    free(body);
    body = NULL;
    /* interleaved many times, counters from both */
    for (i = 0; i < 50; i++) {
        cache_key_t k;
        char b1[32];
        snprintf(b1, sizeof b1, "{\"i\":%d}", i);
        key_of(b1, &k);
        CHECK_INT(cache_put(i % 2 ? a : b, &k, "m", 200, b1, strlen(b1), i), 0);
        cache_count_hits(i % 2 ? b : a, 1, 0);
        if (i % 5 == 4) {
            CHECK_INT(cache_flush(a), 0);
            CHECK_INT(cache_flush(b), 0);
        }
    }
    {
        cache_key_t k;
        key_of("{\"i\":17}", &k);
        CHECK_INT(cache_get(b, &k, &body, &len, &st, &cost), 1);
        CHECK_STR(body, "{\"i\":17}");
        CHECK_INT(cost, 17);
        free(body);
        body = NULL;
    }
    CHECK(cache_usable(a) && cache_usable(b));
out:
    cache_close(a);
    cache_close(b);
    free(dir);
}

/* Another process holds the write lock past busy_timeout: the batch is
 * dropped and counted, reads still work, nothing is disabled. */
static void test_busy(const char *root)
{
    char *dir = join(root, "busy");
    char *path = join(dir, "llmbatch-cache.sqlite");
    char err[512];
    cache_t *c = cache_open(dir, err, sizeof err);
    sqlite3 *raw = NULL;
    cache_key_t k1, k2;
    char *body = NULL;
    size_t len;
    long st;
    money_t cost;

    CHECK(c != NULL);
    if (!c)
        goto out;
    key_of("{\"busy\":1}", &k1);
    key_of("{\"busy\":2}", &k2);
    CHECK_INT(cache_put(c, &k1, "m", 200, "{}", 2, 1), 0);
    CHECK_INT(cache_flush(c), 0);
    CHECK_INT(sqlite3_open(path, &raw), SQLITE_OK);
    CHECK_INT(sqlite3_exec(raw, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(cache_put(c, &k2, "m", 200, "{}", 2, 1), 0);
    CHECK_INT(cache_flush(c), 0);               /* waits ~2 s, then drops */
    CHECK_INT(cache_dropped(c), 1);
    CHECK(cache_usable(c));
    CHECK_INT(cache_get(c, &k1, &body, &len, &st, &cost), 1);   /* WAL: readers go on */
    free(body);
    body = NULL;
    CHECK_INT(cache_get(c, &k2, &body, &len, &st, &cost), 0);
    CHECK_INT(sqlite3_exec(raw, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(cache_put(c, &k2, "m", 200, "{}", 2, 1), 0);
    CHECK_INT(cache_flush(c), 0);
    CHECK_INT(cache_get(c, &k2, &body, &len, &st, &cost), 1);
    free(body);
out:
    sqlite3_close(raw);
    cache_close(c);
    free(path);
    free(dir);
}

static void write_garbage(const char *path, long off, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    char junk[4096];
    size_t i;

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    for (i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 131 + 7);
    CHECK(lseek(fd, off, SEEK_SET) == off);
    while (n > 0) {
        size_t m = n < sizeof junk ? n : sizeof junk;
        CHECK(write(fd, junk, m) == (ssize_t)m);
        n -= m;
    }
    close(fd);
}

/* Captures stderr into a file while a block runs. */
static int stderr_to(const char *path)
{
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    fflush(stderr);
    if (fd >= 0) {
        dup2(fd, 2);
        close(fd);
    }
    return saved;
}

static void stderr_back(int saved)
{
    fflush(stderr);
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
    }
}

static void test_corrupt(const char *root)
{
    char err[512];
    char *dir = join(root, "garbage");
    char *dir2 = join(root, "torn");
    char *path = NULL, *path2 = NULL, *errp = join(root, "stderr.txt");
    cache_t *c;
    cache_key_t k;
    char *body = NULL;
    size_t len;
    long st;
    money_t cost;
    int i;

    /* 1. the whole file is garbage: cache_open fails with a message */
    CHECK_INT(mkdir(dir, 0755), 0);
    path = join(dir, "llmbatch-cache.sqlite");
    write_garbage(path, 0, 8192);
    err[0] = '\0';
    c = cache_open(dir, err, sizeof err);
    CHECK(c == NULL);
    CHECK(strstr(err, "unusable (") != NULL);
    CHECK(strstr(err, "not a database") != NULL);
    CHECK(strstr(err, "; continuing without it") != NULL);
    cache_close(c);
    {
        FILE *devnull = fopen("/dev/null", "w");
        CHECK_INT(cache_cmd_stats(dir, devnull, devnull), 2);
        CHECK_INT(cache_cmd_prune(dir, "1d", devnull, devnull), 2);
        fclose(devnull);
    }

    /* 2. a valid header but torn pages: open or the first get fails; the
     * cache disables itself, warns once, and later calls are no-ops */
    {
        c = cache_open(dir2, err, sizeof err);
        CHECK(c != NULL);
        for (i = 0; c && i < 200; i++) {
            char b[48];
            snprintf(b, sizeof b, "{\"torn\":%d}", i);
            key_of(b, &k);
            cache_put(c, &k, "m", 200, "{\"some\":\"response body text here\"}", 35, 1);
        }
        cache_close(c);                          /* checkpoints the WAL */
        path2 = join(dir2, "llmbatch-cache.sqlite");
        write_garbage(path2, 4096, 4096 * 3);
        key_of("{\"torn\":5}", &k);
        {
            int saved = stderr_to(errp);
            int got = 0;
            c = cache_open(dir2, err, sizeof err);
            if (c) {
                for (i = 0; i < 3; i++)
                    if (cache_get(c, &k, &body, &len, &st, &cost) == -1)
                        got++;
                free(body);
                body = NULL;
                CHECK_INT(cache_put(c, &k, "m", 200, "{}", 2, 1), 0);
                CHECK_INT(cache_flush(c), 0);
            }
            stderr_back(saved);
            CHECK(c == NULL || (got == 1 && !cache_usable(c)));
            printf("# torn pages: %s\n", c ? "first get failed" : "open failed");
            if (c) {
                char *text = read_file(errp);
                CHECK_INT(count_of(text, "llmbatch: warning: cache "), 1);
                CHECK_INT(count_of(text, "; continuing without it\n"), 1);
                free(text);
            }
            cache_close(c);
        }
    }
    free(path);
    free(path2);
    free(errp);
    free(dir);
    free(dir2);
}

static void test_prune(const char *root)
{
    char *dir = join(root, "prune");
    char *path = join(dir, "llmbatch-cache.sqlite");
    char *outp = join(root, "prune.out");
    char err[512];
    cache_t *c = cache_open(dir, err, sizeof err);
    cache_key_t k[3];
    sqlite3 *raw = NULL;
    sqlite3_stmt *st = NULL;
    char *body = NULL, *text;
    size_t len;
    long status;
    money_t cost;
    FILE *o;
    int i;

    CHECK(c != NULL);
    if (!c)
        goto out;
    for (i = 0; i < 3; i++) {
        char b[32];
        snprintf(b, sizeof b, "{\"p\":%d}", i);
        key_of(b, &k[i]);
        CHECK_INT(cache_put(c, &k[i], "m", 200, b, strlen(b), i), 0);
    }
    CHECK_INT(cache_flush(c), 0);
    /* age entry 0 by 40 days, entry 1 by 10 days */
    CHECK_INT(sqlite3_open(path, &raw), SQLITE_OK);
    CHECK_INT(sqlite3_prepare_v2(raw, "UPDATE entries SET created = created - ?1 WHERE key = ?2",
                                 -1, &st, NULL), SQLITE_OK);
    for (i = 0; i < 2; i++) {
        sqlite3_bind_int64(st, 1, (i == 0 ? 40 : 10) * 86400LL);
        sqlite3_bind_blob(st, 2, k[i].b, 32, SQLITE_STATIC);
        CHECK_INT(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(raw);

    o = fopen(outp, "w");
    CHECK(o != NULL);
    if (!o)
        goto out;
    CHECK_INT(cache_cmd_prune(dir, "30d", o, stderr), 0);   /* c still open */
    CHECK_INT(cache_cmd_prune(dir, "2w", o, stderr), 0);
    CHECK_INT(cache_cmd_prune(dir, "12h", o, stderr), 0);
    fclose(o);
    text = read_file(outp);
    CHECK(text && strstr(text, "removed 1 entry older than 30d (2 left)\n"));
    CHECK(text && strstr(text, "removed 0 entries older than 2w (2 left)\n"));
    CHECK(text && strstr(text, "removed 1 entry older than 12h (1 left)\n"));
    free(text);
    CHECK_INT(cache_get(c, &k[0], &body, &len, &status, &cost), 0);
    CHECK_INT(cache_get(c, &k[1], &body, &len, &status, &cost), 0);
    CHECK_INT(cache_get(c, &k[2], &body, &len, &status, &cost), 1);
    CHECK_STR(body, "{\"p\":2}");
    free(body);
    CHECK(cache_usable(c));

    {
        FILE *devnull = fopen("/dev/null", "w");
        static const char *bad[] = { "30", "d", "", "30x", "30dd", "-1d", "1.5h",
                                     "99999999999999999999s", "9999999999999999w" };
        size_t j;
        for (j = 0; j < sizeof bad / sizeof bad[0]; j++)
            CHECK_INT(cache_cmd_prune(dir, bad[j], devnull, devnull), 2);
        CHECK_INT(cache_cmd_prune(dir, NULL, devnull, devnull), 2);
        CHECK_INT(cache_cmd_prune(root, "1d", devnull, devnull), 2);     /* no cache */
        CHECK_INT(cache_cmd_stats(root, devnull, devnull), 2);
        CHECK_INT(cache_cmd_prune(dir, "0s", devnull, devnull), 0);
        CHECK_INT(cache_cmd_prune(dir, "90m", devnull, devnull), 0);
        CHECK_INT(cache_cmd_prune(dir, "3600s", devnull, devnull), 0);
        fclose(devnull);
    }
out:
    cache_close(c);
    remove(outp);
    free(outp);
    free(path);
    free(dir);
}

static void test_open_fail(const char *root)
{
    char err[512];
    char *file = join(root, "plainfile");
    char *under = join(file, "sub");
    FILE *f = fopen(file, "w");
    cache_t *c;

    if (f)
        fclose(f);
    c = cache_open(file, err, sizeof err);      /* a file, not a directory */
    CHECK(c == NULL);
    CHECK(strstr(err, "continuing without it") != NULL);
    c = cache_open(under, err, sizeof err);
    CHECK(c == NULL);
    free(file);
    free(under);
}

int main(void)
{
    char root[] = "/tmp/llmb-cache-test-XXXXXX";

    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_keys();
    test_round_trip(root);
    test_two_handles(root);
    test_prune(root);
    test_corrupt(root);
    test_open_fail(root);
    test_busy(root);
    rm_rf(root);
    return tap_done();
}
