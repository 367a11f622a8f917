/*
 * lock: the exclusive per-output-set lock (see lock.h).
 *
 * Invariant: while l->fd >= 0, this process holds LOCK_EX on the inode that
 * l->path names.  acquire() checks after flock() that the path still names
 * the locked inode (a releasing run unlinks the file while holding it), so
 * two runs can never both believe they hold the same output set.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lock.h"

char *run_lock_path(const char *ckpt_path)
{
    size_t n = strlen(ckpt_path) + sizeof(".lock");
    char *p = malloc(n);

    if (p)
        snprintf(p, n, "%s.lock", ckpt_path);
    return p;
}

/* "pid N on host H" from the holder's lock file, or a generic phrase. */
static void describe_holder(int fd, char *out, size_t outlen)
{
    char buf[300];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    char host[256];
    long pid = 0;
    char *end;

    snprintf(out, outlen, "another process (it has not written its pid yet)");
    if (n <= 0)
        return;
    buf[n] = '\0';
    errno = 0;
    pid = strtol(buf, &end, 10);
    if (errno || end == buf || pid <= 0 || *end != ' ')
        return;
    end++;
    {
        size_t hl = strcspn(end, "\n");
        if (hl == 0 || hl >= sizeof(host))
            return;
        memcpy(host, end, hl);
        host[hl] = '\0';
    }
    for (char *h = host; *h; h++)
        if ((unsigned char)*h < 0x20 || (unsigned char)*h == 0x7f)
            *h = '?';
    snprintf(out, outlen, "pid %ld on host %s", pid, host);
}

static int write_holder(int fd)
{
    char host[256], line[320];
    int n;

    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    n = snprintf(line, sizeof(line), "%ld %s\n", (long)getpid(), host);
    if (n < 0 || (size_t)n >= sizeof(line))
        return -1;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n)
        return -1;
    return 0;
}

int run_lock_acquire(run_lock_t *l, const char *path, char *err, size_t errlen)
{
    int fd = -1, rc = -1;

    l->fd = -1;
    l->path = NULL;
    for (int tries = 0; tries < 20; tries++) {
        struct stat a, b;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
            snprintf(err, errlen, "cannot create the lock file %s: %s", path, strerror(errno));
            goto out;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            char who[300];
            if (errno != EWOULDBLOCK) {
                snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
                goto out;
            }
            describe_holder(fd, who, sizeof(who));
            snprintf(err, errlen, "these outputs are in use by another llmbatch run (%s; "
                     "lock file %s).  Nothing was changed: wait for that run to finish, or "
                     "stop it and rerun to resume", who, path);
            rc = 1;
            goto out;
        }
        /* the previous holder may have unlinked the file before we locked it */
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
            a.st_dev == b.st_dev && a.st_ino == b.st_ino)
            break;
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot lock %s: it keeps being replaced", path);
        goto out;
    }
    if (write_holder(fd) != 0) {
        snprintf(err, errlen, "cannot write the lock file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!(l->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    l->fd = fd;
    fd = -1;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

void run_lock_release(run_lock_t *l)
{
    if (l->fd >= 0) {
        if (l->path)
            unlink(l->path);
        close(l->fd);
    }
    free(l->path);
    l->fd = -1;
    l->path = NULL;
}
