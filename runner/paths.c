/*
 * paths: collision and writability checks over every file of a run (see
 * paths.h).  Read-only with respect to the file system: it stats, resolves
 * and asks access(2), and never creates anything, so a refused run leaves
 * no trace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "paths.h"
#include "reorder.h"
#include "retry_failed.h"



/* dir part of p ("." if none) into out. */
static int dir_of(const char *p, char *out, size_t outlen)
{
    const char *slash = strrchr(p, '/');
    size_t n;

    if (!slash)
        return snprintf(out, outlen, ".") < (int)outlen ? 0 : -1;
    n = slash == p ? 1 : (size_t)(slash - p);
    if (n >= outlen)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

int paths_resolve(const char *path, char *out, size_t outlen)
{
    char cur[PATHS_MAX], dir[PATHS_MAX], real[PATHS_MAX];  /* PATH_MAX on Linux */
    const char *base;

    if (strlen(path) >= sizeof(cur))
        return -1;
    snprintf(cur, sizeof(cur), "%s", path);
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        char link[PATHS_MAX];
        ssize_t n;

        if (realpath(cur, real))
            return snprintf(out, outlen, "%s", real) < (int)outlen ? 0 : -1;
        /* missing: follow a dangling symlink to where a write would land */
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
            break;
        n = readlink(cur, link, sizeof(link) - 1);
        if (n <= 0)
            return -1;
        link[n] = '\0';
        if (link[0] == '/') {
            snprintf(cur, sizeof(cur), "%s", link);
        } else {
            char joined[2 * PATHS_MAX + 2];
            if (dir_of(cur, dir, sizeof(dir)))
                return -1;
            snprintf(joined, sizeof(joined), "%s/%s", dir, link);
            if (strlen(joined) >= sizeof(cur))
                return -1;
            snprintf(cur, sizeof(cur), "%s", joined);
        }
    }
    if (dir_of(cur, dir, sizeof(dir)) || !realpath(dir, real))
        return -1;
    base = strrchr(cur, '/');
    base = base ? base + 1 : cur;
    return snprintf(out, outlen, "%s%s%s", real, strcmp(real, "/") ? "/" : "", base) <
           (int)outlen ? 0 : -1;
}

/* 1 if a and b are the same file (by resolved path or device + inode). */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    char ra[PATHS_MAX], rb[PATHS_MAX];

    if (strcmp(a, b) == 0)
        return 1;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
        sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
        return 1;
    return paths_resolve(a, ra, sizeof(ra)) == 0 && paths_resolve(b, rb, sizeof(rb)) == 0 &&
           strcmp(ra, rb) == 0;
}

