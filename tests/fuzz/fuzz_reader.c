/*
 * fuzz_reader: the input as a JSONL file, plain or gzip (reader.h), read
 * with reader_open / reader_next until EOF or error.
 *
 * Invariants: every line is at most READER_MAX_LINE bytes, NUL-terminated
 * and without "\n"; line numbers go 1, 2, 3, ...; EOF and ERR are sticky;
 * gzip is detected by the magic bytes only.  For a plain input the lines
 * are exactly the input split at "\n" (one trailing "\r" removed), so the
 * reader is checked byte for byte.
 */
#include "fuzz_util.h"

#include "reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_path(data, size);
    char err[512];
    reader_t *r;
    const char *line;
    size_t len, pos = 0;
    uint64_t lineno, want = 0;
    int rc, gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;

    if (!path)
        return 0;
    r = reader_open(path, err, sizeof err);
    FUZZ_CHECK(r != NULL);
    FUZZ_CHECK(reader_is_gzip(r) == gz);
    for (;;) {
        line = NULL;
        len = 0;
        rc = reader_next(r, &line, &len, &lineno);
        if (rc == READER_EOF || rc == READER_ERR)
            break;
        want++;
        FUZZ_CHECK(lineno == want);
        if (rc == READER_TOOLONG)
            continue;
        FUZZ_CHECK(rc == READER_LINE);
        FUZZ_CHECK(line != NULL);
        FUZZ_CHECK(len <= READER_MAX_LINE);
        FUZZ_CHECK(line[len] == '\0');
        FUZZ_CHECK(memchr(line, '\n', len) == NULL);
        FUZZ_CHECK(reader_raw_offset(r) <= size);
        if (!gz) {
            /* the line is the next input segment */
            const uint8_t *seg = data + pos;
            const uint8_t *nl = memchr(seg, '\n', size - pos);
            size_t slen = nl ? (size_t)(nl - seg) : size - pos;
            size_t cut = slen > 0 && seg[slen - 1] == '\r' ? slen - 1 : slen;

            FUZZ_CHECK(pos < size);
            FUZZ_CHECK(len == cut);
            FUZZ_CHECK(len == 0 || memcmp(line, seg, len) == 0);
            pos += slen + (nl != NULL);
        }
    }
    if (rc == READER_EOF) {
        FUZZ_CHECK(reader_next(r, &line, &len, &lineno) == READER_EOF);
        if (!gz)
            FUZZ_CHECK(pos == size);
    } else {
        FUZZ_CHECK(gz);   /* a plain file read from memory never fails */
        FUZZ_CHECK(reader_error(r)[0] != '\0');
        FUZZ_CHECK(reader_next(r, &line, &len, &lineno) == READER_ERR);
    }
    reader_free(r);
    return 0;
}
