/*
 * output: committed append-only files, plain or multi-member gzip (see
 * output.h).  Owns the file descriptor, the deflate stream and the pending
 * buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "output.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Test hook: LLMBATCH_TEST_ENOSPC_AFTER=N makes output and checkpoint writes
 * fail with ENOSPC once N bytes in all were written, as on a full disk
 * (for tests that cannot mount a small tmpfs). */
static int64_t enospc_left = -2;

static int injected_enospc(size_t n)
{
    if (enospc_left == -2) {
        const char *e = getenv("LLMBATCH_TEST_ENOSPC_AFTER");
        char *end;
        long long v = e ? strtoll(e, &end, 10) : -1;
        enospc_left = e && *e && !*end && v >= 0 ? v : -1;
    }
    if (enospc_left < 0)
        return 0;
    if ((int64_t)n > enospc_left) {
        enospc_left = 0;
        errno = ENOSPC;
        return 1;
    }
    enospc_left -= (int64_t)n;
    return 0;
}

void test_kill_point(const char *name)
{
    const char *e = getenv("LLMBATCH_TEST_KILL_AT");

    if (e && strcmp(e, name) == 0)
        raise(SIGKILL);
}

static int write_all(int fd, const char *p, size_t n)
{
    if (injected_enospc(n))
        return -1;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* gz: 1 gzip, 0 plain, -1 by the name (".gz") */
static int output_open_mode(output_t *o, const char *path, uint64_t resume_size, int gz,
                            char *err, size_t errlen)
{
    int in_use = 0;
    struct stat st;

    memset(o, 0, sizeof(*o));
    o->fd = -1;
    buf_init(&o->pending);
    o->path = strdup(path);
    if (!o->path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    o->gz = gz < 0 ? ends_with(path, ".gz") : gz;
    {
        int existed = access(path, F_OK) == 0;
        o->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (o->fd < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto fail;
        }
        /* held for the whole run (the kernel drops it with the process):
         * another run must not write over, truncate or move this file */
        if (flock(o->fd, LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK) {
                snprintf(err, errlen, "%s is an output of another llmbatch run that is "
                         "still running; use another file", path);
                in_use = 1;
            } else {
                snprintf(err, errlen, "%s: lock: %s", path, strerror(errno));
            }
            goto fail;
        }
        /* a new file's directory entry must be durable before a checkpoint
         * (maybe in another directory) names its size */
        if (!existed && fsync_dir_of(path) != 0) {
            snprintf(err, errlen, "%s: fsync of its directory: %s", path, strerror(errno));
            goto fail;
        }
    }
    if (fstat(o->fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if ((uint64_t)st.st_size < resume_size) {
        snprintf(err, errlen, "%s is shorter (%lld bytes) than the checkpoint says "
                 "(%llu): it was changed or truncated; rerun with --fresh to start over",
                 path, (long long)st.st_size, (unsigned long long)resume_size);
        goto fail;
    }
    if ((uint64_t)st.st_size != resume_size &&
        ftruncate(o->fd, (off_t)resume_size) != 0) {
        snprintf(err, errlen, "%s: truncate: %s", path, strerror(errno));
        goto fail;
    }
    if (lseek(o->fd, (off_t)resume_size, SEEK_SET) < 0) {
        snprintf(err, errlen, "%s: seek: %s", path, strerror(errno));
        goto fail;
    }
    o->written = o->committed = resume_size;
    if (o->gz) {
        /* windowBits 15+16: gzip wrapper; level 1: this is a log, not an
         * archive, and the CPU is better spent on requests. */
        if (deflateInit2(&o->zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            snprintf(err, errlen, "%s: deflateInit failed", path);
            goto fail;
        }
        o->zs_ready = 1;
    }
    return 0;
fail:
    output_close(o);
    return in_use ? -2 : -1;
}

int output_open(output_t *o, const char *path, uint64_t resume_size,
                char *err, size_t errlen)
{
    return output_open_mode(o, path, resume_size, -1, err, errlen);
}

int output_open_new(output_t *o, const char *path, int gz, char *err, size_t errlen)
{
    return output_open_mode(o, path, 0, gz ? 1 : 0, err, errlen);
}

/* Runs deflate over input (flush = Z_NO_FLUSH or Z_FINISH) into pending. */
static int output_deflate(output_t *o, const char *in, size_t n, int flush)
{
    o->zs.next_in = (Bytef *)(uintptr_t)in;
    o->zs.avail_in = (uInt)n;
    for (;;) {
        int zr;
        if (buf_reserve(&o->pending, 64 * 1024))
            return -1;
        o->zs.next_out = (Bytef *)o->pending.data + o->pending.len;
        o->zs.avail_out = (uInt)(o->pending.cap - o->pending.len - 1);
        zr = deflate(&o->zs, flush);
        o->pending.len = (size_t)((char *)o->zs.next_out - o->pending.data);
        o->pending.data[o->pending.len] = '\0';
        if (zr == Z_STREAM_ERROR)
            return -1;
        if (flush == Z_FINISH) {
            if (zr == Z_STREAM_END)
                return 0;
        } else if (o->zs.avail_in == 0 && o->zs.avail_out != 0) {
            return 0;
        }
    }
}

static int output_spill(output_t *o)
{
    if (o->pending.len == 0)
        return 0;
    if (write_all(o->fd, o->pending.data, o->pending.len) != 0) {
        o->broken = 1;
        return -1;
    }
    o->written += o->pending.len;
    buf_reset(&o->pending);
    return 0;
}

int output_append(output_t *o, const char *line, size_t len)
{
    if (o->broken)
        return -1;
    if (o->gz) {
        if (output_deflate(o, line, len, Z_NO_FLUSH)) {
            o->broken = 1;
            return -1;
        }
        o->member_open = 1;
    } else {
        /* spill first rather than let the buffer double past OUTPUT_SPILL */
        if (o->pending.len && o->pending.len + len > OUTPUT_SPILL && output_spill(o))
            return -1;
        if (buf_append(&o->pending, line, len)) {
            o->broken = 1;
            return -1;
        }
    }
    o->lines++;
    if (o->pending.len >= OUTPUT_SPILL)
        return output_spill(o);
    return 0;
}

int output_commit(output_t *o)
{
    if (o->broken)
        return -1;
    /* an empty .gz file gets one empty member, so it is a valid gzip file */
    if (o->gz && (o->member_open || (o->written == 0 && o->pending.len == 0))) {
        if (output_deflate(o, NULL, 0, Z_FINISH) || deflateReset(&o->zs) != Z_OK) {
            o->broken = 1;
            return -1;
        }
        o->member_open = 0;
    }
    if (output_spill(o))
        return -1;
    if (o->written != o->committed) {
        if (fdatasync(o->fd) != 0) {
            /* never retry a failed fsync: the page cache may have dropped
             * the dirty pages and a second fsync would lie */
            o->broken = 1;
            return -1;
        }
        o->committed = o->written;
    }
    return 0;
}

void output_close(output_t *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    if (o->zs_ready)
        deflateEnd(&o->zs);
    o->zs_ready = 0;
    buf_release(&o->pending);
    free(o->path);
    o->path = NULL;
}

int fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    int fd, rc;

    if (!slash) {
        snprintf(dir, sizeof(dir), ".");
    } else if (slash == path) {
        snprintf(dir, sizeof(dir), "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4096];
    int fd, n, saved;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        saved = errno;
        close(fd);
        unlink(tmp);
        errno = saved;
        return -1;
    }
    if (close(fd) != 0) {
        saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    if (rename(tmp, path) != 0) {
        saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return fsync_dir_of(path);
}

int staged_commit(const char *tmp, const char *path)
{
    if (rename(tmp, path) != 0)
        return -1;
    return fsync_dir_of(path);
}

/* PATH + suffix, malloc'd (errno ENOMEM when NULL). */
static char *staged_path(const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *p = malloc(n);

    if (p)
        snprintf(p, n, "%s%s", path, suffix);
    else
        errno = ENOMEM;
    return p;
}

int staged_finish_pending(const char *path, const char *suffix)
{
    char *tmp = staged_path(path, suffix);
    int rc;

    if (!tmp)
        return -1;
    if (access(tmp, F_OK) != 0)
        rc = errno == ENOENT ? 0 : -1;
    else
        rc = staged_commit(tmp, path) == 0 ? 1 : -1;
    free(tmp);
    return rc;
}

int staged_discard(const char *path, const char *suffix)
{
    char *tmp = staged_path(path, suffix);
    int rc = 0;

    if (!tmp)
        return -1;
    if (unlink(tmp) != 0 && errno != ENOENT)
        rc = -1;
    free(tmp);
    return rc;
}
