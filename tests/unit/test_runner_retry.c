/* retry_failed: CODES parsing and matching; the errors-file swap with the
 * done-bitmap (plain and gzip, hostile lines, uncommitted tails) and every
 * crash point of its protocol, checking that each job has exactly one line
 * when done and none when pending. */
#include "checkpoint.h"
#include "output.h"
#include "reader.h"
#include "results.h"
#include "retry_failed.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEED 0xfeedfacecafebeefULL
#define NJOBS 10

static char dir[] = "/tmp/test_retry.XXXXXX";

static char *pathf(const char *name)
{
    return tap_path(dir, name);
}

static void write_text(const char *p, const char *s)
{
    FILE *f = fopen(p, "wb");
    if (!f || fputs(s, f) < 0)
        abort();
    fclose(f);
}

static int exists(const char *p)
{
    return access(p, F_OK) == 0;
}

static void test_parse(void)
{
    retry_codes_t c;
    char err[256];

    CHECK(retry_codes_parse(NULL, &c, err, sizeof err) == 0);
    CHECK(c.all);
    CHECK(retry_codes_match(&c, "max_retries_exceeded", 500));
    CHECK(retry_codes_match(&c, NULL, 0));
    CHECK(!retry_codes_match(&c, "invalid_input", 0));

    CHECK(retry_codes_parse("max_retries_exceeded, 429,5xx", &c, err, sizeof err) == 0);
    CHECK(!c.all);
    CHECK_INT(c.ncodes, 1);
    CHECK_INT(c.nstatus, 2);
    CHECK(retry_codes_match(&c, "max_retries_exceeded", 0));
    CHECK(retry_codes_match(&c, "invalid_request_error", 429));
    CHECK(retry_codes_match(&c, "x", 503));
    CHECK(retry_codes_match(&c, "x", 500));
    CHECK(!retry_codes_match(&c, "x", 400));
    CHECK(!retry_codes_match(&c, "x", 0));
    CHECK(!retry_codes_match(&c, "invalid_input", 0));

    CHECK(retry_codes_parse("4xx,invalid_input", &c, err, sizeof err) == 0);
    CHECK(retry_codes_match(&c, "invalid_input", 0));
    CHECK(retry_codes_match(&c, NULL, 404));
    CHECK(!retry_codes_match(&c, NULL, 500));

    static const struct { const char *spec, *msg; } bad[] = {
        { "5x", "\"5x\"" },
        { "", "empty item" },
        { "429,,500", "empty item" },
        { "429,", "empty item" },
        { "600", "\"600\"" },
        { "6xx", "\"6xx\"" },
        { "42", "\"42\"" },
        { "rate limit", "\"rate limit\"" },
        { "max_retries_exceeded;429", "\"max_retries_exceeded;429\"" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_INT(retry_codes_parse(bad[i].spec, &c, err, sizeof err), -1);
        CHECK(strstr(err, bad[i].msg) != NULL);
        CHECK(strstr(err, "--retry-failed") != NULL);
    }
}

/* our line for job ord, into b */
static void err_line(buf_t *b, uint64_t ord, long status, const char *code)
{
    char cid[32];
    snprintf(cid, sizeof cid, "job-%llu", (unsigned long long)ord);
    if (results_error_line(b, SEED, ord, cid, status, NULL, NULL, status ? "{}" : NULL,
                           status ? 2 : 0, code, "msg") != 0)
        abort();
}

static void ok_line(buf_t *b, uint64_t ord)
{
    char cid[32];
    json_t *body = json_object();
    snprintf(cid, sizeof cid, "job-%llu", (unsigned long long)ord);
    if (results_success_line(b, SEED, ord, cid, 200, "req", body, 0) != 0)
        abort();
    json_decref(body);
}

/* Lines per job ordinal in a file (ours only), added to counts. */
static void count_lines(const char *path, unsigned *counts)
{
    char err[256];
    reader_t *r = reader_open(path, err, sizeof err);
    const char *line;
    size_t len;
    uint64_t lineno, ord;

    if (!r)
        return;
    while (reader_next(r, &line, &len, &lineno) == READER_LINE) {
        const char *p = strstr(line, "\"id\":\"");
        if (p && results_id_ordinal(p + 6, RESULTS_ID_LEN, SEED, &ord) && ord < NJOBS)
            counts[ord]++;
    }
    reader_free(r);
}

/* exactly once: a done job has one line, a pending job none */
static int exactly_once(const char *results, const char *errors, const uint64_t *bits)
{
    unsigned counts[NJOBS] = { 0 };
    int ok = 1;

    count_lines(results, counts);
    count_lines(errors, counts);
    for (unsigned i = 0; i < NJOBS; i++) {
        unsigned want = (bits[0] >> i) & 1;
        if (counts[i] != want) {
            fprintf(stderr, "job %u: %u lines, done bit %u\n", i, counts[i], want);
            ok = 0;
        }
    }
    return ok;
}

/*
 * The state of a run: jobs 0,2,4,6,8 succeeded; 1 (500, max_retries),
 * 3 (400, invalid_request_error), 5 (invalid_input), 7 (429, max_retries)
 * failed; a foreign line and a non-JSON line (kept, never retried); job 9
 * is pending, its line an uncommitted tail.  Returns the committed size.
 */
static uint64_t make_run(const char *results, const char *errors, uint64_t *bits)
{
    output_t o;
    buf_t b = BUF_INIT;
    char err[256];
    uint64_t committed;

    if (output_open(&o, results, 0, err, sizeof err) != 0)
        abort();
    for (uint64_t i = 0; i < NJOBS - 1; i += 2) {
        ok_line(&b, i);
    }
    output_append(&o, b.data, b.len);
    if (output_commit(&o) != 0)
        abort();
    output_close(&o);

    if (output_open(&o, errors, 0, err, sizeof err) != 0)
        abort();
    buf_reset(&b);
    err_line(&b, 7, 429, "max_retries_exceeded");
    err_line(&b, 1, 500, "max_retries_exceeded");
    output_append(&o, b.data, b.len);
    output_commit(&o);                         /* a second gzip member next */
    buf_reset(&b);
    err_line(&b, 3, 400, "invalid_request_error");
    err_line(&b, 5, 0, "invalid_input");
    buf_puts(&b, "{\"id\":\"batch_req_000000000000000000000000\",\"custom_id\":\"x\","
                 "\"response\":{\"status_code\":500},\"error\":{\"code\":\"server_error\"}}\n");
    buf_puts(&b, "this line is not json\n");
    output_append(&o, b.data, b.len);
    output_commit(&o);
    committed = o.committed;
    buf_reset(&b);
    err_line(&b, 9, 500, "max_retries_exceeded");    /* written, not committed */
    output_append(&o, b.data, b.len);
    output_commit(&o);
    output_close(&o);
    buf_release(&b);
    bits[0] = (1u << 9) - 1;     /* 0..8 done; 9 pending */
    return committed;
}

static void test_prepare(int gz)
{
    const char *results = pathf("r.jsonl");
    const char *errors = pathf(gz ? "e.jsonl.gz" : "e.jsonl");
    const char *ckp = pathf("r.jsonl.ckpt");
    char *tmp = retry_failed_tmp_path(errors), err[512];
    uint64_t bits[1], committed;
    retry_codes_t codes;
    retry_result_t res;
    ckpt_t ck, l;
    stats_t st;
    struct stat sb;

    committed = make_run(results, errors, bits);
    CHECK(retry_codes_parse(NULL, &codes, err, sizeof err) == 0);

    /* crash point 0: before anything */
    /* crash point 1: tmp written, checkpoint not saved -> discard */
    CHECK(retry_failed_prepare(errors, committed, SEED, &codes, bits, NJOBS, tmp, gz,
                               &res, err, sizeof err) == 0);
    CHECK(exists(tmp));
    CHECK(stat(tmp, &sb) == 0 && (uint64_t)sb.st_size == res.kept_size);
    CHECK_INT(res.lines_removed, 3);
    CHECK_INT(res.n_retry, 3);
    CHECK_INT(res.lines_kept, 3);
    CHECK_INT(res.not_ours, 1);
    CHECK_INT(res.unreadable, 1);
    CHECK_INT(bits[0], (1u << 9) - 1 - (1u << 1) - (1u << 3) - (1u << 7));
    CHECK_INT(res.ncodes, 2);
    CHECK_STR(res.by_code[0].code, "max_retries_exceeded");
    CHECK_INT(res.by_code[0].n, 2);
    CHECK_STR(res.by_code[1].code, "invalid_request_error");
    CHECK_INT(res.by_code[1].n, 1);
    /* the uncommitted tail was cut (as a resume would) */
    {
        uint64_t old_bits = (1u << 9) - 1;
        CHECK(stat(errors, &sb) == 0 && (uint64_t)sb.st_size == committed);
        /* simulated crash here: the old checkpoint and the old file agree */
        CHECK(exactly_once(results, errors, &old_bits));
        CHECK(retry_failed_discard(errors) == 0);
        CHECK(!exists(tmp));
    }

    /* again, then crash point 2: checkpoint saved with the flag, no rename */
    bits[0] = (1u << 9) - 1;
    CHECK(retry_failed_prepare(errors, committed, SEED, &codes, bits, NJOBS, tmp, gz,
                               &res, err, sizeof err) == 0);
    ckpt_init(&ck);
    stats_init(&st);
    ck.input_path = strdup("in");
    ck.input_hash = SEED;
    CHECK(ckpt_resize(&ck, NJOBS) == 0);
    ck.bits[0] = bits[0];
    ck.errors_size = res.kept_size;
    ck.retry_swap = 1;
    CHECK(ckpt_save(ckp, &ck, &st) == 0);
    ckpt_release(&ck);
    /* resume: the flag says finish the swap */
    CHECK_INT(ckpt_load(ckp, &l, NULL, err, sizeof err), 1);
    CHECK_INT(l.retry_swap, 1);
    CHECK_INT(retry_failed_finish_pending(errors), 1);
    CHECK(!exists(tmp));
    CHECK(stat(errors, &sb) == 0 && (uint64_t)sb.st_size == l.errors_size);
    CHECK(exactly_once(results, errors, l.bits));
    /* crash point 3: renamed, flag still set: finishing again is a no-op */
    CHECK_INT(retry_failed_finish_pending(errors), 0);
    CHECK(exactly_once(results, errors, l.bits));
    /* the jobs run again: 1, 3, 7 get new lines (and 9 too) -> all done */
    {
        output_t o;
        buf_t b = BUF_INIT;
        uint64_t all = (1u << NJOBS) - 1;
        CHECK(output_open(&o, errors, l.errors_size, err, sizeof err) == 0);
        err_line(&b, 1, 500, "max_retries_exceeded");
        output_append(&o, b.data, b.len);
        output_commit(&o);
        output_close(&o);
        buf_release(&b);
        b = (buf_t)BUF_INIT;
        CHECK(stat(results, &sb) == 0);
        CHECK(output_open(&o, results, (uint64_t)sb.st_size, err, sizeof err) == 0);
        ok_line(&b, 3);
        ok_line(&b, 7);
        ok_line(&b, 9);
        CHECK(!exactly_once(results, errors, l.bits));  /* the check can fail */
        output_append(&o, b.data, b.len);
        output_commit(&o);
        output_close(&o);
        buf_release(&b);
        CHECK(exactly_once(results, errors, &all));
    }
    ckpt_release(&l);
    stats_release(&st);
    unlink(ckp);
    free(tmp);
}

/* CODES narrows it; failures leave the bitmap alone */
static void test_codes_and_failures(void)
{
    const char *results = pathf("r2.jsonl"), *errors = pathf("e2.jsonl");
    char *tmp = retry_failed_tmp_path(errors), err[512];
    uint64_t bits[1], committed, before;
    retry_codes_t codes;
    retry_result_t res;

    committed = make_run(results, errors, bits);
    CHECK(retry_codes_parse("429,invalid_input", &codes, err, sizeof err) == 0);
    CHECK(retry_failed_prepare(errors, committed, SEED, &codes, bits, NJOBS, tmp, 0,
                               &res, err, sizeof err) == 0);
    CHECK_INT(res.lines_removed, 2);
    CHECK_INT(bits[0], (1u << 9) - 1 - (1u << 5) - (1u << 7));
    CHECK(retry_failed_commit(tmp, errors) == 0);
    CHECK(exactly_once(results, errors, bits));

    /* a job's bit already clear: its line still goes (it will run again) */
    committed = make_run(results, errors, bits);
    bits[0] &= ~(1u << 7);
    CHECK(retry_failed_prepare(errors, committed, SEED, &codes, bits, NJOBS, tmp, 0,
                               &res, err, sizeof err) == 0);
    CHECK_INT(res.lines_removed, 2);
    CHECK_INT(res.n_retry, 1);
    unlink(tmp);

    /* the wrong seed: nothing is ours, nothing retried */
    committed = make_run(results, errors, bits);
    CHECK(retry_failed_prepare(errors, committed, SEED ^ 1, &codes, bits, NJOBS, tmp, 0,
                               &res, err, sizeof err) == 0);
    CHECK_INT(res.lines_removed, 0);
    CHECK_INT(res.not_ours, 2);
    CHECK_INT(bits[0], (1u << 9) - 1);
    unlink(tmp);

    /* failures: bits unchanged, no tmp left */
    before = bits[0];
    CHECK(retry_failed_prepare(errors, committed, SEED, &codes, bits, NJOBS,
                               "/nonexistent-dir/x.tmp", 0, &res, err, sizeof err) == -1);
    CHECK(strstr(err, "/nonexistent-dir/x.tmp") != NULL);
    CHECK_INT(bits[0], before);
    CHECK(retry_failed_prepare(errors, committed + 100000, SEED, &codes, bits, NJOBS, tmp, 0,
                               &res, err, sizeof err) == -1);
    CHECK(strstr(err, "shorter") != NULL);
    CHECK(!exists(tmp));
    {
        /* a huge line after a retried one */
        FILE *f = fopen(errors, "ab");
        size_t big = (size_t)33 << 20;
        char *p = malloc(big);
        memset(p, 'x', big);
        fwrite(p, 1, big, f);
        fputc('\n', f);
        fclose(f);
        free(p);
        struct stat sb;
        stat(errors, &sb);
        CHECK(retry_failed_prepare(errors, (uint64_t)sb.st_size, SEED, &codes, bits, NJOBS,
                                   tmp, 0, &res, err, sizeof err) == -1);
        CHECK(strstr(err, "longer than 32 MiB") != NULL);
        CHECK_INT(bits[0], before);
        CHECK(!exists(tmp));
    }
    /* no errors file and nothing committed: an empty tmp, nothing retried */
    unlink(errors);
    CHECK(retry_failed_prepare(errors, 0, SEED, &codes, bits, NJOBS, tmp, 0,
                               &res, err, sizeof err) == 0);
    CHECK_INT(res.kept_size, 0);
    CHECK_INT(bits[0], before);
    unlink(tmp);
    free(tmp);
}

/* the whole protocol on a checkpoint, and its resume side */
static void test_apply(void)
{
    const char *results = pathf("r3.jsonl"), *errors = pathf("e3.jsonl");
    const char *ckp = pathf("r3.jsonl.ckpt");
    char *tmp = retry_failed_tmp_path(errors), err[512];
    uint64_t bits[1];
    retry_codes_t codes;
    retry_result_t res;
    ckpt_t ck, l;
    stats_t st, lst;
    struct stat sb;

    ckpt_init(&ck);
    stats_init(&st);
    stats_init(&lst);
    ck.input_path = strdup("in");
    ck.input_hash = SEED;
    CHECK(ckpt_resize(&ck, NJOBS) == 0);
    ck.errors_size = make_run(results, errors, bits);
    ck.bits[0] = bits[0];
    ck.complete = 1;
    ck.ordered = 1;
    st.failed = 4;
    st.invalid = 1;
    st.succeeded = 5;
    CHECK(retry_codes_parse("5xx,invalid_input", &codes, err, sizeof err) == 0);
    CHECK(retry_failed_apply(&ck, ckp, &st, errors, 0, &codes, &res, err, sizeof err) == 0);
    CHECK_INT(res.lines_removed, 2);
    CHECK_INT(st.failed, 2);
    CHECK_INT(st.invalid, 0);
    CHECK(!exists(tmp));
    CHECK_INT(ckpt_load(ckp, &l, &lst, err, sizeof err), 1);
    CHECK_INT(l.retry_swap, 0);
    CHECK_INT(l.complete, 0);
    CHECK_INT(l.ordered, 0);
    CHECK_INT(l.bits[0], (1u << 9) - 1 - (1u << 1) - (1u << 5));
    CHECK_INT(lst.failed, 2);
    CHECK(stat(errors, &sb) == 0 && (uint64_t)sb.st_size == l.errors_size);
    CHECK(exactly_once(results, errors, l.bits));
    ckpt_release(&l);
    stats_release(&lst);
    stats_init(&lst);

    /* resume with the flag and the tmp still there */
    write_text(tmp, "");
    ck.retry_swap = 1;
    CHECK(ckpt_save(ckp, &ck, &st) == 0);
    CHECK_INT(ckpt_load(ckp, &l, &lst, err, sizeof err), 1);
    CHECK(retry_failed_resume(&l, ckp, &lst, errors, err, sizeof err) == 0);
    CHECK(!exists(tmp));
    CHECK(stat(errors, &sb) == 0 && sb.st_size == 0);
    ckpt_release(&l);
    stats_release(&lst);
    CHECK_INT(ckpt_load(ckp, &l, NULL, err, sizeof err), 1);
    CHECK_INT(l.retry_swap, 0);
    ckpt_release(&l);
    /* without the flag a stale tmp goes */
    write_text(tmp, "stale");
    CHECK_INT(ckpt_load(ckp, &l, NULL, err, sizeof err), 1);
    CHECK(retry_failed_resume(&l, ckp, NULL, errors, err, sizeof err) == 0);
    CHECK(!exists(tmp));
    CHECK(stat(errors, &sb) == 0 && sb.st_size == 0);
    ckpt_release(&l);
    ckpt_release(&ck);
    stats_release(&st);
    free(tmp);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_parse();
    test_prepare(0);
    test_prepare(1);
    test_codes_and_failures();
    test_apply();
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return tap_done();
}