/* 0 if the run can create or replace path; else -1 with the reason. */
static int check_writable(const path_role_t *r, char *err, size_t errlen)
{
    char target[PATHS_MAX], dir[PATHS_MAX];
    struct stat st;

    if (paths_resolve(r->path, target, sizeof(target)) != 0) {
        if (dir_of(r->path, dir, sizeof(dir)) == 0 && stat(dir, &st) != 0) {
            snprintf(err, errlen, "%s %s cannot be written: its directory %s does not "
                     "exist", r->role, r->path, dir);
            return -1;
        }
        snprintf(err, errlen, "%s %s cannot be written: its directory cannot be resolved",
                 r->role, r->path);
        return -1;
    }
    if (stat(target, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s %s is a directory", r->role, r->path);
            return -1;
        }
        if (access(target, W_OK) != 0) {
            snprintf(err, errlen, "%s %s cannot be written: %s", r->role, r->path,
                     strerror(errno));
            return -1;
        }
    }
    /* files are created, and replaced by rename, in their directory */
    if (dir_of(target, dir, sizeof(dir)) != 0) {
        snprintf(err, errlen, "%s %s: path too long", r->role, r->path);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "%s %s cannot be written: its directory %s is not writable "
                 "(%s)", r->role, r->path, dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* 1 if path is a regular file that a running llmbatch run holds open as
 * one of its outputs (output.c flocks them for the whole run). */
static int held_by_a_run(const char *path)
{
    struct stat st;
    int fd, held = 0;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        held = errno == EWOULDBLOCK;
    else
        flock(fd, LOCK_UN);
    close(fd);
    return held;
}

int paths_check(const path_role_t *v, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (!v[i].path)
            continue;
        for (size_t j = i + 1; j < n; j++) {
            if (!v[j].path || !same_file(v[i].path, v[j].path))
                continue;
            snprintf(err, errlen, "%s %s is the same file as %s %s; the files a run reads "
                     "and writes must all be different files", v[j].role, v[j].path,
                     v[i].role, v[i].path);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!v[i].path || !v[i].write)
            continue;
        if (check_writable(&v[i], err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* The files a run writes besides its named outputs, derived from them:
 * atomic replacements go through NAME.tmp; the checkpoint has its timeline
 * and batch state next to it; --ordered and --retry-failed stage their
 * rewrites in NAME.reorder.tmp / NAME.retry.tmp.  Each is a role of its
 * own, so that no output can be named like another's side file. */
typedef struct derived {
    char buf[PATHS_MAX];
} derived_t;

static const char *derive(derived_t *d, const char *path, const char *suffix)
{
    if (!path || snprintf(d->buf, sizeof(d->buf), "%s%s", path, suffix) >= (int)sizeof(d->buf))
        return NULL;
    return d->buf;
}

/* Every role of a run into v (at least 40 slots; dv at least 24); the count,
 * or 0 with a message in err. */
static size_t run_roles(const run_opts_t *o, const char *errors, const char *report,
                        const char *ckpt, const char *lock, path_role_t *v, derived_t *dv,
                        char *cache_db, char *err, size_t errlen)
{
    const char *cache = NULL;
    size_t n = 0, nd = 0;

    if (o->cache_dir) {
        if (snprintf(cache_db, PATHS_MAX, "%s/llmbatch-cache.sqlite", o->cache_dir) >=
            PATHS_MAX) {
            snprintf(err, errlen, "--cache: directory name too long");
            return 0;
        }
        cache = cache_db;
    }
    v[n++] = (path_role_t){ "the input", strcmp(o->input, "-") ? o->input : NULL, 0 };
    v[n++] = (path_role_t){ "the results file", o->results, 1 };
    v[n++] = (path_role_t){ "the errors file", errors, 1 };
    v[n++] = (path_role_t){ "the report", report, 1 };
    v[n++] = (path_role_t){ "the checkpoint", ckpt, 1 };
    v[n++] = (path_role_t){ "the lock file", lock, 2 };   /* lock.c names its holder */
    v[n++] = (path_role_t){ "--status-file", o->status_file, 1 };
    v[n++] = (path_role_t){ "--metrics", o->metrics_file, 1 };
    /* the cache creates its directory itself and degrades to a warning when
     * it cannot: only collisions are refused here */
    v[n++] = (path_role_t){ "the cache database", cache, 0 };
    /* files only read: a side file must not replace them either */
    v[n++] = (path_role_t){ "--keys-file", o->keys_file, 0 };
    v[n++] = (path_role_t){ "--prices", o->prices, 0 };
    v[n++] = (path_role_t){ "--cacert", o->cacert, 0 };
    v[n++] = (path_role_t){ "--html", o->html_file, 1 };
    /* side files (checked for collisions only: they are made next to their
     * owner, whose directory is checked above) */
#define SIDE(role, owner, suffix) \
    v[n++] = (path_role_t){ role, derive(&dv[nd++], owner, suffix), 0 }
    SIDE("the report's temporary file", report, ".tmp");
    SIDE("the checkpoint's temporary file", ckpt, ".tmp");
    SIDE("--status-file's temporary file", o->status_file, ".tmp");
    SIDE("--metrics's temporary file", o->metrics_file, ".tmp");
    SIDE("--html's temporary file", o->html_file, ".tmp");
    SIDE("the timeline", ckpt, ".timeline.json");
    SIDE("the timeline's temporary file", ckpt, ".timeline.json.tmp");
    SIDE("the batch state", ckpt, ".batches");
    SIDE("the batch state's temporary file", ckpt, ".batches.tmp");
    SIDE("the batch spool directory", ckpt, ".batches.d");
    SIDE("the results' reorder file", o->results, REORDER_TMP_SUFFIX);
    SIDE("the errors' reorder file", errors, REORDER_TMP_SUFFIX);
    SIDE("the errors' retry file", errors, RETRY_TMP_SUFFIX);
#undef SIDE
    return n;
}

int run_paths_check(const run_opts_t *o, const char *errors, const char *report,
                    const char *ckpt, const char *lock, char *err, size_t errlen)
{
    char cache_db[PATHS_MAX];
    path_role_t v[40];
    derived_t dv[24];
    size_t n = run_roles(o, errors, report, ckpt, lock, v, dv, cache_db, err, errlen);

    return n ? paths_check(v, n, err, errlen) : -1;
}

int run_paths_held(const run_opts_t *o, const char *errors, const char *report,
                   const char *ckpt, char *err, size_t errlen)
{
    char cache_db[PATHS_MAX];
    path_role_t v[40];
    derived_t dv[24];
    size_t n = run_roles(o, errors, report, ckpt, NULL, v, dv, cache_db, err, errlen);

    if (!n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i].path && v[i].write == 1 && held_by_a_run(v[i].path)) {
            snprintf(err, errlen, "%s %s is an output of another llmbatch run that is still "
                     "running; a run never writes over, moves or replaces it", v[i].role,
                     v[i].path);
            return -1;
        }
    }
    return 0;
}
