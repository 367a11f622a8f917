/* Unit tests for formats/reader.c: plain and gzip JSONL streams, member
 * boundaries, truncation and corruption, CRLF, blank lines, over-long lines,
 * and input_fingerprint.  Files are written under /tmp by the test itself. */
#include "reader.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[64];

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static void write_file(const char *name, const void *p, size_t n)
{
    char path[256];
    FILE *f;

    path_of(path, sizeof path, name);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(p, 1, n, f) == n);
    fclose(f);
}

/* Gzip-compresses p into a malloc'd buffer (one member). */
static unsigned char *gz_bytes(const void *p, size_t n, size_t *outlen)
{
    z_stream zs;
    size_t cap = compressBound((uLong)n) + 64;
    unsigned char *out = malloc(cap);

    memset(&zs, 0, sizeof zs);
    if (!out || deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(out);
        return NULL;
    }
    zs.next_in = (unsigned char *)p;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&zs);
        free(out);
        return NULL;
    }
    *outlen = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

/* Reads the whole file; lines are joined as "N:text|" and TOOLONG as "N:!|".
 * Returns the final rc (READER_EOF or READER_ERR); *err gets the message. */
static int slurp(const char *name, char *out, size_t outlen, int *gz, char *err, size_t errlen)
{
    char path[256], oerr[256];
    reader_t *r;
    const char *line;
    size_t len, used = 0;
    uint64_t ln;
    int rc;

    out[0] = '\0';
    err[0] = '\0';
    path_of(path, sizeof path, name);
    r = reader_open(path, oerr, sizeof oerr);
    CHECK(r != NULL);
    if (!r)
        return -2;
    if (gz)
        *gz = reader_is_gzip(r);
    while ((rc = reader_next(r, &line, &len, &ln)) > 0) {
        int w;
        if (rc == READER_LINE) {
            CHECK(line[len] == '\0');
            w = snprintf(out + used, outlen - used, "%llu:%.*s|",
                         (unsigned long long)ln, (int)len, line);
        } else {
            w = snprintf(out + used, outlen - used, "%llu:!|", (unsigned long long)ln);
        }
        if (w > 0 && (size_t)w < outlen - used)
            used += (size_t)w;
    }
    if (rc == READER_ERR)
        snprintf(err, errlen, "%s", reader_error(r));
    CHECK(reader_next(r, &line, &len, &ln) == rc);   /* sticky */
    reader_free(r);
    return rc;
}

static void test_plain(void)
{
    static const char data[] = "{\"a\":1}\r\n\n  \nb\r\r\nlast";
    char out[512], err[256], path[256];
    int gz = -1;
    reader_t *r;
    const char *line;
    size_t len;
    uint64_t ln;

    write_file("plain.jsonl", data, sizeof data - 1);
    CHECK_INT(slurp("plain.jsonl", out, sizeof out, &gz, err, sizeof err), READER_EOF);
    CHECK_INT(gz, 0);
    CHECK_STR(out, "1:{\"a\":1}|2:|3:  |4:b\r|5:last|");

    write_file("empty.jsonl", "", 0);
    CHECK_INT(slurp("empty.jsonl", out, sizeof out, &gz, err, sizeof err), READER_EOF);
    CHECK_STR(out, "");
    write_file("one.jsonl", "x", 1);
    CHECK_INT(slurp("one.jsonl", out, sizeof out, &gz, err, sizeof err), READER_EOF);
    CHECK_STR(out, "1:x|");
    write_file("nl.jsonl", "\n\n", 2);
    CHECK_INT(slurp("nl.jsonl", out, sizeof out, &gz, err, sizeof err), READER_EOF);
    CHECK_STR(out, "1:|2:|");
    write_file("gzmagic1.jsonl", "\x1f", 1);      /* one magic byte: plain */
    CHECK_INT(slurp("gzmagic1.jsonl", out, sizeof out, &gz, err, sizeof err), READER_EOF);
    CHECK_INT(gz, 0);

    /* NUL inside a line is returned and counted; raw offset advances */
    write_file("nul.jsonl", "a\0b\nc\n", 6);
    path_of(path, sizeof path, "nul.jsonl");
    r = reader_open(path, err, sizeof err);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT(reader_raw_offset(r), 0);
        CHECK_INT(reader_next(r, &line, &len, &ln), READER_LINE);
        CHECK_INT(len, 3);
        CHECK(memcmp(line, "a\0b", 3) == 0);
        CHECK_INT(reader_raw_offset(r), 4);
        CHECK_INT(reader_next(r, &line, &len, &ln), READER_LINE);
        CHECK_STR(line, "c");
        CHECK_INT(ln, 2);
        CHECK_INT(reader_raw_offset(r), 6);
        CHECK_INT(reader_next(r, &line, &len, &ln), READER_EOF);
        CHECK_INT(reader_next(r, &line, &len, &ln), READER_EOF);
        reader_free(r);
    }

    /* open errors */
    path_of(path, sizeof path, "missing.jsonl");
    CHECK(reader_open(path, err, sizeof err) == NULL);
    CHECK(strstr(err, "missing.jsonl") != NULL);
    CHECK(reader_open("-", err, sizeof err) == NULL);
    CHECK(reader_open(tmpdir, err, sizeof err) == NULL);
    CHECK(strstr(err, "directory") != NULL);
}

