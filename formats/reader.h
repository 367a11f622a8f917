/*
 * reader: streams the lines of a JSONL file, plain or gzip (detected by the
 * magic bytes 1f 8b, never by name; concatenated gzip members are read as one
 * stream).  Memory is bounded by the longest line (at most READER_MAX_LINE)
 * plus fixed buffers: nothing else of the file is kept.
 *
 * Each line is returned without its "\n" (and without a trailing "\r"),
 * NUL-terminated, valid until the next call.  Line numbers are 1-based and
 * count every line, blank ones included.
 */
#ifndef LLMB_READER_H
#define LLMB_READER_H
#include <stddef.h>
#include <stdint.h>

#define READER_MAX_LINE ((size_t)32 << 20)   /* 32 MiB */

typedef struct reader reader_t;

enum reader_rc {
    READER_EOF     = 0,   /* clean end of input */
    READER_LINE    = 1,   /* *line / *len / *lineno are set */
    READER_TOOLONG = 2,   /* a line over READER_MAX_LINE was skipped whole;
                             *lineno is set, reading can go on */
    READER_ERR     = -1   /* I/O error, truncated or corrupt gzip: see
                             reader_error(); reading cannot go on */
};

/* Opens path for reading ("-" is not accepted: the caller spools stdin).
 * Returns NULL and writes a message naming the file into err on failure. */
reader_t *reader_open(const char *path, char *err, size_t errlen);
int  reader_next(reader_t *r, const char **line, size_t *len, uint64_t *lineno);
/* The identity of a file's content, as fstat shows it. */
typedef struct reader_pin {
    uint64_t dev, ino, size;
    int64_t  mtime_s, ctime_s;
    long     mtime_ns, ctime_ns;
} reader_pin_t;

struct stat;
void reader_pin_from_stat(reader_pin_t *p, const struct stat *st);
/* Pins the file r reads to *pin (taken when it was validated): from now on,
 * every read() is followed by an fstat, and a file that no longer matches
 * (grew, shrank, rewritten: size, mtime, ctime, device, inode) makes
 * reader_next() return READER_ERR, so no byte read after a change is ever
 * returned.  Returns 0, or -1 if it already differs (reader_error() says
 * how). */
int  reader_pin(reader_t *r, const reader_pin_t *pin);

/*
 * The job rule, one copy for the validation pass and the run (the
 * checkpoint's done-bitmap is indexed by it, so both must agree):
 * reader_next, but lines of only spaces and tabs (or empty) are skipped.
 * Every READER_LINE and READER_TOOLONG it returns is one job; jobs are
 * numbered 0, 1, 2, ... in file order (the job's ordinal), so the ordinal
 * of the job just returned is reader_jobs(r) - 1.
 */
int  reader_next_job(reader_t *r, const char **line, size_t *len, uint64_t *lineno);
/* Lines read so far, blank ones included (the last line number). */
uint64_t reader_lines(const reader_t *r);
/* Jobs returned so far by reader_next_job. */
uint64_t reader_jobs(const reader_t *r);
/* 1 if line[0..len) holds only spaces and tabs (or nothing). */
int  reader_is_blank(const char *line, size_t len);
/* Message for the last READER_ERR, e.g. "truncated gzip stream". */
const char *reader_error(const reader_t *r);
int  reader_is_gzip(const reader_t *r);
/* Bytes of the underlying (compressed) file consumed so far. */
uint64_t reader_raw_offset(const reader_t *r);
void reader_free(reader_t *r);

/* Identity of an input file: its size and a CRC-32 of all its raw bytes
 * combined with an Adler-32 (both from zlib) into one 64-bit value.
 * Returns 0, or -1 with a message in err. */
int input_fingerprint(const char *path, uint64_t *size, uint64_t *hash,
                      char *err, size_t errlen);

#endif
