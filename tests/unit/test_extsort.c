/* extsort: tiny budgets force many runs and multi-level merges; checks
 * order, stability, the tie-break comparator, and that no temp file is left. */
#include "extsort.h"
#include "tap.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct got {
    uint64_t *keys, *seqs;
    size_t    n, cap;
    int       bad;            /* a record whose bytes do not match its seq */
} got_t;

/* record bytes: "seq=<n>;" then filler derived from seq, so corruption shows */
static size_t make_rec(char *buf, size_t cap, uint64_t seq, size_t extra)
{
    int n = snprintf(buf, cap, "seq=%" PRIu64 ";", seq);
    size_t i, len = (size_t)n + extra;

    for (i = (size_t)n; i < len && i < cap; i++)
        buf[i] = (char)('a' + (seq + i) % 26);
    return len < cap ? len : cap;
}

static int collect(uint64_t key, const void *data, size_t len, void *arg)
{
    got_t *g = arg;
    char tmp[64], chk[4096];
    uint64_t seq;
    size_t n;
    const char *d = data;

    if (len < 5 || memcmp(d, "seq=", 4) != 0) {
        g->bad++;
        return 0;
    }
    n = len < sizeof tmp - 1 ? len : sizeof tmp - 1;
    memcpy(tmp, d, n);
    tmp[n] = '\0';
    seq = strtoull(tmp + 4, NULL, 10);
    if (len <= sizeof chk && (make_rec(chk, sizeof chk, seq, len - (size_t)(strchr(tmp, ';') - tmp) - 1) != len ||
                              memcmp(chk, d, len) != 0))
        g->bad++;
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        g->keys = realloc(g->keys, g->cap * sizeof *g->keys);
        g->seqs = realloc(g->seqs, g->cap * sizeof *g->seqs);
        if (!g->keys || !g->seqs)
            abort();
    }
    g->keys[g->n] = key;
    g->seqs[g->n] = seq;
    g->n++;
    return 0;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static uint64_t rnd_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* n random records with keys in [0, keyspace), budget bytes; checks order
 * and stability against the added keys. */
static void run_case(const char *dir, size_t n, uint64_t keyspace, size_t budget,
                     size_t min_runs)
{
    extsort_t *s = extsort_new(dir, budget, NULL);
    uint64_t *keys = calloc(n ? n : 1, sizeof *keys);
    got_t g = { 0 };
    char buf[256];
    size_t i, ok = 1;

    CHECK(s && keys);
    if (!s || !keys)
        return;
    for (i = 0; i < n; i++) {
        size_t len = make_rec(buf, sizeof buf, i, rnd() % 40);
        keys[i] = rnd() % keyspace;
        CHECK(extsort_add(s, keys[i], buf, len) == 0);
    }
    CHECK(extsort_runs(s) >= min_runs);
    CHECK(extsort_finish(s, collect, &g) == 0);
    CHECK_INT(g.n, n);
    CHECK_INT(g.bad, 0);
    for (i = 0; i < g.n; i++) {
        if (g.seqs[i] >= n || keys[g.seqs[i]] != g.keys[i])
            ok = 0;
        if (i > 0 && (g.keys[i] < g.keys[i - 1] ||
                      (g.keys[i] == g.keys[i - 1] && g.seqs[i] <= g.seqs[i - 1])))
            ok = 0;   /* out of order, or unstable, or duplicated */
    }
    CHECK(ok);
    extsort_free(s);
    CHECK_INT(count_files(dir), 0);
    free(keys);
    free(g.keys);
    free(g.seqs);
}

