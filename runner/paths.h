/*
 * paths: the files one run reads or writes, checked before anything is
 * touched.  Two roles naming the same file (same resolved path, or the same
 * device + inode: hard links and symlinks included) are refused, and so is a
 * file the run must write whose directory is missing or not writable.
 */
#ifndef LLMB_PATHS_H
#define LLMB_PATHS_H
#include <stddef.h>
#include "run.h"

#define PATHS_MAX 4096      /* the longest path llmbatch resolves */

typedef struct path_role {
    const char *role;     /* "the results file", "--status-file", ... */
    const char *path;     /* NULL: the role is not used by this run */
    int         write;    /* 1: the run creates or replaces it (refused while
                             another run holds it); 2: the same, but the
                             role has its own lock (the lock file) */
} path_role_t;

/* 0 if the n roles name n different files and every write role can be
 * written; else -1 with a message naming the role(s) and path(s) in err. */
int paths_check(const path_role_t *v, size_t n, char *err, size_t errlen);

/* The check for `llmbatch run`: the input (unless "-"), results, errors,
 * report, checkpoint, lock file, --status-file, --metrics, --html, the cache
 * database (DIR/llmbatch-cache.sqlite), and the files only read
 * (--keys-file, --prices, --cacert).  0, or -1 with a message. */
int run_paths_check(const run_opts_t *o, const char *errors, const char *report,
                    const char *ckpt, const char *lock, char *err, size_t errlen);

/* The path's canonical absolute form (existing components resolved, dangling
 * symlinks followed) into out.  0, or -1 if it cannot be resolved. */
int paths_resolve(const char *path, char *out, size_t outlen);

/* After this run holds its own lock: -1 (message in err) when a file this
 * run writes, replaces or moves is an output another running run holds
 * (output.c flocks its results and errors files). */
int run_paths_held(const run_opts_t *o, const char *errors, const char *report,
                   const char *ckpt, char *err, size_t errlen);

#endif
