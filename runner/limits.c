/*
 * limits: the open-file limit against --concurrency (see limits.h).  Owns
 * nothing; changes only the process's soft RLIMIT_NOFILE, never lowers it.
 */
#include <stdio.h>
#include <sys/resource.h>
#include "limits.h"

uint64_t limits_fds_needed(int concurrency)
{
    uint64_t c = concurrency > 0 ? (uint64_t)concurrency : 0;

    return c + c / 8 + LIMITS_FD_MARGIN;
}

int limits_concurrency_for(uint64_t nofile, int wanted)
{
    uint64_t room, c;

    if (wanted < 1)
        return 1;
    if (limits_fds_needed(wanted) <= nofile)
        return wanted;
    if (nofile <= LIMITS_FD_MARGIN + 1)
        return 1;
    room = nofile - LIMITS_FD_MARGIN;
    c = room * 8 / 9;                 /* about c + c/8 = room */
    while (c < (uint64_t)wanted && limits_fds_needed((int)c + 1) <= nofile)
        c++;
    while (c > 1 && limits_fds_needed((int)c) > nofile)
        c--;
    return c < 1 ? 1 : (int)c;
}

/* The kernel's ceiling for RLIMIT_NOFILE when the hard limit is unlimited. */
static uint64_t nr_open(void)
{
    FILE *f = fopen("/proc/sys/fs/nr_open", "re");
    unsigned long long v = 0;

    if (!f)
        return 1048576;
    if (fscanf(f, "%llu", &v) != 1 || v == 0)
        v = 1048576;
    fclose(f);
    return (uint64_t)v;
}

int limits_fit_concurrency(int wanted, int *granted, char *warn, size_t warnlen)
{
    struct rlimit rl;
    uint64_t soft, hard, need = limits_fds_needed(wanted);

    *granted = wanted;
    if (warnlen)
        warn[0] = '\0';
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;                     /* unknown: let the run find out */
    soft = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    hard = rl.rlim_max == RLIM_INFINITY ? nr_open() : (uint64_t)rl.rlim_max;
    if (soft < hard) {
        struct rlimit up = rl;
        up.rlim_cur = (rlim_t)hard;
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            soft = hard;
    }
    if (need <= soft)
        return 0;
    *granted = limits_concurrency_for(soft, wanted);
    snprintf(warn, warnlen, "--concurrency %d needs about %llu open files, but the limit "
             "is %llu (ulimit -n; the hard limit is %llu): using --concurrency %d",
             wanted, (unsigned long long)need, (unsigned long long)soft,
             (unsigned long long)hard, *granted);
    return 1;
}
