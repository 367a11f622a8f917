/*
 * shard: spec parsing, the index from the environment, file naming (see
 * shard.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shard.h"

static int parse_uint(const char *s, size_t len, unsigned max, unsigned *out)
{
    char buf[16], *end;
    unsigned long v;

    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (size_t k = 0; k < len; k++)
        if (buf[k] < '0' || buf[k] > '9')
            return -1;
    errno = 0;
    v = strtoul(buf, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int index_from_env(unsigned *i, char *err, size_t errlen)
{
    const char *v = getenv("JOB_COMPLETION_INDEX"), *name = "JOB_COMPLETION_INDEX";
    const char *min = NULL;
    unsigned lo = 0;

    if (!v || !*v) {
        v = getenv("SLURM_ARRAY_TASK_ID");
        name = "SLURM_ARRAY_TASK_ID";
        min = getenv("SLURM_ARRAY_TASK_MIN");
    }
    if (!v || !*v) {
        snprintf(err, errlen, "--shard auto/N: neither JOB_COMPLETION_INDEX nor "
                 "SLURM_ARRAY_TASK_ID is set; give the index as --shard I/N");
        return -1;
    }
    if (parse_uint(v, strlen(v), SHARD_MAX, i) ||
        (min && *min && parse_uint(min, strlen(min), SHARD_MAX, &lo)) || lo > *i) {
        snprintf(err, errlen, "--shard auto/N: %s is not a usable shard index", name);
        return -1;
    }
    *i -= lo;
    return 0;
}

int shard_parse(const char *spec, unsigned *i, unsigned *n, char *err, size_t errlen)
{
    const char *slash = strchr(spec, '/');
    size_t ilen;

    if (!slash || parse_uint(slash + 1, strlen(slash + 1), SHARD_MAX, n) || *n == 0) {
        snprintf(err, errlen, "--shard needs I/N with 0 <= I < N (or auto/N to take I from "
                 "JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID)");
        return -1;
    }
    ilen = (size_t)(slash - spec);
    if (ilen == 0 || (ilen == 4 && strncmp(spec, "auto", 4) == 0)) {
        if (index_from_env(i, err, errlen))
            return -1;
    } else if (parse_uint(spec, ilen, SHARD_MAX, i)) {
        snprintf(err, errlen, "--shard needs I/N with 0 <= I < N");
        return -1;
    }
    if (*i >= *n) {
        snprintf(err, errlen, "--shard %u/%u: the index must be below the shard count "
                 "(0 <= I < N)", *i, *n);
        return -1;
    }
    return 0;
}

char *shard_path(const char *path, unsigned i, unsigned n)
{
    static const char *exts[] = { ".jsonl.gz", ".jsonl", ".json", ".ckpt" };
    size_t len = strlen(path), base = len, cap = len + 48;
    char *p = malloc(cap);

    if (!p)
        return NULL;
    for (size_t k = 0; k < sizeof(exts) / sizeof(exts[0]); k++) {
        size_t e = strlen(exts[k]);
        if (len > e && strcmp(path + len - e, exts[k]) == 0) {
            base = len - e;
            break;
        }
    }
    snprintf(p, cap, "%.*s.shard-%u-of-%u%s", (int)base, path, i, n, path + base);
    return p;
}

uint64_t shard_jobs(uint64_t njobs, unsigned i, unsigned n)
{
    if (n == 0)
        return njobs;
    return njobs > i ? (njobs - i + n - 1) / n : 0;
}
