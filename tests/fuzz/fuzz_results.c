/*
 * fuzz_results: results_success_line / results_error_line (results.h) with
 * fields cut from the input at NUL bytes:
 *   byte 0: flags (bit 0 from_cache, bit 1 no request id, bit 2 status 0,
 *           bit 3 NULL code/message)
 *   then custom_id \0 request_id \0 code \0 message \0 raw body (the rest)
 * The raw body is also parsed as JSON (any value); when it parses, both
 * line kinds embed the parsed value, else the error line embeds the text.
 *
 * Invariants: each call appends exactly one line that ends in a single
 * "\n", has no other newline, and parses as a JSON object whose custom_id
 * matches (for ASCII ids), whose embedded body equals the parsed one and
 * whose raw body string equals the input (for ASCII bodies).
 */
#include "fuzz_util.h"

#include <jansson.h>

#include "buf.h"
#include "results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_ascii(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

/* The line appended after `old` in b: one "\n" at the end and nowhere else;
 * returns it parsed. */
static json_t *check_line(const buf_t *b, size_t old)
{
    const char *line = b->data + old;
    size_t len = b->len - old;
    json_error_t jerr;
    json_t *v;

    FUZZ_CHECK(len >= 2);
    FUZZ_CHECK(line[len - 1] == '\n');
    FUZZ_CHECK(memchr(line, '\n', len - 1) == NULL);
    FUZZ_CHECK(memchr(line, '\r', len) == NULL);
    FUZZ_CHECK(b->data[b->len] == '\0');
    v = json_loadb(line, len - 1, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        fprintf(stderr, "not JSON (%s): %.*s\n", jerr.text, (int)len, line);
    FUZZ_CHECK(json_is_object(v));
    FUZZ_CHECK(json_is_string(json_object_get(v, "id")));
    return v;
}

static void check_id(const json_t *v, const char *custom_id)
{
    json_t *id = json_object_get(v, "custom_id");

    FUZZ_CHECK(json_is_string(id));
    if (is_ascii(custom_id, strlen(custom_id)))
        FUZZ_CHECK(strcmp(json_string_value(id), custom_id) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    buf_t b = BUF_INIT;
    const uint8_t *p = data;
    size_t n = size, old;
    unsigned flags;
    char *custom_id, *request_id, *code, *message;
    const char *raw;
    size_t raw_len;
    json_t *body, *v, *resp, *got;
    long status;
    int from_cache;

    if (size < 1)
        return 0;
    flags = data[0];
    p++;
    n--;
    custom_id = fuzz_next_field(&p, &n, 0);
    request_id = fuzz_next_field(&p, &n, 0);
    code = fuzz_next_field(&p, &n, 0);
    message = fuzz_next_field(&p, &n, 0);
    raw = (const char *)p;
    raw_len = n;
    from_cache = flags & 1;
    status = (flags & 4) ? 0 : 200 + (long)(flags >> 4) * 25;
    body = raw_len ? json_loadb(raw, raw_len, JSON_DECODE_ANY, NULL) : NULL;

    /* something already in the buffer must be kept */
    FUZZ_CHECK(buf_puts(&b, "prev\n") == 0);

    if (body) {
        old = b.len;
        FUZZ_CHECK(results_success_line(&b, 42, size, custom_id, status,
                                        (flags & 2) ? NULL : request_id,
                                        body, from_cache) == 0);
        FUZZ_CHECK(memcmp(b.data, "prev\n", 5) == 0);
        v = check_line(&b, old);
        check_id(v, custom_id);
        resp = json_object_get(v, "response");
        got = json_object_get(resp, "body");
        if (!json_equal(got, body)) {
            char *a = json_dumps(body, JSON_ENCODE_ANY);
            fprintf(stderr, "body changed: %s\n  line: %s", a ? a : "?",
                    b.data + old);
            free(a);
        }
        FUZZ_CHECK(json_equal(got, body));
        FUZZ_CHECK(json_is_null(json_object_get(v, "error")));
        FUZZ_CHECK(!from_cache == !json_object_get(v, "llmbatch"));
        json_decref(v);
    }

    old = b.len;
    FUZZ_CHECK(results_error_line(&b, 42, size, custom_id, status,
                                  (flags & 2) ? NULL : request_id, body,
                                  raw_len ? raw : NULL, raw_len,
                                  (flags & 8) ? NULL : code,
                                  (flags & 8) ? NULL : message) == 0);
    v = check_line(&b, old);
    check_id(v, custom_id);
    resp = json_object_get(v, "response");
    if (status == 0 && !body && !raw_len) {
        FUZZ_CHECK(json_is_null(resp));
    } else {
        FUZZ_CHECK(json_is_object(resp));
        got = json_object_get(resp, "body");
        if (body)
            FUZZ_CHECK(json_equal(got, body));
        else if (raw_len && is_ascii(raw, raw_len))
            FUZZ_CHECK(json_is_string(got) &&
                       json_string_length(got) == raw_len &&
                       memcmp(json_string_value(got), raw, raw_len) == 0);
    }
    FUZZ_CHECK(json_is_object(json_object_get(v, "error")));
    json_decref(v);

    json_decref(body);
    buf_release(&b);
    free(custom_id);
    free(request_id);
    free(code);
    free(message);
    return 0;
}
