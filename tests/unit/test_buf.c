/* Unit tests for formats/buf.c: growth, printf, consume, detach and JSON
 * string escaping (RFC 8259, invalid UTF-8 -> U+FFFD). */
#include "buf.h"
#include "tap.h"

#include <stdlib.h>

static void test_basic(void)
{
    buf_t b = BUF_INIT;
    char *p;
    size_t n = 99;
    int i;

    CHECK_INT(b.len, 0);
    CHECK_INT(buf_puts(&b, "hello"), 0);
    CHECK_INT(buf_putc(&b, ' '), 0);
    CHECK_INT(buf_printf(&b, "%d-%s", 42, "x"), 0);
    CHECK_STR(b.data, "hello 42-x");
    CHECK_INT(b.len, 10);
    CHECK(b.cap > b.len);
    buf_consume(&b, 6);
    CHECK_STR(b.data, "42-x");
    CHECK_INT(b.len, 4);
    buf_consume(&b, 100);
    CHECK_STR(b.data, "");
    CHECK_INT(b.len, 0);
    for (i = 0; i < 10000; i++)
        CHECK_INT(buf_append(&b, "abcdefgh", 8), 0);
    CHECK_INT(b.len, 80000);
    CHECK(b.data[80000] == '\0');
    CHECK(memcmp(b.data + 79992, "abcdefgh", 8) == 0);
    buf_reset(&b);
    CHECK_INT(b.len, 0);
    CHECK_STR(b.data, "");
    CHECK_INT(buf_append(&b, "a\0b", 3), 0);
    CHECK_INT(b.len, 3);
    p = buf_detach(&b, &n);
    CHECK(p != NULL);
    CHECK_INT(n, 3);
    CHECK(p && memcmp(p, "a\0b", 4) == 0);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    free(p);
    p = buf_detach(&b, &n);          /* empty buffer: an empty string */
    CHECK(p != NULL && p[0] == '\0');
    CHECK_INT(n, 0);
    free(p);
    CHECK_INT(buf_reserve(&b, (size_t)-1), -1);   /* overflow refused */
    CHECK_INT(b.len, 0);
    buf_release(&b);
    CHECK(b.data == NULL);
}

static const struct {
    const char *in;
    size_t      len;
    const char *want;
} json_cases[] = {
    { "", 0, "\"\"" },
    { "plain", 5, "\"plain\"" },
    { "q\"b\\s/", 6, "\"q\\\"b\\\\s/\"" },
    { "\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"" },
    { "\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"" },
    { "a\0b", 3, "\"a\\u0000b\"" },
    { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
      "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
    { "\x80", 1, "\"\xef\xbf\xbd\"" },                         /* lone continuation */
    { "a\xc3", 2, "\"a\xef\xbf\xbd\"" },                       /* truncated at end */
    { "\xe2\x82z", 3, "\"\xef\xbf\xbdz\"" },                    /* truncated, one FFFD */
    { "\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"" },          /* overlong */
    { "\xe0\x80\xaf", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" }, /* overlong 3 */
    { "\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" }, /* surrogate */
    { "\xf4\x90\x80\x80", 4,
      "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },   /* > U+10FFFF */
    { "\xf5x\xff", 3, "\"\xef\xbf\xbdx\xef\xbf\xbd\"" },
    { "\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\"" },           /* U+10FFFF ok */
    { "\xed\x9f\xbf", 3, "\"\xed\x9f\xbf\"" },                    /* U+D7FF ok */
};

static void test_json_str(void)
{
    buf_t b = BUF_INIT;
    size_t i;

    for (i = 0; i < sizeof json_cases / sizeof json_cases[0]; i++) {
        buf_reset(&b);
        CHECK_INT(buf_json_str(&b, json_cases[i].in, json_cases[i].len), 0);
        CHECK_STR(b.data, json_cases[i].want);
        CHECK_INT(b.len, strlen(json_cases[i].want));
    }
    /* appends after existing content */
    buf_reset(&b);
    buf_puts(&b, "x=");
    buf_json_str(&b, "y", 1);
    CHECK_STR(b.data, "x=\"y\"");
    buf_release(&b);
}

int main(void)
{
    test_basic();
    test_json_str();
    return tap_done();
}
