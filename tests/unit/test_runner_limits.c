/* Unit tests for runner/limits: the descriptor estimate, the concurrency
 * that fits a limit, and raising the soft limit to the hard one. */
#include <sys/resource.h>
#include "tap.h"
#include "limits.h"

static void test_estimate(void)
{
    CHECK_INT(limits_fds_needed(0), LIMITS_FD_MARGIN);
    CHECK_INT(limits_fds_needed(2000), 2000 + 250 + LIMITS_FD_MARGIN);
    CHECK_INT(limits_concurrency_for(1u << 20, 16384), 16384);
    CHECK_INT(limits_concurrency_for(limits_fds_needed(2000), 2000), 2000);
    CHECK_INT(limits_concurrency_for(limits_fds_needed(2000) - 1, 2000), 1999);
    CHECK_INT(limits_concurrency_for(1024, 2000), 854);
    CHECK(limits_fds_needed(limits_concurrency_for(256, 2000)) <= 256);
    CHECK(limits_fds_needed(limits_concurrency_for(256, 2000) + 1) > 256);
    CHECK_INT(limits_concurrency_for(10, 2000), 1);       /* never below one */
    CHECK_INT(limits_concurrency_for(100, 0), 1);
}

static void test_fit(void)
{
    struct rlimit rl, low;
    char warn[256];
    int granted = 0;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max == RLIM_INFINITY || rl.rlim_max < 512)
        return;
    low = rl;
    low.rlim_cur = 256;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    /* fits once the soft limit is raised to the hard one */
    CHECK_INT(limits_fit_concurrency(limits_concurrency_for(rl.rlim_max, 300), &granted,
                                     warn, sizeof(warn)), 0);
    CHECK(getrlimit(RLIMIT_NOFILE, &low) == 0);
    CHECK_INT(low.rlim_cur, rl.rlim_max);
    CHECK_STR(warn, "");
    /* does not fit the hard limit: lowered, with a warning */
    CHECK_INT(limits_fit_concurrency(1000000, &granted, warn, sizeof(warn)), 1);
    CHECK_INT(granted, limits_concurrency_for(rl.rlim_max, 1000000));
    CHECK(strstr(warn, "--concurrency 1000000 needs about") != NULL);
}

int main(void)
{
    test_estimate();
    test_fit();
    return tap_done();
}
