/* Unit tests for runner/output and runner/checkpoint: committed gzip members
 * decode, resume truncates torn tails, the checkpoint round-trips. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "tap.h"
#include "checkpoint.h"
#include "output.h"

static size_t gz_read_all(const char *path, char *out, size_t cap, int *ok)
{
    gzFile g = gzopen(path, "rb");
    int n;
    size_t len = 0;

    *ok = 0;
    if (!g)
        return 0;
    while ((n = gzread(g, out + len, (unsigned)(cap - len))) > 0)
        len += (size_t)n;
    *ok = n == 0;
    gzclose(g);
    return len;
}

static void test_gz_members(void)
{
    char path[] = "/tmp/llmb-test-out-XXXXXX.jsonl.gz", err[256], got[4096];
    output_t o;
    int fd = mkstemps(path, 9), ok;
    uint64_t committed;

    close(fd);
    CHECK(output_open(&o, path, 0, err, sizeof(err)) == 0);
    CHECK(output_commit(&o) == 0);          /* empty file: one empty member */
    CHECK(o.committed > 0);
    CHECK_INT(gz_read_all(path, got, sizeof(got), &ok), 0);
    CHECK(ok);
    CHECK(output_append(&o, "a\n", 2) == 0);
    CHECK(output_append(&o, "b\n", 2) == 0);
    CHECK(output_commit(&o) == 0);
    CHECK(output_append(&o, "c\n", 2) == 0);
    CHECK(output_commit(&o) == 0);
    committed = o.committed;
    CHECK(output_append(&o, "d\n", 2) == 0);
    output_close(&o);                        /* "d" was never committed */
    {
        FILE *f = fopen(path, "ab");         /* and a torn tail */
        fputs("\x1f\x8bgarbage", f);
        fclose(f);
    }
    CHECK(output_open(&o, path, committed, err, sizeof(err)) == 0);
    CHECK(output_append(&o, "e\n", 2) == 0);
    CHECK(output_commit(&o) == 0);
    output_close(&o);
    memset(got, 0, sizeof(got));
    CHECK_INT(gz_read_all(path, got, sizeof(got), &ok), 8);
    CHECK(ok);
    CHECK_STR(got, "a\nb\nc\ne\n");
    /* a file shorter than the checkpoint says is refused */
    CHECK(output_open(&o, path, committed + 100000, err, sizeof(err)) != 0);
    CHECK(strstr(err, "shorter") != NULL);
    unlink(path);
}

static void test_plain_truncate(void)
{
    char path[] = "/tmp/llmb-test-out-XXXXXX.jsonl", err[256], got[64] = {0};
    output_t o;
    int fd = mkstemps(path, 6);
    FILE *f;

    close(fd);
    CHECK(output_open(&o, path, 0, err, sizeof(err)) == 0);
    CHECK(output_append(&o, "one\n", 4) == 0);
    CHECK(output_commit(&o) == 0);
    CHECK_INT(o.committed, 4);
    CHECK(output_append(&o, "tw", 2) == 0);  /* torn */
    output_close(&o);
    CHECK(output_open(&o, path, 4, err, sizeof(err)) == 0);
    CHECK(output_append(&o, "two\n", 4) == 0);
    CHECK(output_commit(&o) == 0);
    output_close(&o);
    f = fopen(path, "r");
    CHECK(f && fread(got, 1, sizeof(got) - 1, f) == 8);
    if (f) fclose(f);
    CHECK_STR(got, "one\ntwo\n");
    unlink(path);
}

static void test_ckpt_roundtrip(void)
{
    char path[] = "/tmp/llmb-test-ckpt-XXXXXX", err[256];
    ckpt_t c, d;
    stats_t s, t;
    int fd = mkstemp(path);

    close(fd);
    ckpt_init(&c);
    stats_init(&s);
    CHECK(ckpt_resize(&c, 1000) == 0);
    for (uint64_t i = 0; i < 700; i++)
        ckpt_mark(&c, i);
    ckpt_mark(&c, 999);
    ckpt_mark(&c, 850);
    c.input_size = 12345;
    c.input_hash = 0xdeadbeefcafef00dULL;
    c.settings_hash = 42;
    c.results_size = 777;
    c.errors_size = 20;
    c.hwm = 123456789;
    c.input_path = strdup("in.jsonl");
    s.succeeded = 690;
    s.failed = 12;
    s.spent = 5000000000LL;
    s.by_status[429] = 3;
    stats_model(&s, "gpt-4o")->tok.output = 99;
    CHECK(ckpt_save(path, &c, &s) == 0);
    stats_init(&t);
    CHECK_INT(ckpt_load(path, &d, &t, err, sizeof(err)), 1);
    CHECK_INT(d.njobs, 1000);
    CHECK_INT(ckpt_count_done(&d), 702);
    CHECK(ckpt_done(&d, 699) && !ckpt_done(&d, 700) && ckpt_done(&d, 850) && ckpt_done(&d, 999));
    CHECK(d.input_hash == c.input_hash);
    CHECK_INT(d.results_size, 777);
    CHECK_INT(d.hwm, 123456789);
    CHECK_INT(t.succeeded, 690);
    CHECK_INT(t.spent, 5000000000LL);
    CHECK_INT(t.by_status[429], 3);
    CHECK_INT(stats_model(&t, "gpt-4o")->tok.output, 99);
    ckpt_release(&d);
    stats_release(&t);
    /* garbage is refused, a missing file is "no checkpoint" */
    {
        FILE *f = fopen(path, "w");
        fputs("{\"llmbatch_checkpoint\":1,", f);
        fclose(f);
    }
    CHECK_INT(ckpt_load(path, &d, NULL, err, sizeof(err)), -1);
    unlink(path);
    CHECK_INT(ckpt_load(path, &d, NULL, err, sizeof(err)), 0);
    ckpt_release(&c);
    stats_release(&s);
}

int main(void)
{
    test_gz_members();
    test_plain_truncate();
    test_ckpt_roundtrip();
    return tap_done();
}