static void test_gzip(void)
{
    static const char a[] = "{\"n\":1}\r\n\n{\"n\":2}\npart";
    static const char b[] = "ial\n{\"n\":3}\n";
    unsigned char *ga, *gb, *cat;
    size_t la, lb;
    char out[512], err[256], path[256];
    int gz = -1;
    gzFile g;
    reader_t *r;
    const char *line;
    size_t len;
    uint64_t ln;

    /* single member via gzopen/gzwrite */
    path_of(path, sizeof path, "single.jsonl.gz");
    g = gzopen(path, "wb");
    CHECK(g != NULL);
    if (g) {
        gzwrite(g, a, sizeof a - 1);
        gzwrite(g, b, sizeof b - 1);
        gzclose(g);
    }
    CHECK_INT(slurp("single.jsonl.gz", out, sizeof out, &gz, err, sizeof err), READER_EOF);
    CHECK_INT(gz, 1);
    CHECK_STR(out, "1:{\"n\":1}|2:|3:{\"n\":2}|4:partial|5:{\"n\":3}|");

    /* two members, the boundary inside a line (cat a.gz b.gz) */
    ga = gz_bytes(a, sizeof a - 1, &la);
    gb = gz_bytes(b, sizeof b - 1, &lb);
    CHECK(ga && gb);
    if (!ga || !gb)
        return;
    cat = malloc(la + lb + 16);
    memcpy(cat, ga, la);
    memcpy(cat + la, gb, lb);
    write_file("multi.gz", cat, la + lb);
    CHECK_INT(slurp("multi.gz", out, sizeof out, &gz, err, sizeof err), READER_EOF);
    CHECK_INT(gz, 1);
    CHECK_STR(out, "1:{\"n\":1}|2:|3:{\"n\":2}|4:partial|5:{\"n\":3}|");
    path_of(path, sizeof path, "multi.gz");
    r = reader_open(path, err, sizeof err);
    if (r) {
        while (reader_next(r, &line, &len, &ln) > 0)
            ;
        CHECK_INT(reader_raw_offset(r), la + lb);
        reader_free(r);
    }

    /* an empty member in the middle is fine */
    {
        size_t le;
        unsigned char *ge = gz_bytes("", 0, &le), *c3 = malloc(la + le + lb);
        memcpy(c3, ga, la);
        memcpy(c3 + la, ge, le);
        memcpy(c3 + la + le, gb, lb);
        write_file("multi3.gz", c3, la + le + lb);
        CHECK_INT(slurp("multi3.gz", out, sizeof out, &gz, err, sizeof err), READER_EOF);
        CHECK_STR(out, "1:{\"n\":1}|2:|3:{\"n\":2}|4:partial|5:{\"n\":3}|");
        free(ge);
        free(c3);
    }

    /* truncated: the last member loses its trailer */
    write_file("trunc.gz", cat, la + lb - 3);
    CHECK_INT(slurp("trunc.gz", out, sizeof out, &gz, err, sizeof err), READER_ERR);
    CHECK_STR(err, "truncated gzip stream");
    /* truncated right after the header of the second member */
    write_file("trunc2.gz", cat, la + 10);
    CHECK_INT(slurp("trunc2.gz", out, sizeof out, &gz, err, sizeof err), READER_ERR);
    CHECK_STR(err, "truncated gzip stream");
    write_file("trunc3.gz", cat, 2);              /* only the magic */
    CHECK_INT(slurp("trunc3.gz", out, sizeof out, &gz, err, sizeof err), READER_ERR);
    CHECK_STR(err, "truncated gzip stream");

    /* trailing garbage after a member */
    memcpy(cat + la + lb, "garbage\n", 8);
    write_file("garbage.gz", cat, la + lb + 8);
    CHECK_INT(slurp("garbage.gz", out, sizeof out, &gz, err, sizeof err), READER_ERR);
    CHECK_STR(err, "trailing garbage after gzip member");
    write_file("garbage1.gz", cat, la + lb + 1);  /* a single trailing byte */
    CHECK_INT(slurp("garbage1.gz", out, sizeof out, &gz, err, sizeof err), READER_ERR);
    CHECK_STR(err, "trailing garbage after gzip member");

    /* corrupt: CRC of the first member */
    memcpy(cat, ga, la);
    cat[la - 8] ^= 0xff;
    write_file("badcrc.gz", cat, la + lb);
    CHECK_INT(slurp("badcrc.gz", out, sizeof out, &gz, err, sizeof err), READER_ERR);
    CHECK_STR(err, "corrupt gzip stream: incorrect data check");
    /* corrupt: bad block type in the deflate data */
    memcpy(cat, ga, la);
    cat[10] = 0x07;                               /* BFINAL=1, BTYPE=11 (reserved) */
    write_file("badblock.gz", cat, la + lb);
    CHECK_INT(slurp("badblock.gz", out, sizeof out, &gz, err, sizeof err), READER_ERR);
    CHECK_STR(err, "corrupt gzip stream: invalid block type");
    CHECK_STR(out, "");
    /* corrupt gzip header flags */
    memcpy(cat, ga, la);
    cat[2] = 9;                                   /* unknown compression method */
    write_file("badhdr.gz", cat, la + lb);
    CHECK_INT(slurp("badhdr.gz", out, sizeof out, &gz, err, sizeof err), READER_ERR);
    CHECK(strncmp(err, "corrupt gzip stream: ", 21) == 0);

    free(cat);
    free(ga);
    free(gb);
}

