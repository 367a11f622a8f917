/* Unit tests for runner/shard: the --shard spec (incl. the index from the
 * schedulers' environment), the naming rule and each shard's job count. */
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "shard.h"

static void test_parse(void)
{
    unsigned i = 99, n = 99;
    char err[300];

    CHECK(shard_parse("0/3", &i, &n, err, sizeof(err)) == 0);
    CHECK_INT(i, 0);
    CHECK_INT(n, 3);
    CHECK(shard_parse("2/3", &i, &n, err, sizeof(err)) == 0);
    CHECK_INT(i, 2);
    CHECK(shard_parse("3/3", &i, &n, err, sizeof(err)) != 0);     /* I < N */
    CHECK(strstr(err, "0 <= I < N") != NULL);
    CHECK(shard_parse("1/0", &i, &n, err, sizeof(err)) != 0);
    CHECK(shard_parse("1", &i, &n, err, sizeof(err)) != 0);
    CHECK(shard_parse("-1/3", &i, &n, err, sizeof(err)) != 0);
    CHECK(shard_parse("1/3x", &i, &n, err, sizeof(err)) != 0);
    CHECK(shard_parse("+1/3", &i, &n, err, sizeof(err)) != 0);
    CHECK(shard_parse("99999999999/3", &i, &n, err, sizeof(err)) != 0);

    unsetenv("JOB_COMPLETION_INDEX");
    unsetenv("SLURM_ARRAY_TASK_ID");
    unsetenv("SLURM_ARRAY_TASK_MIN");
    CHECK(shard_parse("auto/4", &i, &n, err, sizeof(err)) != 0);
    CHECK(strstr(err, "JOB_COMPLETION_INDEX") != NULL);
    setenv("SLURM_ARRAY_TASK_ID", "3", 1);
    CHECK(shard_parse("auto/4", &i, &n, err, sizeof(err)) == 0);
    CHECK_INT(i, 3);
    setenv("SLURM_ARRAY_TASK_MIN", "1", 1);                        /* --array=1-4 */
    CHECK(shard_parse("/4", &i, &n, err, sizeof(err)) == 0);
    CHECK_INT(i, 2);
    setenv("JOB_COMPLETION_INDEX", "1", 1);                        /* wins */
    CHECK(shard_parse("auto/4", &i, &n, err, sizeof(err)) == 0);
    CHECK_INT(i, 1);
    setenv("JOB_COMPLETION_INDEX", "4", 1);
    CHECK(shard_parse("auto/4", &i, &n, err, sizeof(err)) != 0);
    setenv("JOB_COMPLETION_INDEX", "x", 1);
    CHECK(shard_parse("auto/4", &i, &n, err, sizeof(err)) != 0);
    unsetenv("JOB_COMPLETION_INDEX");
    unsetenv("SLURM_ARRAY_TASK_ID");
    unsetenv("SLURM_ARRAY_TASK_MIN");
}

static void path_is(const char *in, unsigned i, unsigned n, const char *want)
{
    char *p = shard_path(in, i, n);
    CHECK(p != NULL);
    if (p)
        CHECK_STR(p, want);
    free(p);
}

static void test_paths(void)
{
    path_is("out.jsonl", 0, 3, "out.shard-0-of-3.jsonl");
    path_is("d/out.jsonl.gz", 2, 3, "d/out.shard-2-of-3.jsonl.gz");
    path_is("rep.json", 1, 2, "rep.shard-1-of-2.json");
    path_is("state.ckpt", 1, 2, "state.shard-1-of-2.ckpt");
    path_is("results", 0, 1, "results.shard-0-of-1");
}

static void test_counts(void)
{
    CHECK_INT(shard_jobs(10, 0, 0), 10);
    CHECK_INT(shard_jobs(10, 0, 3), 4);     /* 0 3 6 9 */
    CHECK_INT(shard_jobs(10, 1, 3), 3);     /* 1 4 7 */
    CHECK_INT(shard_jobs(10, 2, 3), 3);     /* 2 5 8 */
    CHECK_INT(shard_jobs(2, 2, 3), 0);
    CHECK_INT(shard_jobs(0, 0, 3), 0);
    for (unsigned n = 1; n < 9; n++)
        for (uint64_t jobs = 0; jobs < 40; jobs++) {
            uint64_t sum = 0;
            for (unsigned i = 0; i < n; i++) {
                uint64_t c = 0;
                for (uint64_t j = 0; j < jobs; j++)
                    c += j % n == i;
                CHECK_INT(shard_jobs(jobs, i, n), c);
                sum += shard_jobs(jobs, i, n);
            }
            CHECK_INT(sum, jobs);
        }
}

int main(void)
{
    test_parse();
    test_paths();
    test_counts();
    return tap_done();
}
