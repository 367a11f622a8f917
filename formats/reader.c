/*
 * reader: streaming JSONL reader over a plain or gzip file (see reader.h).
 *
 * Owns the file descriptor, one raw input buffer, one inflate output buffer
 * (gzip only) and the current line.  Bytes flow raw -> (inflate) -> "src"
 * window -> line; the only buffer that grows is the line, and it never grows
 * past READER_MAX_LINE + 1: a longer line is skipped byte by byte until its
 * newline and reported as READER_TOOLONG.
 *
 * gzip: the first two bytes decide (1f 8b).  Members are inflated with
 * windowBits 15+16; at each member end the next bytes must start another
 * member (inflateReset) or be the end of the file.  EOF inside a member is
 * "truncated gzip stream"; other garbage is an error too, except zero bytes
 * to the end of the file after the last member (tar-style padding, which
 * gzip -t accepts).
 */
#include "reader.h"
#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Read (and inflate) in pieces of 64 KiB: a few hundred reads a second at
 * the fastest runs, and 192 KiB less resident than 256 KiB pieces. */
#define READER_BUFSZ ((size_t)64 << 10)
#define READER_FP_CHUNK ((size_t)1 << 20)

struct reader {
    int            fd;
    int            gz;            /* 1: gzip input */
    int            zinit;         /* inflateInit2 done */
    int            file_eof;      /* read() returned 0 */
    int            member_done;   /* inflate reached Z_STREAM_END */
    int            failed;        /* a READER_ERR was returned */
    int            pending_err;   /* error to report once src is drained */
    int            at_eof;
    int            zero_pad;      /* gzip: in the zero bytes after the last member */
    uint64_t       jobs;          /* jobs returned by reader_next_job */
    uint64_t       raw_read;      /* bytes read from the file */
    uint64_t       lineno;
    z_stream       zs;
    unsigned char *in;            /* raw bytes; plain input: the src window */
    size_t         in_len;        /* plain: valid bytes in `in` */
    unsigned char *out;           /* inflated bytes (gzip) */
    const unsigned char *src;     /* bytes not yet split into lines */
    size_t         src_len;
    size_t         src_pos;
    buf_t          line;
    int            pinned;        /* every read checks the file is still `pin` */
    reader_pin_t   pin;
    char           err[256];
};

static void reader_set_err(reader_t *r, const char *msg)
{
    snprintf(r->err, sizeof r->err, "%s", msg);
}

static int pin_matches(const reader_pin_t *p, const struct stat *st)
{
    return p->dev == (uint64_t)st->st_dev && p->ino == (uint64_t)st->st_ino &&
           p->size == (uint64_t)st->st_size &&
           p->mtime_s == (int64_t)st->st_mtim.tv_sec &&
           p->mtime_ns == (long)st->st_mtim.tv_nsec &&
           p->ctime_s == (int64_t)st->st_ctim.tv_sec &&
           p->ctime_ns == (long)st->st_ctim.tv_nsec;
}

void reader_pin_from_stat(reader_pin_t *p, const struct stat *st)
{
    memset(p, 0, sizeof(*p));
    p->dev = (uint64_t)st->st_dev;
    p->ino = (uint64_t)st->st_ino;
    p->size = (uint64_t)st->st_size;
    p->mtime_s = (int64_t)st->st_mtim.tv_sec;
    p->mtime_ns = (long)st->st_mtim.tv_nsec;
    p->ctime_s = (int64_t)st->st_ctim.tv_sec;
    p->ctime_ns = (long)st->st_ctim.tv_nsec;
}

/* 0 if the pinned file is unchanged (or nothing is pinned); else -1 with
 * the message in r->err. */
static int reader_check_pin(reader_t *r)
{
    struct stat st;

    if (!r->pinned)
        return 0;
    if (fstat(r->fd, &st) != 0) {
        snprintf(r->err, sizeof r->err, "fstat: %s", strerror(errno));
        return -1;
    }
    if (pin_matches(&r->pin, &st))
        return 0;
    snprintf(r->err, sizeof r->err, "the input file changed while the run was reading it "
             "(%s); stopped before sending any line that was not validated (the jobs not sent "
             "stay pending: restore the file to resume, or start over with --fresh)",
             (uint64_t)st.st_size > r->pin.size ? "it grew"
             : (uint64_t)st.st_size < r->pin.size ? "it shrank"
             : "it was rewritten in place");
    return -1;
}

/* read() that retries EINTR and fills as much of [p, p+n) as one call gives.
 * -1: read error (errno); -2: the pinned file changed (message in r->err).
 * The pin is checked after the read: a change that lands later cannot have
 * affected the bytes just read. */
static ssize_t reader_read_fd(reader_t *r, void *p, size_t n)
{
    ssize_t got;

    do {
        got = read(r->fd, p, n);
    } while (got < 0 && errno == EINTR);
    if (got >= 0 && reader_check_pin(r) != 0)
        return -2;
    return got;
}