static void test_long_lines(void)
{
    size_t big = READER_MAX_LINE + 1000, n;
    char *data = malloc(big + 64);
    char out[512], err[256];
    unsigned char *gzd;
    int gz;

    CHECK(data != NULL);
    if (!data)
        return;
    /* first, an over-long line, then a normal one, and an over-long last line */
    n = 0;
    memcpy(data, "first\n", 6);
    n += 6;
    memset(data + n, 'x', big);
    n += big;
    memcpy(data + n, "\nlast\r\n", 7);
    n += 7;
    write_file("long.jsonl", data, n);
    CHECK_INT(slurp("long.jsonl", out, sizeof out, &gz, err, sizeof err), READER_EOF);
    CHECK_STR(out, "1:first|2:!|3:last|");
    write_file("longlast.jsonl", data, n - 7);    /* no final newline */
    CHECK_INT(slurp("longlast.jsonl", out, sizeof out, &gz, err, sizeof err), READER_EOF);
    CHECK_STR(out, "1:first|2:!|");

    gzd = gz_bytes(data, n, &n);
    CHECK(gzd != NULL);
    if (gzd) {
        write_file("long.jsonl.gz", gzd, n);
        CHECK_INT(slurp("long.jsonl.gz", out, sizeof out, &gz, err, sizeof err), READER_EOF);
        CHECK_INT(gz, 1);
        CHECK_STR(out, "1:first|2:!|3:last|");
        free(gzd);
    }

    /* exactly READER_MAX_LINE bytes (plus "\r\n") is still a line; one more is not */
    {
        char path[256];
        reader_t *r;
        const char *line;
        size_t len;
        uint64_t ln;

        memset(data, 'y', READER_MAX_LINE);
        memcpy(data + READER_MAX_LINE, "\r\nz", 3);
        write_file("exact.jsonl", data, READER_MAX_LINE + 3);
        path_of(path, sizeof path, "exact.jsonl");
        r = reader_open(path, err, sizeof err);
        CHECK(r != NULL);
        if (r) {
            CHECK_INT(reader_next(r, &line, &len, &ln), READER_LINE);
            CHECK_INT(len, READER_MAX_LINE);
            CHECK_INT(ln, 1);
            CHECK_INT(reader_next(r, &line, &len, &ln), READER_LINE);
            CHECK_STR(line, "z");
            CHECK_INT(ln, 2);
            reader_free(r);
        }
        data[READER_MAX_LINE] = 'y';
        memcpy(data + READER_MAX_LINE + 1, "\nz", 2);
        write_file("over.jsonl", data, READER_MAX_LINE + 3);
        CHECK_INT(slurp("over.jsonl", out, sizeof out, &gz, err, sizeof err), READER_EOF);
        CHECK_STR(out, "1:!|2:z|");
    }
    free(data);
}

