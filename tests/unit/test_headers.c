/*
 * test_headers: raw header lines -> lower-cased, trimmed name/value pairs
 * (formats/headers.c).
 */
#include "tap.h"
#include "headers.h"

static int add(headers_t *h, const char *line)
{
    return headers_add_line(h, line, strlen(line));
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
    return tap_done();
}