/* gzip: keeps the unread input (moved to the front) and reads more after it. */
static int reader_read_raw(reader_t *r)
{
    size_t keep = r->zs.avail_in;
    ssize_t got;

    if (keep > 0 && r->zs.next_in != r->in)
        memmove(r->in, r->zs.next_in, keep);
    r->zs.next_in = r->in;
    if (keep >= READER_BUFSZ || r->file_eof)
        return 0;
    got = reader_read_fd(r, r->in + keep, READER_BUFSZ - keep);
    if (got < 0) {
        if (got == -1)
            snprintf(r->err, sizeof r->err, "read error: %s", strerror(errno));
        return -1;
    }
    if (got == 0)
        r->file_eof = 1;
    r->raw_read += (uint64_t)got;
    r->zs.avail_in = (uInt)(keep + (size_t)got);
    return 0;
}

/* Next window of plain bytes: 1 data, 0 end of file, -1 error. */
static int reader_fill_plain(reader_t *r)
{
    ssize_t got;

    if (r->file_eof)
        return 0;
    got = reader_read_fd(r, r->in, READER_BUFSZ);
    if (got < 0) {
        if (got == -1)
            snprintf(r->err, sizeof r->err, "read error: %s", strerror(errno));
        return -1;
    }
    if (got == 0) {
        r->file_eof = 1;
        return 0;
    }
    r->raw_read += (uint64_t)got;
    r->in_len = (size_t)got;
    r->src = r->in;
    r->src_len = (size_t)got;
    r->src_pos = 0;
    return 1;
}

/* Next window of inflated bytes: 1 data, 0 clean end, -1 error. */
static int reader_fill_gz(reader_t *r)
{
    int ret;
    size_t produced;

    if (r->pending_err)
        return -1;
    for (;;) {
        if (r->zs.avail_in == 0 && !r->file_eof) {
            if (reader_read_raw(r) < 0)
                return -1;
            continue;
        }
        if (r->member_done) {
            if (r->zs.avail_in == 0)
                return 0;              /* file_eof here: clean end */
            if (r->zero_pad || r->zs.next_in[0] == 0) {
                /* tar-style zero padding after the last member, as gzip -t
                 * accepts it: only zero bytes may follow, to the end */
                for (size_t i = 0; i < r->zs.avail_in; i++) {
                    if (r->zs.next_in[i] != 0) {
                        reader_set_err(r, "trailing garbage after gzip member");
                        return -1;
                    }
                }
                r->zero_pad = 1;
                r->zs.next_in += r->zs.avail_in;
                r->zs.avail_in = 0;
                continue;
            }
            if (r->zs.avail_in < 2 && !r->file_eof) {
                if (reader_read_raw(r) < 0)
                    return -1;
                continue;
            }
            if (r->zs.avail_in < 2 || r->zs.next_in[0] != 0x1f ||
                r->zs.next_in[1] != 0x8b) {
                reader_set_err(r, "trailing garbage after gzip member");
                return -1;
            }
            if (inflateReset(&r->zs) != Z_OK) {
                reader_set_err(r, "inflateReset failed");
                return -1;
            }
            r->member_done = 0;
            continue;
        }
        if (r->zs.avail_in == 0 && r->file_eof) {
            reader_set_err(r, "truncated gzip stream");
            return -1;
        }
        r->zs.next_out = r->out;
        r->zs.avail_out = (uInt)READER_BUFSZ;
        ret = inflate(&r->zs, Z_NO_FLUSH);
        produced = READER_BUFSZ - r->zs.avail_out;
        switch (ret) {
        case Z_STREAM_END:
            r->member_done = 1;
            break;
        case Z_OK:
            break;
        case Z_BUF_ERROR:
            /* no progress possible: only when input is exhausted */
            if (r->zs.avail_in == 0)
                break;
            /* fall through */
        default:
            if (ret == Z_NEED_DICT)
                reader_set_err(r, "corrupt gzip stream: needs a preset dictionary");
            else
                snprintf(r->err, sizeof r->err, "corrupt gzip stream: %s",
                         r->zs.msg ? r->zs.msg : zError(ret));
            if (produced == 0)
                return -1;
            r->pending_err = 1;    /* hand out what was inflated first */
            break;
        }
        if (produced > 0) {
            r->src = r->out;
            r->src_len = produced;
            r->src_pos = 0;
            return 1;
        }
    }
}

reader_t *reader_open(const char *path, char *err, size_t errlen)
{
    reader_t *r = NULL;
    struct stat st;
    ssize_t got;

    if (strcmp(path, "-") == 0) {
        snprintf(err, errlen, "-: reading stdin is not supported here");
        return NULL;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    r->fd = -1;
    buf_init(&r->line);
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto err;
    }
    if (fstat(r->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory", path);
        goto err;
    }
    r->in = malloc(READER_BUFSZ);
    if (!r->in) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto err;
    }
    /* Sniff: read until we have 2 bytes or EOF. */
    while (r->in_len < 2) {
        got = reader_read_fd(r, r->in + r->in_len, READER_BUFSZ - r->in_len);
        if (got < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto err;
        }
        if (got == 0) {
            r->file_eof = 1;
            break;
        }
        r->in_len += (size_t)got;
        r->raw_read += (uint64_t)got;
    }
    if (r->in_len >= 2 && r->in[0] == 0x1f && r->in[1] == 0x8b) {
        r->gz = 1;
        r->out = malloc(READER_BUFSZ);
        if (!r->out) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto err;
        }
        if (inflateInit2(&r->zs, 15 + 16) != Z_OK) {
            snprintf(err, errlen, "%s: inflateInit2 failed", path);
            goto err;
        }
        r->zinit = 1;
        r->zs.next_in = r->in;
        r->zs.avail_in = (uInt)r->in_len;
    } else {
        r->src = r->in;
        r->src_len = r->in_len;
        r->src_pos = 0;
    }
    return r;

