/* Unit tests for formats/jsonscan: the validator agrees with jansson on a
 * table of valid and invalid texts, and member lookup finds the right span. */
#include <string.h>
#include <jansson.h>
#include "tap.h"
#include "jsonscan.h"

static const char *valid[] = {
    "{}", "[]", "0", "-0", "1.5e-3", "\"x\"", "true", "false", "null", " {\"a\" : [1, 2, {\"b\":null}] } ",
    "{\"a\":\"\\u00e9\\n\\t\\\\\\/\\\"\"}", "\"\\ud83d\\ude00\"", "\"caf\xc3\xa9\"", "\"\xf0\x9f\x98\x80\"",
    "[[[[[]]]]]", "{\"a\":{},\"b\":[]}", "123456789", "-1E+2", "[1,\"2\",true,null]",
    "{\"id\":\"chatcmpl-1\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}",
    "[9223372036854775807]", "[-9223372036854775808]", "[1e-400]", "[1.7e308]",
    "\"\\u0000\"", "{\"a\":\"x\\u0000y\"}",
};
static const char *invalid[] = {
    "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\"}", "{a:1}", "[01]", "[1.]", "[.5]",
    "[1e]", "[-]", "tru", "nul", "\"abc", "\"a\x01\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"",
    "\"\\udc00\"", "\"\xc3\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
    "\"\xf4\x90\x80\x80\"", "\"\xff\"", "{} {}", "[1] x", "{\"a\":1 \"b\":2}", "[1 2]",
    "{\"a\":[}", "[\"a\":1]", "+1", "NaN", "[1,,2]", "{,}", "{\"a\"::1}",
};

