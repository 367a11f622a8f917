/*
 * tap: a tiny test harness for the unit tests.  CHECK records a failure and
 * goes on; main returns tap_done(), which prints "N passed, N failed" and
 * gives a non-zero exit code on any failure.
 */
#ifndef LLMB_TAP_H
#define LLMB_TAP_H
#include <stdio.h>
#include <string.h>

static int tap_pass, tap_fail;

#define CHECK(cond) do { \
    if (cond) tap_pass++; \
    else { tap_fail++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_STR(a, b) do { \
    const char *a_ = (a), *b_ = (b); \
    if (a_ && b_ && strcmp(a_, b_) == 0) tap_pass++; \
    else { tap_fail++; fprintf(stderr, "FAIL %s:%d: %s == \"%s\" (got \"%s\")\n", \
                               __FILE__, __LINE__, #a, b_ ? b_ : "(null)", a_ ? a_ : "(null)"); } \
} while (0)

#define CHECK_INT(a, b) do { \
    long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ == b_) tap_pass++; \
    else { tap_fail++; fprintf(stderr, "FAIL %s:%d: %s == %lld (got %lld)\n", \
                               __FILE__, __LINE__, #a, b_, a_); } \
} while (0)

/* "dir/name" in one of 8 rotating buffers: up to 8 paths usable at once. */
static inline char *tap_path(const char *dir, const char *name)
{
    static char p[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static inline int tap_done(void)
{
    printf("%d passed, %d failed\n", tap_pass, tap_fail);
    return tap_fail ? 1 : 0;
}

#endif