err:
    reader_free(r);
    return NULL;
}

static int reader_fill(reader_t *r)
{
    return r->gz ? reader_fill_gz(r) : reader_fill_plain(r);
}

int reader_next(reader_t *r, const char **line, size_t *len, uint64_t *lineno)
{
    int skipping = 0, rc;
    const unsigned char *p, *nl;
    size_t chunk, avail;

    if (r->failed)
        return READER_ERR;
    if (r->at_eof)
        return READER_EOF;
    buf_reset(&r->line);
    for (;;) {
        if (r->src_pos >= r->src_len) {
            rc = reader_fill(r);
            if (rc < 0) {
                r->failed = 1;
                return READER_ERR;
            }
            if (rc == 0) {
                r->at_eof = 1;
                if (r->line.len == 0 && !skipping)
                    return READER_EOF;
                break;                    /* last line had no "\n" */
            }
        }
        p = r->src + r->src_pos;
        avail = r->src_len - r->src_pos;
        nl = memchr(p, '\n', avail);
        chunk = nl ? (size_t)(nl - p) : avail;
        if (!skipping) {
            /* MAX_LINE + 1 leaves room for a "\r" that is stripped below */
            if (chunk > READER_MAX_LINE + 1 - r->line.len) {
                skipping = 1;
                buf_reset(&r->line);
            } else if (buf_append(&r->line, p, chunk) < 0) {
                reader_set_err(r, "out of memory");
                r->failed = 1;
                return READER_ERR;
            }
        }
        r->src_pos += chunk;
        if (nl) {
            r->src_pos++;
            break;
        }
    }
    r->lineno++;
    *lineno = r->lineno;
    if (!skipping && r->line.len > 0 && r->line.data[r->line.len - 1] == '\r') {
        r->line.len--;
        r->line.data[r->line.len] = '\0';
    }
    if (skipping || r->line.len > READER_MAX_LINE) {
        buf_reset(&r->line);
        return READER_TOOLONG;
    }
    *line = r->line.data ? r->line.data : "";
    *len = r->line.len;
    return READER_LINE;
}

int reader_is_blank(const char *line, size_t len)
{
    size_t k;

    for (k = 0; k < len && (line[k] == ' ' || line[k] == '\t'); k++)
        ;
    return k == len;
}

int reader_next_job(reader_t *r, const char **line, size_t *len, uint64_t *lineno)
{
    int got;

    for (;;) {
        got = reader_next(r, line, len, lineno);
        if (got == READER_LINE && reader_is_blank(*line, *len))
            continue;
        if (got == READER_LINE || got == READER_TOOLONG)
            r->jobs++;
        return got;
    }
}

uint64_t reader_lines(const reader_t *r)
{
    return r->lineno;
}

uint64_t reader_jobs(const reader_t *r)
{
    return r->jobs;
}

const char *reader_error(const reader_t *r)
{
    return r->err;
}

int reader_is_gzip(const reader_t *r)
{
    return r->gz;
}

uint64_t reader_raw_offset(const reader_t *r)
{
    if (r->gz)
        return r->raw_read - r->zs.avail_in;
    return r->raw_read - (r->src_len - r->src_pos);
}

int reader_pin(reader_t *r, const reader_pin_t *pin)
{
    r->pin = *pin;
    r->pinned = 1;
    return reader_check_pin(r);
}

void reader_free(reader_t *r)
{
    if (!r)
        return;
    if (r->zinit)
        inflateEnd(&r->zs);
    if (r->fd >= 0)
        close(r->fd);
    free(r->in);
    free(r->out);
    buf_release(&r->line);
    free(r);
}

int input_fingerprint(const char *path, uint64_t *size, uint64_t *hash,
                      char *err, size_t errlen)
{
    unsigned char *chunk = NULL;
    uLong crc = crc32(0L, Z_NULL, 0), adl = adler32(0L, Z_NULL, 0);
    uint64_t total = 0;
    ssize_t got;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    chunk = malloc(READER_FP_CHUNK);
    if (!chunk) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        do {
            got = read(fd, chunk, READER_FP_CHUNK);
        } while (got < 0 && errno == EINTR);
        if (got < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        crc = crc32(crc, chunk, (uInt)got);
        adl = adler32(adl, chunk, (uInt)got);
        total += (uint64_t)got;
    }
    *size = total;
    *hash = ((uint64_t)(crc & 0xffffffffUL) << 32) | (uint64_t)(adl & 0xffffffffUL);
    rc = 0;

out:
    free(chunk);
    close(fd);
    return rc;
}
