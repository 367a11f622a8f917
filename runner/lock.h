/*
 * lock: one run per output set.  A run holds an exclusive flock(2) on a lock
 * file (CHECKPOINT.lock) from before it touches anything until its last
 * write.  The kernel drops the lock when the process dies, even on kill -9,
 * so a stale lock file never blocks a resume.  After locking, the holder
 * writes "pid host" into the file so that a refused run can name it.
 */
#ifndef LLMB_LOCK_H
#define LLMB_LOCK_H
#include <stddef.h>

typedef struct run_lock {
    int   fd;        /* -1: not held */
    char *path;
} run_lock_t;

#define RUN_LOCK_INIT { -1, NULL }

/* The lock file's path for a checkpoint path (CKPT + ".lock"); malloc'd,
 * NULL on out of memory. */
char *run_lock_path(const char *ckpt_path);

/* Takes the lock on path without waiting.  Returns 0 (held: l owns an open
 * descriptor and a copy of path), 1 if another process holds it (err names
 * that process: "pid N on host H"), or -1 on an error (message in err). */
int  run_lock_acquire(run_lock_t *l, const char *path, char *err, size_t errlen);

/* Removes the lock file and drops the lock (no-op if not held).  The file is
 * unlinked while still locked; a run that opened it meanwhile notices that
 * its descriptor no longer names the path and retries. */
void run_lock_release(run_lock_t *l);

#endif
