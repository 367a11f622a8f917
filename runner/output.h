/*
 * output: an append-only results or errors file with commit points.
 *
 * Lines are appended to an in-memory buffer (deflated into the current gzip
 * member when the name ends in ".gz") and written out when the buffer grows
 * past OUTPUT_SPILL or at the next commit.  output_commit() closes the gzip
 * member, writes everything and fsyncs; only then is `committed` (the file
 * size the checkpoint records) advanced.  So the file on disk is, at every
 * commit point, a sequence of whole lines / whole gzip members, and on
 * resume output_open() truncates it back to the committed size, cutting any
 * torn or uncommitted tail.
 *
 * After any failed write or fsync the file is "broken": every later call
 * fails, and the caller stops with exit 5 without retrying the fsync.
 */
#ifndef LLMB_OUTPUT_H
#define LLMB_OUTPUT_H
#include <stdint.h>
#include <stddef.h>
#include <zlib.h>
#include "buf.h"

#define OUTPUT_SPILL ((size_t)256 << 10)

typedef struct output {
    char     *path;
    int       fd;
    int       gz;
    int       broken;
    int       member_open;     /* deflate has input since the last member end */
    z_stream  zs;
    int       zs_ready;
    buf_t     pending;         /* bytes not yet written to fd */
    uint64_t  written;         /* bytes written to fd */
    uint64_t  committed;       /* file size at the last successful commit */
    uint64_t  lines;           /* lines appended since open */
} output_t;

/* Opens path for appending, truncating it to `resume_size` (0 creates or
 * empties it).  The file is flocked for as long as it is open, so another
 * run cannot write over it; -2 (message in err) when another process
 * holds it.  A file shorter than resume_size is an error (the results
 * the checkpoint counts are gone).  -1 with a message in err. */
int  output_open(output_t *o, const char *path, uint64_t resume_size,
                 char *err, size_t errlen);
/* Creates (or empties) path, gzip when gz is set whatever the name (for
 * temp files such as "results.jsonl.gz.reorder.tmp"). */
int  output_open_new(output_t *o, const char *path, int gz, char *err, size_t errlen);
/* Appends one line (len bytes, must end with '\n'). */
int  output_append(output_t *o, const char *line, size_t len);
/* Ends the gzip member, writes and fsyncs.  0, or -1 (errno kept). */
int  output_commit(output_t *o);
void output_close(output_t *o);

/* fsync the directory that holds path (after a rename). */
int  fsync_dir_of(const char *path);
/* Writes data to path atomically: temp file, fsync, rename, fsync dir. */
int  write_file_atomic(const char *path, const void *data, size_t len);

/* Staged rewrites (--ordered, --retry-failed): the new content is written to
 * PATH + suffix, fsynced, then renamed over PATH.
 *   staged_commit         rename + fsync of the directory; 0 or -1
 *   staged_finish_pending the rename a crash left undone: 1 done, 0 none
 *                         pending, -1 error (idempotent)
 *   staged_discard        removes a stale staging file; 0 or -1 */
int  staged_commit(const char *tmp, const char *path);
int  staged_finish_pending(const char *path, const char *suffix);
int  staged_discard(const char *path, const char *suffix);

/* Test hook: when LLMBATCH_TEST_KILL_AT equals name (e.g. "reorder:2"),
 * the process kills itself with SIGKILL there, as kill -9 would, so tests
 * can crash at each step of a multi-step protocol deterministically. */
void test_kill_point(const char *name);

#endif
