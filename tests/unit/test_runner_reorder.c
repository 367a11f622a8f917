/* reorder: output files back into input order (plain and gzip, our own ids
 * and another tool's lines, hostile lines, tiny memory budgets) and the
 * crash protocol's resume helpers. */
#include "checkpoint.h"
#include "reader.h"
#include "reorder.h"
#include "results.h"
#include "tap.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char dir[] = "/tmp/test_reorder.XXXXXX";

static char *pathf(const char *name)
{
    return tap_path(dir, name);
}

static void write_file(const char *path, const char *data, size_t len, int gz)
{
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (!g || (len && gzwrite(g, data, (unsigned)len) != (int)len))
            abort();
        gzclose(g);
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(data, 1, len, f) != len)
            abort();
        fclose(f);
    }
}

/* All lines of a file (plain or gzip) joined with "\n" (malloc'd). */
static char *read_lines(const char *path, size_t *nlines)
{
    char err[256];
    reader_t *r = reader_open(path, err, sizeof err);
    const char *line;
    size_t len, cap = 1, n = 0;
    uint64_t lineno;
    char *out = calloc(1, 1);

    *nlines = 0;
    if (!r)
        return out;
    while (reader_next(r, &line, &len, &lineno) == READER_LINE) {
        out = realloc(out, cap + len + 1);
        memcpy(out + n, line, len);
        n += len;
        out[n++] = '\n';
        out[n] = '\0';
        cap += len + 1;
        (*nlines)++;
    }
    reader_free(r);
    return out;
}

static int exists(const char *p)
{
    return access(p, F_OK) == 0;
}