/* tie-break: records "b..." before "a..." for equal keys (reverse bytes) */
static int rev_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(b, a, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int collect_str(uint64_t key, const void *data, size_t len, void *arg)
{
    char *out = arg;
    size_t n = strlen(out);

    (void)key;
    if (n + len + 2 < 256) {
        memcpy(out + n, data, len);
        out[n + len] = ',';
        out[n + len + 1] = '\0';
    }
    return 0;
}

static int stop_cb(uint64_t key, const void *data, size_t len, void *arg)
{
    (void)key; (void)data; (void)len;
    return ++*(int *)arg == 3 ? 7 : 0;
}

int main(void)
{
    char dir[] = "/tmp/test_extsort.XXXXXX";
    got_t g = { 0 };
    extsort_t *s;
    char *big;
    char out[256] = "";
    int calls = 0;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }

    /* empty input */
    s = extsort_new(dir, 1024, NULL);
    CHECK(extsort_finish(s, collect, &g) == 0);
    CHECK_INT(g.n, 0);
    CHECK(extsort_finish(s, collect, &g) == -1);   /* only once */
    extsort_free(s);

    /* one record, all in memory */
    run_case(dir, 1, 10, 1024, 0);
    /* many runs (1 KiB budget): multi-level merges, heavy duplicates */
    run_case(dir, 20000, 7, 1024, 200);
    run_case(dir, 20000, UINT64_MAX, 2048, 100);
    run_case(dir, 5000, 1000, 0, 0);               /* default budget: memory only */

    /* a record bigger than the budget, between small ones */
    s = extsort_new(dir, 512, NULL);
    big = malloc(4000);
    CHECK(big != NULL);
    {
        char buf[64];
        size_t len;
        memset(&g, 0, sizeof g);
        len = make_rec(buf, sizeof buf, 0, 10);
        CHECK(extsort_add(s, 5, buf, len) == 0);
        len = make_rec(big, 4000, 1, 3000);
        CHECK(extsort_add(s, 5, big, len) == 0);
        len = make_rec(buf, sizeof buf, 2, 10);
        CHECK(extsort_add(s, 1, buf, len) == 0);
        CHECK(extsort_runs(s) >= 1);
        CHECK(extsort_finish(s, collect, &g) == 0);
        CHECK_INT(g.n, 3);
        CHECK_INT(g.bad, 0);
        if (g.n == 3) {
            CHECK_INT(g.seqs[0], 2);
            CHECK_INT(g.seqs[1], 0);
            CHECK_INT(g.seqs[2], 1);
        }
        free(g.keys);
        free(g.seqs);
    }
    extsort_free(s);
    free(big);

    /* tie-break comparator, across runs */
    s = extsort_new(dir, 64, rev_cmp);
    CHECK(extsort_add(s, 2, "a1", 2) == 0);
    CHECK(extsort_add(s, 1, "zz", 2) == 0);
    CHECK(extsort_add(s, 2, "b1", 2) == 0);
    CHECK(extsort_add(s, 2, "a1", 2) == 0);
    CHECK(extsort_add(s, 2, "c", 1) == 0);
    CHECK(extsort_add(s, 1, "", 0) == 0);
    CHECK(extsort_finish(s, collect_str, out) == 0);
    CHECK_STR(out, ",zz,c,b1,a1,a1,");
    extsort_free(s);

    /* a callback's non-zero value stops the merge and is returned */
    s = extsort_new(dir, 64, NULL);
    for (int i = 0; i < 50; i++)
        CHECK(extsort_add(s, (uint64_t)(50 - i), "xxxxxxxx", 8) == 0);
    CHECK(extsort_finish(s, stop_cb, &calls) == 7);
    CHECK_INT(calls, 3);
    extsort_free(s);
    CHECK_INT(count_files(dir), 0);

    /* an unwritable directory: a clear error, no crash */
    s = extsort_new("/nonexistent-dir-for-test", 16, NULL);
    CHECK(extsort_add(s, 1, "0123456789", 10) == 0);
    CHECK(extsort_add(s, 2, "0123456789", 10) == -1);
    CHECK(strstr(extsort_error(s), "/nonexistent-dir-for-test") != NULL);
    extsort_free(s);

    rmdir(dir);
    return tap_done();
}
