/*
 * fuzz_util: helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * FUZZ_CHECK aborts (so libFuzzer records a crash with the input) when an
 * invariant does not hold; it stays on in every build type, unlike assert.
 * fuzz_file_path() gives a path whose contents are exactly the current
 * input: a memfd (reached as /proc/self/fd/N) when the kernel has them,
 * else /tmp/llmb-fuzz-<pid>.  One file per process, rewritten per input.
 */
#ifndef LLMB_FUZZ_UTIL_H
#define LLMB_FUZZ_UTIL_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_CHECK(cond)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)

static char fuzz_tmp_path[64];

static inline void fuzz_unlink_tmp(void)
{
    if (fuzz_tmp_path[0])
        unlink(fuzz_tmp_path);
}

/* Writes the input to the per-process file; returns its path (static
 * storage) or NULL if the file could not be written. */
static inline const char *fuzz_file_path(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    size_t off = 0;

    if (fd < 0) {
#ifdef MFD_CLOEXEC
        fd = memfd_create("llmb-fuzz", MFD_CLOEXEC);
        if (fd >= 0) {
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            if (access(path, R_OK) != 0) {
                close(fd);
                fd = -1;
            }
        }
#endif
        if (fd < 0) {
            snprintf(path, sizeof path, "/tmp/llmb-fuzz-%ld", (long)getpid());
            fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd < 0)
                return NULL;
            memcpy(fuzz_tmp_path, path, sizeof path);
            atexit(fuzz_unlink_tmp);
        }
    }
    if (ftruncate(fd, 0) != 0)
        return NULL;
    while (off < size) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w <= 0)
            return NULL;
        off += (size_t)w;
    }
    return path;
}

/* A NUL-terminated copy of n bytes (the caller frees it). */
static inline char *fuzz_strndup(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);

    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Splits [*p, *p + *n) at the next byte `sep`: returns a NUL-terminated copy
 * of the field (to free) and advances past the separator.  At the end of the
 * data the whole rest is the field. */
static inline char *fuzz_next_field(const uint8_t **p, size_t *n, uint8_t sep)
{
    const uint8_t *e = *n ? memchr(*p, sep, *n) : NULL;
    size_t len = e ? (size_t)(e - *p) : *n;
    char *s = fuzz_strndup(*p, len);

    *p += len + (e != NULL);
    *n -= len + (e != NULL);
    return s;
}

#endif