static uint64_t rnd_state = 0x2545F4914F6CDD1DULL;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void shuffle(char **v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd() % i;
        char *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

static char *join(char **v, size_t n)
{
    size_t len = 0, i;
    char *s;
    for (i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    s = malloc(len + 1);
    len = 0;
    for (i = 0; i < n; i++) {
        size_t m = strlen(v[i]);
        memcpy(s + len, v[i], m);
        s[len + m] = '\n';
        len += m + 1;
    }
    s[len] = '\0';
    return s;
}

/*
 * Input: 7 jobs, with every kind of id the run makes up:
 *   line 1 job 0  c-a (OpenAI batch)
 *   line 2        blank
 *   line 3 job 1  bare prompt -> line-3
 *   line 4 job 2  c-b (Anthropic batch)
 *   line 5 job 3  not JSON -> line-5 (--skip-invalid)
 *   line 6 job 4  custom_id a number -> line-6
 *   line 7 job 5  bare body with custom_id "c\u00e9" (escaped)
 *   line 8 job 6  c-a again (a duplicate kept by --skip-invalid)
 */
static const char input_text[] =
    "{\"custom_id\":\"c-a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\"}}\n"
    "   \n"
    "{\"prompt\":\"hi\"}\n"
    "{\"custom_id\":\"c-b\",\"params\":{\"model\":\"claude\",\"max_tokens\":5}}\n"
    "not json at all\n"
    "{\"custom_id\":7,\"prompt\":\"x\"}\n"
    "{\"custom_id\":\"c\\u00e9\",\"model\":\"m\",\"messages\":[]}\n"
    "{\"custom_id\":\"c-a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\"}}\n";

/* another tool's lines: ids that are not ours; expected order by custom_id */
static void test_foreign(int gz)
{
    char *lines[] = {
        "{\"id\":\"r0\",\"custom_id\":\"c-a\",\"response\":{\"status_code\":200},\"error\":null}",
        "{\"id\":\"r1\",\"custom_id\":\"line-3\",\"response\":null}",
        "{\"custom_id\":\"c-b\",\"id\":\"r2\"}",
        "{\"id\":\"r3\",\"custom_id\":\"line-5\"}",
        "{\"id\":\"r4\",\"custom_id\":\"line-6\"}",
        "{\"id\":\"r5\",\"custom_id\":\"c\\u00e9\"}",
        "{\"id\":\"r6\",\"custom_id\":\"c-a\",\"dup\":2}",
        "{\"id\":\"u1\",\"custom_id\":\"nowhere-1\"}",
        "{\"id\":\"u2\",\"custom_id\":\"nowhere-2\"}",
    };
    size_t n = sizeof lines / sizeof lines[0], got_n;
    char *shuf[16], *text, *got, *want;
    char err[512];
    const char *in = pathf("in.jsonl");
    const char *res = pathf(gz ? "res.jsonl.gz" : "res.jsonl");
    char *tmp = reorder_tmp_path(res);
    reorder_stats_t st;
    size_t i, u1 = 0, u2 = 0;

    write_file(in, input_text, sizeof input_text - 1, 0);
    memcpy(shuf, lines, sizeof lines);
    shuffle(shuf, n);
    /* keep the unmatched ones' relative order known: u1 before u2 */
    for (i = 0; i < n; i++) {
        if (strstr(shuf[i], "\"u1\""))
            u1 = i;
        if (strstr(shuf[i], "\"u2\""))
            u2 = i;
    }
    if (u1 > u2) {
        char *t = shuf[u1];
        shuf[u1] = shuf[u2];
        shuf[u2] = t;
    }
    text = join(shuf, n);
    write_file(res, text, strlen(text), gz);
    CHECK(reorder_file(in, res, tmp, NULL, &st, err, sizeof err) == 0);
    CHECK_INT(st.lines, n);
    CHECK_INT(st.by_custom_id, 7);
    CHECK_INT(st.by_id, 0);
    CHECK_INT(st.unmatched, 2);
    got = read_lines(tmp, &got_n);
    /* the duplicate id's two lines sit at its first position, in file order */
    {
        char *exp[16];
        size_t k = 0, a0 = n, a6 = n;
        for (i = 0; i < n; i++) {
            if (strstr(shuf[i], "\"r0\""))
                a0 = i;
            if (strstr(shuf[i], "\"r6\""))
                a6 = i;
        }
        exp[k++] = a0 < a6 ? lines[0] : lines[6];
        exp[k++] = a0 < a6 ? lines[6] : lines[0];
        for (i = 1; i < 6; i++)
            exp[k++] = lines[i];
        exp[k++] = lines[7];
        exp[k++] = lines[8];
        want = join(exp, k);
    }
    CHECK_STR(got, want);
    CHECK_INT(got_n, n);
    /* gzip in, gzip out (by the target's name) */
    {
        unsigned char m[2] = { 0, 0 };
        FILE *f = fopen(tmp, "rb");
        if (f) {
            if (fread(m, 1, 2, f) != 2)
                m[0] = 0;
            fclose(f);
        }
        CHECK_INT(m[0] == 0x1f && m[1] == 0x8b, gz);
        struct stat sb;
        CHECK(stat(tmp, &sb) == 0 && (uint64_t)sb.st_size == st.out_size);
    }
    /* the crash protocol: the tmp exists until it is committed */
    CHECK_INT(reorder_finish_pending(res), 1);
    CHECK(!exists(tmp));
    free(got);
    got = read_lines(res, &got_n);
    CHECK_STR(got, want);
    CHECK_INT(reorder_finish_pending(res), 0);     /* idempotent */
    free(got);
    free(want);
    free(text);
    free(tmp);
}

/* Our own lines (ids from the input's hash): exact even for duplicates,
 * and the input is not needed; many lines, a tiny budget. */
static void test_own_ids(int gz)
{
    enum { N = 3000 };
    char **lines = calloc(N, sizeof *lines), **shuf = calloc(N, sizeof *shuf);
    const char *in = pathf("missing-input.jsonl");
    const char *res = pathf(gz ? "own.jsonl.gz" : "own.jsonl");
    char *tmp = reorder_tmp_path(res), *text, *got, *want, err[512];
    reorder_opts_t o = { 4096, 1, 0x1234567890abcdefULL, -1 };
    reorder_stats_t st;
    size_t got_n;

    for (size_t i = 0; i < N; i++) {
        buf_t b = BUF_INIT;
        char cid[32];
        snprintf(cid, sizeof cid, "dup-%zu", i % 3);      /* ids repeat */
        if (results_error_line(&b, o.seed, i, cid, 500, NULL, NULL, "x", 1,
                               "max_retries_exceeded", "gave up") != 0)
            abort();
        b.data[b.len - 1] = '\0';
        lines[i] = b.data;
    }
    memcpy(shuf, lines, N * sizeof *lines);
    shuffle(shuf, N);
    text = join(shuf, N);
    write_file(res, text, strlen(text), gz);
    CHECK(reorder_file(in, res, tmp, &o, &st, err, sizeof err) == 0);
    CHECK_INT(st.by_id, N);
    CHECK_INT(st.lines, N);
    got = read_lines(tmp, &got_n);
    want = join(lines, N);
    CHECK(strcmp(got, want) == 0);
    CHECK_INT(got_n, N);
    CHECK(reorder_commit(tmp, res) == 0);
    CHECK(!exists(tmp));
    free(got);
    free(want);
    free(text);
    free(tmp);
    for (size_t i = 0; i < N; i++)
        free(lines[i]);
    free(lines);
    free(shuf);
}

/* many foreign lines through the external join with a tiny budget */
static void test_join_many(void)
{
    enum { N = 2500 };
    buf_t inb = BUF_INIT;
    char **lines = calloc(N + 1, sizeof *lines), **shuf = calloc(N + 1, sizeof *shuf);
    const char *in = pathf("many-in.jsonl"), *res = pathf("many.jsonl");
    char *tmp = reorder_tmp_path(res), *text, *got, *want, err[512];
    reorder_opts_t o = { 2048, 0, 0, -1 };
    reorder_stats_t st;
    size_t got_n;

    for (size_t i = 0; i < N; i++) {
        char l[128];
        if (i % 2)
            buf_printf(&inb, "{\"prompt\":\"p%zu\"}\n", i);   /* line-N ids */
        else
            buf_printf(&inb, "{\"custom_id\":\"k%zu\",\"prompt\":\"p\"}\n", i);
        if (i % 2)
            snprintf(l, sizeof l, "{\"custom_id\":\"line-%zu\",\"n\":%zu}", i + 1, i);
        else
            snprintf(l, sizeof l, "{\"custom_id\":\"k%zu\",\"n\":%zu}", i, i);
        lines[i] = strdup(l);
    }
    write_file(in, inb.data, inb.len, 1);     /* a gzip input */
    memcpy(shuf, lines, N * sizeof *lines);
    shuffle(shuf, N);
    text = join(shuf, N);
    write_file(res, text, strlen(text), 0);
    CHECK(reorder_file(in, res, tmp, &o, &st, err, sizeof err) == 0);
    CHECK_INT(st.by_custom_id, N);
    got = read_lines(tmp, &got_n);
    want = join(lines, N);
    CHECK(strcmp(got, want) == 0);
    CHECK_INT(got_n, N);
    unlink(tmp);
    free(got);
    free(want);
    free(text);
    free(tmp);
    for (size_t i = 0; i < N; i++)
        free(lines[i]);
    free(lines);
    free(shuf);
    buf_release(&inb);
}

/* hostile lines: a clear error naming file and line; nothing written */
static void test_hostile(void)
{
    static const struct { const char *text; const char *msg; } cases[] = {
        { "{\"custom_id\":\"c-a\"}\nnot json\n", ":2: not valid JSON" },
        { "{\"custom_id\":\"c-a\"}\n[1,2]\n", ":2: not a JSON object" },
        { "\n{\"id\":\"x\"}\n", ":2: no \"custom_id\"" },
        { "{\"custom_id\":5}\n", ":1: \"custom_id\" is not a string" },
        { "{\"custom_id\":\"c-a\"\n", ":1: not valid JSON" },
    };
    const char *in = pathf("in.jsonl"), *res = pathf("bad.jsonl");
    char *tmp = reorder_tmp_path(res), err[512];
    reorder_stats_t st;

    write_file(in, input_text, sizeof input_text - 1, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(res, cases[i].text, strlen(cases[i].text), 0);
        err[0] = '\0';
        CHECK_INT(reorder_file(in, res, tmp, NULL, &st, err, sizeof err), -2);
        CHECK(strstr(err, cases[i].msg) != NULL);
        CHECK(strstr(err, res) != NULL);
        CHECK(!exists(tmp));
    }
    /* a line over 32 MiB */
    {
        size_t big = ((size_t)33 << 20);
        char *b = malloc(big + 64);
        int n = snprintf(b, 64, "{\"custom_id\":\"c-a\",\"pad\":\"");
        memset(b + n, 'x', big);
        memcpy(b + n + big, "\"}\n", 3);
        write_file(res, b, (size_t)n + big + 3, 0);
        free(b);
        CHECK_INT(reorder_file(in, res, tmp, NULL, &st, err, sizeof err), -2);
        CHECK(strstr(err, ":1: line is longer than 32 MiB") != NULL);
        CHECK(!exists(tmp));
    }
    /* a missing input when the join needs it: -1, names the file */
    write_file(res, "{\"custom_id\":\"c-a\"}\n", 20, 0);
    CHECK_INT(reorder_file(pathf("nope.jsonl"), res, tmp, NULL, &st, err, sizeof err), -1);
    CHECK(strstr(err, "nope.jsonl") != NULL);
    CHECK(!exists(tmp));
    /* a corrupt gzip results file */
    write_file(res, "\x1f\x8b\x08\x00garbage", 12, 0);
    CHECK_INT(reorder_file(in, res, tmp, NULL, &st, err, sizeof err), -1);
    CHECK(!exists(tmp));
    /* an empty results file: an empty output */
    write_file(res, "", 0, 0);
    CHECK_INT(reorder_file(in, res, tmp, NULL, &st, err, sizeof err), 0);
    CHECK_INT(st.lines, 0);
    CHECK(exists(tmp));
    unlink(tmp);
    unlink(res);
    free(tmp);
}

/* crash points of the protocol: during step 1 (only a partial tmp:
 * discarded), after step 2 (ready: finish renames), after step 3 (nothing
 * left to rename; the checkpoint still gets its sizes). */
static void test_crash_points(void)
{
    const char *res = pathf("c.jsonl"), *ck = pathf("c.jsonl.ckpt");
    char *tmp = reorder_tmp_path(res), err[256];
    ckpt_t c, l;

    write_file(res, "B\nA\n", 4, 0);
    write_file(tmp, "partial", 7, 0);
    CHECK(reorder_discard(res) == 0);
    CHECK(!exists(tmp));
    CHECK(reorder_discard(res) == 0);

    ckpt_init(&c);
    c.input_path = strdup("in");
    c.results_size = 4;
    c.reorder_ready = 1;
    c.reorder_results_size = 4;
    c.reorder_errors_size = 0;
    CHECK(ckpt_save(ck, &c, NULL) == 0);
    CHECK_INT(ckpt_load(ck, &l, NULL, err, sizeof err), 1);
    CHECK_INT(l.reorder_ready, 1);
    CHECK_INT(l.reorder_results_size, 4);
    CHECK_INT(l.ordered, 0);
    CHECK_INT(l.retry_swap, 0);
    ckpt_release(&l);

    write_file(tmp, "A\nB\n", 4, 0);
    CHECK_INT(reorder_finish_pending(res), 1);
    {
        size_t n;
        char *s = read_lines(res, &n);
        CHECK_STR(s, "A\nB\n");
        free(s);
    }
    CHECK_INT(reorder_finish_pending(res), 0);
    c.reorder_ready = 0;
    c.ordered = 1;
    c.retry_swap = 1;
    CHECK(ckpt_save(ck, &c, NULL) == 0);
    CHECK_INT(ckpt_load(ck, &l, NULL, err, sizeof err), 1);
    CHECK_INT(l.reorder_ready, 0);
    CHECK_INT(l.ordered, 1);
    CHECK_INT(l.retry_swap, 1);
    ckpt_release(&l);
    ckpt_release(&c);
    unlink(ck);
    unlink(res);
    free(tmp);
}

/* the whole protocol for a run's two outputs, and its resume side */
static void test_run_outputs(void)
{
    enum { N = 200 };
    const uint64_t seed = 77;
    const char *in = pathf("run-in.jsonl"), *res = pathf("run.jsonl.gz");
    const char *errs = pathf("run.errors.jsonl.gz"), *ckp = pathf("run.jsonl.gz.ckpt");
    char *ok[N], *bad[N], *want_ok, *want_bad, *got, err[512];
    size_t nok = 0, nbad = 0, n;
    reorder_stats_t st[2];
    ckpt_t ck, l;
    struct stat sb;

    for (size_t i = 0; i < N; i++) {
        buf_t b = BUF_INIT;
        char cid[32];
        snprintf(cid, sizeof cid, "j%zu", i);
        if (i % 5 == 0)
            results_error_line(&b, seed, i, cid, 500, NULL, NULL, NULL, 0, "e", "m");
        else
            results_error_line(&b, seed, i, cid, 200, NULL, NULL, NULL, 0, "fake", "ok");
        b.data[b.len - 1] = '\0';
        if (i % 5 == 0)
            bad[nbad++] = b.data;
        else
            ok[nok++] = b.data;
    }
    want_ok = join(ok, nok);
    want_bad = join(bad, nbad);
    shuffle(ok, nok);
    shuffle(bad, nbad);
    got = join(ok, nok);
    write_file(res, got, strlen(got), 1);
    free(got);
    got = join(bad, nbad);
    write_file(errs, got, strlen(got), 1);
    free(got);
    write_file(in, "", 0, 0);

    ckpt_init(&ck);
    ck.input_path = strdup(in);
    ck.input_hash = seed;
    ck.complete = 1;
    CHECK(reorder_run_outputs(&ck, ckp, NULL, in, res, errs, 4096, st, err, sizeof err) == 0);
    CHECK_INT(st[0].by_id, nok);
    CHECK_INT(st[1].by_id, nbad);
    got = read_lines(res, &n);
    CHECK(strcmp(got, want_ok) == 0);
    free(got);
    got = read_lines(errs, &n);
    CHECK(strcmp(got, want_bad) == 0);
    free(got);
    CHECK_INT(ckpt_load(ckp, &l, NULL, err, sizeof err), 1);
    CHECK_INT(l.ordered, 1);
    CHECK_INT(l.reorder_ready, 0);
    CHECK(stat(res, &sb) == 0 && (uint64_t)sb.st_size == l.results_size);
    CHECK(stat(errs, &sb) == 0 && (uint64_t)sb.st_size == l.errors_size);
    ckpt_release(&l);

    /* crash after step 2: ready + one tmp still there (the other renamed) */
    {
        char *tr = reorder_tmp_path(res);
        write_file(tr, "x\n", 2, 0);
        ck.reorder_ready = 1;
        ck.ordered = 0;
        ck.reorder_results_size = 2;
        ck.reorder_errors_size = ck.errors_size;
        CHECK(ckpt_save(ckp, &ck, NULL) == 0);
        CHECK_INT(ckpt_load(ckp, &l, NULL, err, sizeof err), 1);
        CHECK(reorder_resume(&l, ckp, NULL, res, errs, err, sizeof err) == 0);
        CHECK(!exists(tr));
        ckpt_release(&l);
        CHECK_INT(ckpt_load(ckp, &l, NULL, err, sizeof err), 1);
        CHECK_INT(l.ordered, 1);
        CHECK_INT(l.reorder_ready, 0);
        CHECK_INT(l.results_size, 2);
        ckpt_release(&l);
        /* a crash during step 1 (no ready flag): stale tmps are removed */
        write_file(tr, "partial", 7, 0);
        CHECK_INT(ckpt_load(ckp, &l, NULL, err, sizeof err), 1);
        CHECK(reorder_resume(&l, ckp, NULL, res, errs, err, sizeof err) == 0);
        CHECK(!exists(tr));
        ckpt_release(&l);
        free(tr);
    }
    ckpt_release(&ck);
    for (size_t i = 0; i < nok; i++)
        free(ok[i]);
    for (size_t i = 0; i < nbad; i++)
        free(bad[i]);
    free(want_ok);
    free(want_bad);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_foreign(0);
    test_foreign(1);
    test_own_ids(0);
    test_own_ids(1);
    test_join_many();
    test_hostile();
    test_crash_points();
    test_run_outputs();
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return tap_done();
}
