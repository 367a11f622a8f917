/*
 * spool: copies a one-shot input into an anonymous temporary file (see
 * spool.h).  O_TMPFILE where the file system supports it; otherwise
 * mkstemp() and an immediate unlink(), so the window in which the copy has
 * a name is a few microseconds, before any byte is copied.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "spool.h"

int spool_needed(const char *input)
{
    struct stat st;

    if (strcmp(input, "-") == 0)
        return 1;
    if (stat(input, &st) != 0)
        return 0;
    return !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

static int anon_file(const char *dir)
{
    char tmpl[4200];
    int fd;

#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
#endif
    if (snprintf(tmpl, sizeof(tmpl), "%s/llmbatch-spool-XXXXXX", dir) >= (int)sizeof(tmpl)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd >= 0)
        unlink(tmpl);
    return fd;
}

static int copy_all(int in, int out)
{
    char buf[1 << 16];

    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            off += w;
        }
    }
}

int spool_open(spool_t *s, const char *input, char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR");
    const char *dir = tmp && *tmp ? tmp : "/tmp";
    const char *name = strcmp(input, "-") == 0 ? "stdin" : input;
    int in = -1, rc = -1;

    s->fd = -1;
    s->path[0] = '\0';
    if (strcmp(input, "-") == 0) {
        in = STDIN_FILENO;
    } else if ((in = open(input, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "%s: %s", input, strerror(errno));
        goto out;
    }
    if ((s->fd = anon_file(dir)) < 0) {
        snprintf(err, errlen, "cannot create a temporary file in %s to hold %s: %s",
                 dir, name, strerror(errno));
        goto out;
    }
    if (copy_all(in, s->fd) != 0) {
        snprintf(err, errlen, "cannot copy %s to a temporary file in %s: %s", name, dir,
                 strerror(errno));
        goto out;
    }
    snprintf(s->path, sizeof(s->path), "/proc/self/fd/%d", s->fd);
    if (access(s->path, R_OK) != 0) {
        snprintf(err, errlen, "cannot reopen the copy of %s through %s (is /proc "
                 "mounted?): %s", name, s->path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (in >= 0 && in != STDIN_FILENO)
        close(in);
    if (rc != 0)
        spool_close(s);
    return rc;
}

void spool_close(spool_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->path[0] = '\0';
}

int input_pin(const char *path, reader_pin_t *pin, char *err, size_t errlen)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    reader_pin_from_stat(pin, &st);
    return 0;
}

int input_pin_check(const char *path, const reader_pin_t *pin, char *err, size_t errlen)
{
    reader_pin_t now;

    if (input_pin(path, &now, err, errlen) != 0)
        return -1;
    if (memcmp(&now, pin, sizeof(now)) != 0) {
        snprintf(err, errlen, "%s changed while it was being read (it is being written "
                 "to?); nothing was sent.  Run again once the file is complete", path);
        return -1;
    }
    return 0;
}