/* Zero bytes after the last gzip member (tar-style padding) are accepted,
 * as gzip -t accepts them, whatever their length (also past one read
 * buffer); anything non-zero after them, or a member after them, is not. */
static void test_gzip_zero_padding(void)
{
    static const char a[] = "{\"n\":1}\n{\"n\":2}\n";
    size_t la, pads[] = { 1, 2, 511, 512, (300u << 10) }, i;
    unsigned char *ga = gz_bytes(a, sizeof a - 1, &la), *buf;
    char out[512], err[256], path[256];
    uint64_t size = 0, hash = 0;
    int gz;

    CHECK(ga != NULL);
    buf = calloc(1, la * 2 + (300u << 10) + 16);
    CHECK(buf != NULL);
    if (!ga || !buf) {
        free(ga);
        free(buf);
        return;
    }
    memcpy(buf, ga, la);
    for (i = 0; i < sizeof pads / sizeof pads[0]; i++) {
        memset(buf + la, 0, pads[i] + 1);
        write_file("pad.gz", buf, la + pads[i]);
        CHECK_INT(slurp("pad.gz", out, sizeof out, &gz, err, sizeof err), READER_EOF);
        CHECK_STR(out, "1:{\"n\":1}|2:{\"n\":2}|");
        CHECK_STR(err, "");
        /* the fingerprint covers the raw bytes, padding included */
        path_of(path, sizeof path, "pad.gz");
        CHECK_INT(input_fingerprint(path, &size, &hash, err, sizeof err), 0);
        CHECK_INT(size, la + pads[i]);
    }
    /* a non-zero byte after the padding is still garbage */
    memset(buf + la, 0, 600);
    buf[la + 599] = 'x';
    write_file("padx.gz", buf, la + 600);
    CHECK_INT(slurp("padx.gz", out, sizeof out, &gz, err, sizeof err), READER_ERR);
    CHECK_STR(err, "trailing garbage after gzip member");
    /* a member after the padding is not read as more data */
    memset(buf + la, 0, 16);
    memcpy(buf + la + 16, ga, la);
    write_file("padm.gz", buf, la * 2 + 16);
    CHECK_INT(slurp("padm.gz", out, sizeof out, &gz, err, sizeof err), READER_ERR);
    CHECK_STR(err, "trailing garbage after gzip member");
    free(ga);
    free(buf);
}

/* reader_next_job: the job rule shared by validation and the run.  Blank
 * lines (spaces/tabs only) are skipped and not numbered; over-long lines
 * are jobs; line numbers still count every line. */
