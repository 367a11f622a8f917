/*
 * test_headers: raw header lines -> lower-cased, trimmed name/value pairs
 * (formats/headers.c).
 */
#include "tap.h"
#include <stdlib.h>
#include "headers.h"

static int add(headers_t *h, const char *line)
{
    return headers_add_line(h, line, strlen(line));
}

/* A header block past HEADERS_MAX_BYTES or HEADERS_MAX_COUNT is refused
 * as too large (not as out of memory), whatever mix of lines makes it so,
 * and a new block (headers_clear) starts from zero; curl's own refusals
 * of long headers are named the same way. */
static void test_too_large_header_block_is_named(void)
{
    headers_t h;
    char *big = malloc(64 << 10);
    size_t i, n = 0;
    int rc = 0;
    char line[32];

    CHECK(big != NULL);
    if (!big)
        return;
    headers_init(&h);
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', (64 << 10) - 9);
    memcpy(big + (64 << 10) - 2, "\r\n", 2);
    /* 64 KiB lines: the fifth passes 256 KiB */
    for (i = 0; i < 10 && (rc = headers_add_line(&h, big, 64 << 10)) == 0; i++)
        n++;
    CHECK_INT(rc, HEADERS_TOO_LARGE);
    CHECK_INT(n, 4);
    CHECK(h.bytes <= HEADERS_MAX_BYTES);
    headers_clear(&h);
    CHECK_INT(h.bytes, 0);
    CHECK_INT(headers_add_line(&h, big, 64 << 10), 0);
    headers_clear(&h);
    /* many small lines: the count bound */
    for (i = 0; i < HEADERS_MAX_COUNT + 5; i++) {
        snprintf(line, sizeof line, "H%zu: v\r\n", i);
        rc = add(&h, line);
        if (rc)
            break;
    }
    CHECK_INT(rc, HEADERS_TOO_LARGE);
    CHECK_INT(i, HEADERS_MAX_COUNT);
    CHECK_INT(headers_add(&h, "x", "y"), HEADERS_TOO_LARGE);
    headers_release(&h);
    free(big);

    CHECK_STR(headers_too_large_reason("Rejected 150000 bytes header (max is 102400)!"),
              "response header too large");
    CHECK_STR(headers_too_large_reason("Too large response headers: 310000 > 307200"),
              "response header too large");
    CHECK(headers_too_large_reason("Could not resolve host: x") == NULL);
    CHECK(headers_too_large_reason(NULL) == NULL);
}

int main(void)
{
    headers_t h;
    size_t i;
    char nbuf[32];

    headers_init(&h);
    CHECK(headers_get(&h, "x") == NULL);
    CHECK_INT(add(&h, "HTTP/1.1 200 OK\r\n"), 0);
    CHECK_INT(add(&h, "HTTP/2 429\r\n"), 0);
    CHECK_INT(add(&h, "\r\n"), 0);
    CHECK_INT(h.n, 0);
    CHECK_INT(add(&h, "Content-Type: application/json\r\n"), 0);
    CHECK_INT(add(&h, "X-RateLimit-Remaining-Requests:   59 \t\r\n"), 0);
    CHECK_INT(add(&h, "Retry-After:5"), 0);
    CHECK_INT(add(&h, "Empty:\r\n"), 0);
    CHECK_INT(add(&h, "Date: Wed, 21 Oct 2015 07:28:00 GMT\r\n"), 0);
    CHECK_INT(add(&h, ": no name\r\n"), 0);
    CHECK_INT(h.n, 5);
    CHECK_STR(h.v[0].name, "content-type");
    CHECK_STR(headers_get(&h, "content-type"), "application/json");
    CHECK_STR(headers_get(&h, "Content-Type"), "application/json");
    CHECK_STR(headers_get(&h, "x-ratelimit-remaining-requests"), "59");
    CHECK_STR(headers_get(&h, "retry-after"), "5");
    CHECK_STR(headers_get(&h, "empty"), "");
    CHECK_STR(headers_get(&h, "date"), "Wed, 21 Oct 2015 07:28:00 GMT");
    CHECK(headers_get(&h, "content") == NULL);

    /* the length bounds the line: no NUL needed */
    CHECK_INT(headers_add_line(&h, "A: 1B: 2", 4), 0);
    CHECK_STR(headers_get(&h, "a"), "1");

    /* duplicates: the last one wins */
    CHECK_INT(headers_add(&h, "Request-Id", " req_1 "), 0);
    CHECK_INT(headers_add(&h, "request-id", "req_2"), 0);
    CHECK_STR(headers_get(&h, "request-id"), "req_2");

    /* clear keeps storage, then reuse; many entries grow the array */
    headers_clear(&h);
    CHECK_INT(h.n, 0);
    CHECK(headers_get(&h, "request-id") == NULL);
    for (i = 0; i < 100; i++) {
        snprintf(nbuf, sizeof(nbuf), "H%zu: v", i);
        CHECK_INT(add(&h, nbuf), 0);
    }
    CHECK_INT(h.n, 100);
    CHECK_STR(headers_get(&h, "h99"), "v");
    headers_release(&h);
    CHECK_INT(h.n, 0);
    CHECK(h.v == NULL);
    headers_release(&h);    /* idempotent */
    test_too_large_header_block_is_named();
    return tap_done();
}
