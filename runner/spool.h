/*
 * spool: an input that is not a regular file ("-" for stdin, a FIFO, a
 * process substitution such as /dev/fd/63, a character device) can be read
 * only once, but a run reads its input three times (fingerprint, validation,
 * sending).  spool copies it into an unlinked temporary file first: the copy
 * has no name in any directory, so a run that is killed leaves nothing
 * behind, and the kernel frees it with the last descriptor.
 */
#ifndef LLMB_SPOOL_H
#define LLMB_SPOOL_H
#include <stddef.h>
#include "reader.h"

typedef struct spool {
    int  fd;          /* -1: none; the open, unlinked copy */
    char path[64];    /* "/proc/self/fd/N": a path reader_open() can open */
} spool_t;

#define SPOOL_INIT { -1, "" }

/* 1 if input must be spooled: "-" or anything that is not a regular file
 * (stat follows symlinks, so a symlink to a regular file is not spooled).
 * 0 for a regular file or a path that does not exist (reader_open reports
 * that). */
int  spool_needed(const char *input);

/* Copies all of input ("-" = stdin) into an unlinked temporary file in
 * $TMPDIR (or /tmp) and sets s->path to a name for it.  0, or -1 with a
 * message naming input in err (nothing is left on disk either way). */
int  spool_open(spool_t *s, const char *input, char *err, size_t errlen);

/* Closes the copy (its space is freed).  Safe on an unopened spool. */
void spool_close(spool_t *s);

/* The identity of the input file as it is now (stat).  0, or -1 with a
 * message in err. */
int  input_pin(const char *path, reader_pin_t *pin, char *err, size_t errlen);

/* 0 if path still has the identity *pin; else -1 with "INPUT changed while
 * it was being read" in err (for the check around the fingerprint). */
int  input_pin_check(const char *path, const reader_pin_t *pin, char *err, size_t errlen);

#endif
