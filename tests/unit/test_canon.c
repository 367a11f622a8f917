/*
 * test_canon: key order and whitespace do not change the canonical form;
 * different values do.  Cases are data: each pair is (a, b, same?).
 */
#include "canon.h"
#include "tap.h"
#include <stdlib.h>

static char *canon_of(const char *s)
{
    buf_t b = BUF_INIT;
    if (canon_json(s, strlen(s), &b) != 0) {
        buf_release(&b);
        return NULL;
    }
    if (!b.data) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

int main(void)
{
    static const struct { const char *in, *want; } exact[] = {
        { "{\"b\":1,\"a\":2}", "{\"a\":2,\"b\":1}" },
        { " { \"model\" : \"gpt-4o\" ,\n\t\"messages\" : [ { \"role\":\"user\", \"content\":\"hi\" } ] } ",
          "{\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}],\"model\":\"gpt-4o\"}" },
        { "{\"z\":{\"y\":1,\"x\":[3,2,1]},\"a\":null}", "{\"a\":null,\"z\":{\"x\":[3,2,1],\"y\":1}}" },
        { "{\"B\":1,\"a\":2,\"_\":3}", "{\"B\":1,\"_\":3,\"a\":2}" },     /* bytewise */
        { "{\"s\":\"\\u00e9\"}", "{\"s\":\"\\u00E9\"}" },
        { "{\"s\":\"\xc3\xa9\"}", "{\"s\":\"\\u00E9\"}" },              /* raw UTF-8 == escape */
        { "{\"s\":\"\\/\\t\\u0041\"}", "{\"s\":\"/\\tA\"}" },
        { "{\"n\":9007199254740993}", "{\"n\":9007199254740993}" },    /* integers exact */
        { "{\"t\":0.7,\"u\":1e2,\"v\":-0}", NULL },
        { "[true,false,null]", "[true,false,null]" },
        { "\"x\"", "\"x\"" },
    };
    static const struct { const char *a, *b; int same; } pairs[] = {
        { "{\"a\":1,\"b\":[1,2]}", "{ \"b\" : [ 1 , 2 ] , \"a\" : 1 }", 1 },
        { "{\"a\":{\"c\":1,\"d\":2}}", "{\"a\":{\"d\":2,\"c\":1}}", 1 },
        { "{\"t\":0.7}", "{\"t\":7e-1}", 1 },
        { "{\"t\":0.7}", "{\"t\":0.70000000000000001}", 1 },     /* same double */
        { "{\"a\":1,\"b\":[1,2]}", "{\"a\":1,\"b\":[2,1]}", 0 }, /* array order matters */
        { "{\"a\":1}", "{\"a\":2}", 0 },
        { "{\"a\":1}", "{\"a\":1.0}", 0 },
        { "{\"a\":\"x\"}", "{\"a\":\"x \"}", 0 },
        { "{\"t\":0.7}", "{\"t\":0.71}", 0 },
        { "{\"a\":1}", "{\"A\":1}", 0 },
        { "{\"a\":null}", "{}", 0 },
    };
    static const char *bad[] = {
        "", "{", "{\"a\":1,}", "{\"a\":1} x", "nope", "{\"a\":\"\xff\"}", "[1,2",
    };
    size_t i;

    for (i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        char *c = canon_of(exact[i].in);
        CHECK(c != NULL);
        if (c && exact[i].want)
            CHECK_STR(c, exact[i].want);
        /* canonical form is a fixed point */
        if (c) {
            char *c2 = canon_of(c);
            CHECK_STR(c2, c);
            free(c2);
        }
        free(c);
    }
    for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char *a = canon_of(pairs[i].a), *b = canon_of(pairs[i].b);
        CHECK(a && b);
        if (a && b) {
            if (pairs[i].same) {
                CHECK_STR(a, b);
            } else {
                if (strcmp(a, b) == 0)
                    fprintf(stderr, "  same canonical form: %s vs %s\n", pairs[i].a,
                            pairs[i].b);
                CHECK(strcmp(a, b) != 0);        /* different values stay different */
            }
        }
        free(a);
        free(b);
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf_t b = BUF_INIT;
        CHECK_INT(buf_puts(&b, "keep"), 0);
        CHECK_INT(canon_json(bad[i], strlen(bad[i]), &b), -1);
        CHECK_STR(b.data, "keep");          /* rolled back, not half-written */
        buf_release(&b);
    }
    CHECK_INT(canon_json(NULL, 0, &(buf_t)BUF_INIT), -1);

    /* appends, does not replace */
    {
        buf_t b = BUF_INIT;
        CHECK_INT(buf_puts(&b, "x"), 0);
        CHECK_INT(canon_json("{\"b\":1, \"a\":0}", 14, &b), 0);
        CHECK_STR(b.data, "x{\"a\":0,\"b\":1}");
        buf_release(&b);
    }
    return tap_done();
}