static void test_validate(void)
{
    for (size_t i = 0; i < sizeof(valid) / sizeof(*valid); i++) {
        json_t *j = json_loads(valid[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        CHECK(j != NULL);
        CHECK_INT(jsonscan_validate(valid[i], strlen(valid[i])), 0);
        CHECK_INT(jsonscan_validate_rfc(valid[i], strlen(valid[i])), 0);
        json_decref(j);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++) {
        json_t *j = json_loadb(invalid[i], strlen(invalid[i]), JSON_DECODE_ANY | JSON_ALLOW_NUL,
                               NULL);
        CHECK(j == NULL);
        CHECK_INT(jsonscan_validate_rfc(invalid[i], strlen(invalid[i])), -1);
        if (jsonscan_validate(invalid[i], strlen(invalid[i])) != -1)
            fprintf(stderr, "accepted invalid #%zu: %s\n", i, invalid[i]);
        CHECK_INT(jsonscan_validate(invalid[i], strlen(invalid[i])), -1);
        json_decref(j);
    }
    /* NUL inside the text */
    CHECK_INT(jsonscan_validate("[1]\0", 4), -1);
    CHECK_INT(jsonscan_validate("\"a\0b\"", 5), -1);
    /* depth limit */
    {
        char deep[2 * JSONSCAN_MAX_DEPTH + 4];
        size_t n = 0;
        for (int i = 0; i < JSONSCAN_MAX_DEPTH + 1; i++) deep[n++] = '[';
        for (int i = 0; i < JSONSCAN_MAX_DEPTH + 1; i++) deep[n++] = ']';
        CHECK_INT(jsonscan_validate(deep, n), -1);
        CHECK_INT(jsonscan_validate(deep + 1, n - 2), 0);
    }
}

/* Valid JSON that jansson cannot hold: numbers wider than 64 bits or a
 * double.  jsonscan_validate refuses them (the fast paths hand such text
 * to jansson), jsonscan_validate_rfc accepts them (replies are valid). */
static void test_validate_rfc_takes_numbers_of_any_size(void)
{
    static const char *const big[] = {
        "[9223372036854775808]", "[-9223372036854775809]",
        "{\"id\":123456789012345678901234567890}", "[1e400]", "[-1.5e99999]",
        "{\"a\":{\"b\":[0,184467440737095516160]}}",
    };
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
        CHECK_INT(jsonscan_validate(big[i], strlen(big[i])), -1);
        CHECK_INT(jsonscan_validate_rfc(big[i], strlen(big[i])), 0);
    }
    /* the grammar still holds for big numbers */
    CHECK_INT(jsonscan_validate_rfc("[0123456789012345678901]", 24), -1);
    CHECK_INT(jsonscan_validate_rfc("[99999999999999999999.]", 23), -1);
}

/* \u0000 in an object key is valid JSON that jansson refuses even with
 * JSON_ALLOW_NUL: jsonscan_validate refuses it too (the fast paths would
 * otherwise take a line the full parser rejects), jsonscan_validate_rfc
 * takes it.  In a value string both take it. */
static void test_nul_in_a_key(void)
{
    static const char *const keys[] = {
        "{\"a\\u0000b\":1}", "{\"x\":1,\"\\u0000\":2}", "[{\"k\":{\"\\u0000\":[]}}]",
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        CHECK(json_loads(keys[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) == NULL);
        CHECK_INT(jsonscan_validate(keys[i], strlen(keys[i])), -1);
        CHECK_INT(jsonscan_validate_rfc(keys[i], strlen(keys[i])), 0);
    }
    CHECK_INT(jsonscan_validate("{\"a\":\"\\u0000\"}", 14), 0);
}

/* jsonscan_compact drops the whitespace between tokens, never inside
 * strings, and the result is the same JSON on one line. */
static void test_compact(void)
{
    static const char *const in[] = {
        " {\n  \"a b\" : [ 1 ,\t2 ],\r\n  \"c\":\"x \\\" y\\\\\" , \"d\" : { } }\n",
        "[ 1 ]", "\"  \"", "{}",
    };
    static const char *const want[] = {
        "{\"a b\":[1,2],\"c\":\"x \\\" y\\\\\",\"d\":{}}",
        "[1]", "\"  \"", "{}",
    };
    char out[256];
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        size_t n;
        CHECK_INT(jsonscan_validate(in[i], strlen(in[i])), 0);
        n = jsonscan_compact(in[i], strlen(in[i]), out);
        out[n] = '\0';
        CHECK_STR(out, want[i]);
        CHECK(memchr(out, '\n', n) == NULL);
    }
}

static void test_member(void)
{
    const char *t = "{ \"custom_id\" : \"job-1\", \"body\": {\"model\":\"gpt\",\"n\":2,"
                    "\"messages\":[{\"role\":\"user\",\"content\":\"a}\\\"b\"}]},"
                    "\"url\":\"/v1/chat/completions\", \"x\":-3 }";
    jspan_t o = { t, strlen(t) }, v, s, body;
    uint64_t u;

    CHECK_INT(jsonscan_validate(t, strlen(t)), 0);
    CHECK_INT(jsonscan_member(o, "custom_id", &v), 1);
    CHECK_INT(jsonscan_plain_string(v, &s), 1);
    CHECK(s.n == 5 && memcmp(s.p, "job-1", 5) == 0);
    CHECK_INT(jsonscan_member(o, "url", &v), 1);
    CHECK_INT(jsonscan_plain_string(v, &s), 1);
    CHECK(s.n == 20 && memcmp(s.p, "/v1/chat/completions", 20) == 0);
    CHECK_INT(jsonscan_member(o, "body", &body), 1);
    CHECK(body.p[0] == '{' && body.p[body.n - 1] == '}');
    CHECK_INT(jsonscan_validate(body.p, body.n), 0);
    CHECK_INT(jsonscan_member(body, "n", &v), 1);
    CHECK_INT(jsonscan_uint(v, &u), 1);
    CHECK_INT(u, 2);
    CHECK_INT(jsonscan_member(body, "messages", &v), 1);
    CHECK_INT(jsonscan_string_bytes(v), 4 + 4);   /* values: user, a}"b (decoded) */
    CHECK_INT(jsonscan_member(o, "missing", &v), 0);
    {
        jspan_t e = { "{\"esc\\u0041\":1,\"a\":2}", 0 };
        e.n = strlen(e.p);
        CHECK_INT(jsonscan_member(e, "a", &v), -1);        /* an escaped key: can't say */
        CHECK_INT(jsonscan_member(e, "escA", &v), -1);
    }
    {
        jspan_t dup = { "{\"a\":1,\"b\":2,\"a\":3}", 0 };
        const char *keys[] = { "a", "b" };
        jspan_t vals[2];
        unsigned f;
        dup.n = strlen(dup.p);
        CHECK_INT(jsonscan_members(dup, keys, 2, vals, &f), -2);
        CHECK_INT(jsonscan_members(o, keys, 2, vals, &f), 0);    /* neither in o */
    }
    {
        jspan_t o2 = { "{\"a\":\"b\",\"x\":-3}", 0 };
        o2.n = strlen(o2.p);
        CHECK_INT(jsonscan_member(o2, "missing", &v), 0);
        CHECK_INT(jsonscan_member(o2, "x", &v), 1);
        CHECK_INT(jsonscan_uint(v, &u), 0);                /* negative */
    }
    {
        jspan_t arr = { "[1]", 3 };
        CHECK_INT(jsonscan_member(arr, "a", &v), -1);
    }
    {
        jspan_t e = { "\"a\\nb\"", 6 };
        CHECK_INT(jsonscan_plain_string(e, &s), 0);
    }
    {
        jspan_t f = { "1.0", 3 }, z = { "01", 2 }, big = { "1234567890123456789", 19 };
        CHECK_INT(jsonscan_uint(f, &u), 0);
        CHECK_INT(jsonscan_uint(z, &u), 0);
        CHECK_INT(jsonscan_uint(big, &u), 0);
    }
    {
        jspan_t esc = { "[\"\\u00e9\\n\\ud83d\\ude00\"]", 0 };
        esc.n = strlen(esc.p);
        CHECK_INT(jsonscan_string_bytes(esc), 2 + 1 + 4);
    }
    {
        jspan_t empty = { "{ }", 3 };
        CHECK_INT(jsonscan_member(empty, "a", &v), 0);
    }
}

int main(void)
{
    test_validate();
    test_validate_rfc_takes_numbers_of_any_size();
    test_nul_in_a_key();
    test_compact();
    test_member();
    return tap_done();
}