static void test_next_job(void)
{
    size_t big = READER_MAX_LINE + 10, n = 0, len;
    char *data = malloc(big + 64), path[256], err[256];
    const char *want_lines[] = { "{\"a\":1}", NULL, "x \t", "last" };
    const uint64_t want_ln[] = { 2, 4, 7, 9 };
    reader_t *r;
    const char *line;
    uint64_t ln;
    int i, rc;

    CHECK(data != NULL);
    if (!data)
        return;
    memcpy(data + n, "\n{\"a\":1}\n \t \n", 13);
    n += 13;
    memset(data + n, 'y', big);
    n += big;
    memcpy(data + n, "\n\t\n\r\nx \t\n  \r\nlast", 17);
    n += 17;
    write_file("jobs.jsonl", data, n);
    path_of(path, sizeof path, "jobs.jsonl");
    r = reader_open(path, err, sizeof err);
    CHECK(r != NULL);
    if (r) {
        for (i = 0; i < 4; i++) {
            rc = reader_next_job(r, &line, &len, &ln);
            CHECK_INT(rc, want_lines[i] ? READER_LINE : READER_TOOLONG);
            CHECK_INT(ln, want_ln[i]);
            CHECK_INT(reader_jobs(r), i + 1);
            if (want_lines[i] && rc == READER_LINE)
                CHECK_STR(line, want_lines[i]);
        }
        CHECK_INT(reader_next_job(r, &line, &len, &ln), READER_EOF);
        CHECK_INT(reader_jobs(r), 4);
        CHECK_INT(reader_lines(r), 9);
        reader_free(r);
    }
    CHECK(reader_is_blank("", 0));
    CHECK(reader_is_blank(" \t ", 3));
    CHECK(!reader_is_blank(" x", 2));
    CHECK(!reader_is_blank("\r", 1));
    free(data);
}

static void test_fingerprint(void)
{
    char path[256], err[256];
    uint64_t size = 0, hash = 0, size2 = 0, hash2 = 0, want;
    const char *d = "{\"a\":1}\n{\"b\":2}\n";
    size_t dl = strlen(d);

    write_file("fp1", d, dl);
    path_of(path, sizeof path, "fp1");
    CHECK_INT(input_fingerprint(path, &size, &hash, err, sizeof err), 0);
    CHECK_INT(size, dl);
    want = ((uint64_t)crc32(0, (const Bytef *)d, (uInt)dl) << 32) |
           adler32(1, (const Bytef *)d, (uInt)dl);
    CHECK(hash == want);
    write_file("fp2", d, dl);
    path_of(path, sizeof path, "fp2");
    CHECK_INT(input_fingerprint(path, &size2, &hash2, err, sizeof err), 0);
    CHECK(hash2 == hash && size2 == size);
    write_file("fp2", "{\"a\":1}\n{\"b\":3}\n", dl);
    CHECK_INT(input_fingerprint(path, &size2, &hash2, err, sizeof err), 0);
    CHECK(hash2 != hash);
    CHECK_INT(size2, size);
    path_of(path, sizeof path, "nope");
    CHECK_INT(input_fingerprint(path, &size2, &hash2, err, sizeof err), -1);
    CHECK(strstr(err, "nope") != NULL);
    /* larger than one 1 MiB chunk */
    {
        size_t n = (3u << 20) + 17, i;
        unsigned char *big = malloc(n);
        CHECK(big != NULL);
        if (big) {
            for (i = 0; i < n; i++)
                big[i] = (unsigned char)(i * 31u);
            write_file("fpbig", big, n);
            path_of(path, sizeof path, "fpbig");
            CHECK_INT(input_fingerprint(path, &size, &hash, err, sizeof err), 0);
            CHECK_INT(size, n);
            want = ((uint64_t)crc32(0, big, (uInt)n) << 32) | adler32(1, big, (uInt)n);
            CHECK(hash == want);
            free(big);
        }
    }
}

static void cleanup(void)
{
    static const char *const names[] = {
        "plain.jsonl", "empty.jsonl", "one.jsonl", "nl.jsonl", "gzmagic1.jsonl", "nul.jsonl",
        "single.jsonl.gz", "multi.gz", "multi3.gz", "trunc.gz", "trunc2.gz", "trunc3.gz",
        "garbage.gz", "garbage1.gz", "badcrc.gz", "badblock.gz", "badhdr.gz",
        "long.jsonl", "longlast.jsonl", "long.jsonl.gz", "exact.jsonl", "over.jsonl",
        "fp1", "fp2", "fpbig", "pad.gz", "padx.gz", "padm.gz", "jobs.jsonl",
    };
    char path[256];
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        path_of(path, sizeof path, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/llmb_reader_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_plain();
    test_gzip();
    test_long_lines();
    test_gzip_zero_padding();
    test_next_job();
    test_fingerprint();
    cleanup();
    return tap_done();
}
