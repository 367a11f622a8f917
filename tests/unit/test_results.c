/* Unit tests for formats/results.c: output and error lines. */
#include "results.h"
#include "tap.h"

#include <ctype.h>
#include <stdlib.h>

static json_t *parse_line(const buf_t *b)
{
    json_error_t e;

    if (b->len == 0 || b->data[b->len - 1] != '\n')
        return NULL;
    if (memchr(b->data, '\n', b->len - 1) != NULL)   /* exactly one newline */
        return NULL;
    return json_loadb(b->data, b->len - 1, 0, &e);
}

static int is_id(const char *s)
{
    size_t i;

    if (!s || strncmp(s, "batch_req_", 10) != 0 || strlen(s) != 34)
        return 0;
    for (i = 10; i < 34; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return 0;
    return 1;
}

static void test_success(void)
{
    buf_t b = BUF_INIT, b2 = BUF_INIT;
    json_error_t e;
    json_t *body = json_loads("{\"id\":\"chatcmpl-1\",\"choices\":[{\"message\":"
                              "{\"content\":\"line1\\nline2\"}}],\"score\":0.7}", 0, &e);
    json_t *l, *resp;
    char id1[64];

    CHECK(body != NULL);
    CHECK_INT(results_success_line(&b, 42, 0, "req-1", 200, "req_abc", body, 0), 0);
    l = parse_line(&b);
    CHECK(l != NULL);
    CHECK(is_id(json_string_value(json_object_get(l, "id"))));
    snprintf(id1, sizeof id1, "%s", json_string_value(json_object_get(l, "id")));
    CHECK_STR(json_string_value(json_object_get(l, "custom_id")), "req-1");
    resp = json_object_get(l, "response");
    CHECK_INT(json_integer_value(json_object_get(resp, "status_code")), 200);
    CHECK_STR(json_string_value(json_object_get(resp, "request_id")), "req_abc");
    CHECK(json_equal(json_object_get(resp, "body"), body));
    CHECK(json_is_null(json_object_get(l, "error")));
    CHECK(json_object_get(l, "llmbatch") == NULL);
    json_decref(l);
    /* exact layout, short reals */
    CHECK(strstr(b.data, "\"custom_id\":\"req-1\",\"response\":{\"status_code\":200,"
                         "\"request_id\":\"req_abc\",\"body\":{\"id\":\"chatcmpl-1\","
                         "\"choices\":[{\"message\":{\"content\":\"line1\\nline2\"}}],"
                         "\"score\":0.7}},\"error\":null}\n") != NULL);
    CHECK(strncmp(b.data, "{\"id\":\"batch_req_", 17) == 0);

    /* same seed+ordinal -> same id; other ordinal or seed -> other id */
    CHECK_INT(results_success_line(&b2, 42, 0, "x", 200, NULL, NULL, 0), 0);
    l = parse_line(&b2);
    CHECK_STR(json_string_value(json_object_get(l, "id")), id1);
    CHECK(json_is_null(json_object_get(json_object_get(l, "response"), "request_id")));
    CHECK(json_is_null(json_object_get(json_object_get(l, "response"), "body")));
    json_decref(l);
    buf_reset(&b2);
    results_success_line(&b2, 42, 1, "x", 200, NULL, NULL, 0);
    l = parse_line(&b2);
    CHECK(is_id(json_string_value(json_object_get(l, "id"))));
    CHECK(strcmp(json_string_value(json_object_get(l, "id")), id1) != 0);
    json_decref(l);
    buf_reset(&b2);
    results_success_line(&b2, 43, 0, "x", 200, NULL, NULL, 0);
    l = parse_line(&b2);
    CHECK(strcmp(json_string_value(json_object_get(l, "id")), id1) != 0);
    json_decref(l);

    /* cache marker; odd custom_id escaped; lines append */
    buf_reset(&b2);
    CHECK_INT(results_success_line(&b2, 1, 2, "q\"\n\x01", 200, "r", body, 1), 0);
    CHECK(strstr(b2.data, "\"custom_id\":\"q\\\"\\n\\u0001\"") != NULL);
    CHECK(strstr(b2.data, ",\"error\":null,\"llmbatch\":{\"cache\":\"hit\"}}\n") != NULL);
    l = parse_line(&b2);
    CHECK_STR(json_string_value(json_object_get(json_object_get(l, "llmbatch"), "cache")), "hit");
    json_decref(l);
    CHECK_INT(results_success_line(&b2, 1, 3, "z", 200, "r", body, 0), 0);
    CHECK_INT(b2.data[b2.len - 1], '\n');
    {
        char *nl = strchr(b2.data, '\n');
        CHECK(nl != NULL && strchr(nl + 1, '\n') == b2.data + b2.len - 1);
    }
    /* ids are distinct over many ordinals */
    {
        char seen[64][35];
        int i, k, dup = 0;
        for (i = 0; i < 64; i++) {
            buf_reset(&b2);
            results_success_line(&b2, 7, (uint64_t)i, "c", 200, NULL, NULL, 0);
            memcpy(seen[i], b2.data + 7, 34);
            seen[i][34] = '\0';
            CHECK(is_id(seen[i]));
            for (k = 0; k < i; k++)
                dup += strcmp(seen[k], seen[i]) == 0;
        }
        CHECK_INT(dup, 0);
    }
    json_decref(body);
    buf_release(&b);
    buf_release(&b2);
}

static void test_error(void)
{
    buf_t b = BUF_INIT;
    json_error_t e;
    json_t *body = json_loads("{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}",
                              0, &e);
    json_t *l, *resp, *er;

    /* no response at all */
    CHECK_INT(results_error_line(&b, 5, 9, "c9", 0, NULL, NULL, NULL, 0,
                                 "timeout", "no response after 3 attempts"), 0);
    CHECK(strstr(b.data, ",\"custom_id\":\"c9\",\"response\":null,\"error\":{\"code\":\"timeout\","
                         "\"message\":\"no response after 3 attempts\"}}\n") != NULL);
    l = parse_line(&b);
    CHECK(l != NULL);
    CHECK(is_id(json_string_value(json_object_get(l, "id"))));
    CHECK(json_is_null(json_object_get(l, "response")));
    json_decref(l);

    /* JSON body */
    buf_reset(&b);
    CHECK_INT(results_error_line(&b, 5, 9, "c9", 400, "req_1", body, "ignored", 7,
                                 "invalid_request_error", "bad"), 0);
    l = parse_line(&b);
    resp = json_object_get(l, "response");
    CHECK_INT(json_integer_value(json_object_get(resp, "status_code")), 400);
    CHECK_STR(json_string_value(json_object_get(resp, "request_id")), "req_1");
    CHECK(json_equal(json_object_get(resp, "body"), body));
    er = json_object_get(l, "error");
    CHECK_STR(json_string_value(json_object_get(er, "code")), "invalid_request_error");
    CHECK_STR(json_string_value(json_object_get(er, "message")), "bad");
    json_decref(l);

    /* raw (non-JSON) body becomes a string; invalid UTF-8 replaced */
    buf_reset(&b);
    CHECK_INT(results_error_line(&b, 5, 9, "c9", 502, NULL, NULL,
                                 "<html>\nBad \xff gateway</html>", 27, "http_502", "Bad gateway"), 0);
    CHECK(strstr(b.data, "\"response\":{\"status_code\":502,\"request_id\":null,"
                         "\"body\":\"<html>\\nBad \xef\xbf\xbd gateway</html>\"}") != NULL);
    l = parse_line(&b);
    CHECK(l != NULL);
    json_decref(l);

    /* status without a body */
    buf_reset(&b);
    CHECK_INT(results_error_line(&b, 5, 9, "c9", 500, NULL, NULL, NULL, 0, "http_500", NULL), 0);
    CHECK(strstr(b.data, "\"response\":{\"status_code\":500,\"request_id\":null,\"body\":null},"
                         "\"error\":{\"code\":\"http_500\",\"message\":null}}\n") != NULL);
    l = parse_line(&b);
    CHECK(l != NULL);
    json_decref(l);

    /* a non-object JSON body (string) is encoded too */
    buf_reset(&b);
    {
        json_t *s = json_string("just text");
        CHECK_INT(results_error_line(&b, 5, 9, "c9", 200, NULL, s, NULL, 0, "bad_response", "m"), 0);
        CHECK(strstr(b.data, "\"body\":\"just text\"}") != NULL);
        json_decref(s);
    }
    /* ids of success and error lines for one job agree */
    {
        buf_t s = BUF_INIT;
        results_success_line(&s, 5, 9, "c9", 200, NULL, NULL, 0);
        CHECK(memcmp(s.data, b.data, 41) == 0);
        buf_release(&s);
    }
    json_decref(body);
    buf_release(&b);
}

/* A reply jansson cannot hold (no tree: an integer wider than 64 bits) is
 * embedded as its own bytes: as they are on one line, without the line
 * breaks between tokens when pretty-printed, and the line stays one line. */
static void test_success_without_a_tree_keeps_the_bytes(void)
{
    static const char one[] = "{\"id\":\"x\",\"seed\":123456789012345678901234567890}";
    static const char pretty[] = "{\n  \"id\": \"x y\",\n  \"seed\": 123456789012345678901234567890,"
                                 "\r\n  \"t\": \"a\\u0000b\"\n}\n";
    buf_t b = BUF_INIT;

    CHECK_INT(results_success_raw(&b, 1, 0, "a", 200, NULL, one, sizeof one - 1, NULL, 0), 0);
    CHECK(strstr(b.data, ",\"body\":{\"id\":\"x\",\"seed\":123456789012345678901234567890}},") != NULL);
    CHECK(memchr(b.data, '\n', b.len - 1) == NULL);
    buf_reset(&b);
    CHECK_INT(results_success_raw(&b, 1, 0, "a", 200, NULL, pretty, sizeof pretty - 1, NULL, 0), 0);
    CHECK(strstr(b.data, ",\"body\":{\"id\":\"x y\",\"seed\":123456789012345678901234567890,"
                         "\"t\":\"a\\u0000b\"}},") != NULL);
    CHECK(memchr(b.data, '\n', b.len - 1) == NULL);
    CHECK(b.data[b.len - 1] == '\n');
    buf_reset(&b);
    /* not JSON and no tree: null, never the raw text */
    CHECK_INT(results_success_raw(&b, 1, 0, "a", 200, NULL, "{\n\"a\":", 6, NULL, 0), 0);
    CHECK(strstr(b.data, ",\"body\":null},") != NULL);
    buf_release(&b);
}

/* results_id_ordinal inverts the id for the right seed only */
static void test_id_inverse(void)
{
    static const uint64_t seeds[] = { 0, 1, 0xdeadbeefcafef00dULL, UINT64_MAX };
    int ok = 1, foreign = 0;

    for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
        for (uint64_t ord = 0; ord < 3000; ord += (ord < 100 ? 1 : 37)) {
            buf_t b = BUF_INIT;
            uint64_t got = UINT64_MAX;
            if (results_error_line(&b, seeds[k], ord, "x", 0, NULL, NULL, NULL, 0, "c", "m") != 0) {
                ok = 0;
                continue;
            }
            /* {"id":"batch_req_...", */
            if (!results_id_ordinal(b.data + 7, RESULTS_ID_LEN, seeds[k], &got) || got != ord)
                ok = 0;
            if (results_id_ordinal(b.data + 7, RESULTS_ID_LEN, seeds[k] ^ 1, &got))
                foreign++;
            b.data[7 + RESULTS_ID_LEN - 1] ^= 1;   /* last hex digit changed */
            if (results_id_ordinal(b.data + 7, RESULTS_ID_LEN, seeds[k], &got))
                foreign++;
            buf_release(&b);
        }
    }
    CHECK(ok);
    CHECK_INT(foreign, 0);
    {
        uint64_t got;
        CHECK(!results_id_ordinal("batch_req_0123", 14, 0, &got));
        CHECK(!results_id_ordinal("batch_req_zzzzzzzzzzzzzzzzzzzzzzzz", RESULTS_ID_LEN, 0, &got));
    }
}

int main(void)
{
    test_success();
    test_error();
    test_success_without_a_tree_keeps_the_bytes();
    test_id_inverse();
    return tap_done();
}
