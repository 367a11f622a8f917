/* lineid: custom_ids of input lines as the run assigns them, and the ids
 * of output lines, on the awkward cases (escapes, duplicate keys, escaped
 * keys, non-string ids, bare lines, not JSON). */
#include "lineid.h"
#include "tap.h"

#include <string.h>

static const char *in_id(const char *line, uint64_t lineno)
{
    static buf_t b = BUF_INIT;

    if (lineid_input(line, strlen(line), lineno, &b) != 0)
        return "(oom)";
    return b.data;
}

static const char *out_ids(const char *line, buf_t *bid, char *err, size_t errlen)
{
    static buf_t c = BUF_INIT;

    err[0] = '\0';
    if (lineid_output(line, strlen(line), &c, bid, err, errlen) != 0)
        return NULL;
    return c.len ? c.data : "";
}

int main(void)
{
    buf_t bid = BUF_INIT;
    char err[128];

    CHECK_STR(in_id("{\"custom_id\":\"a-1\",\"url\":\"/v1/chat/completions\",\"body\":{}}", 3), "a-1");
    CHECK_STR(in_id("{\"custom_id\":\"b\",\"params\":{}}", 3), "b");
    CHECK_STR(in_id("{\"prompt\":\"hi\"}", 12), "line-12");
    CHECK_STR(in_id("{\"model\":\"m\",\"custom_id\":\"bare-id\"}", 4), "bare-id");
    CHECK_STR(in_id("{\"custom_id\":\"\"}", 5), "line-5");
    CHECK_STR(in_id("{\"custom_id\":42}", 6), "line-6");
    CHECK_STR(in_id("not json", 7), "line-7");
    CHECK_STR(in_id("[\"custom_id\"]", 8), "line-8");
    CHECK_STR(in_id("{\"custom_id\":\"caf\\u00e9\"}", 9), "caf\xc3\xa9");
    CHECK_STR(in_id("{\"custom_id\":\"x\",\"custom_id\":\"y\"}", 9), "y");   /* jansson: last */
    CHECK_STR(in_id("{\"cust\\u006fm_id\":\"esc-key\"}", 9), "esc-key");
    CHECK_STR(in_id("  {\"custom_id\" : \"spaced\" }  ", 9), "spaced");

    CHECK_STR(out_ids("{\"id\":\"batch_req_1\",\"custom_id\":\"c\",\"response\":null}", &bid,
                      err, sizeof err), "c");
    CHECK_STR(bid.data, "batch_req_1");
    CHECK_STR(out_ids("{\"custom_id\":\"c\\\"q\",\"id\":7}", &bid, err, sizeof err), "c\"q");
    CHECK_INT(bid.len, 0);
    CHECK(out_ids("{\"id\":\"x\"}", &bid, err, sizeof err) == NULL);
    CHECK_STR(err, "no \"custom_id\"");
    CHECK(out_ids("{\"custom_id\":null}", &bid, err, sizeof err) == NULL);
    CHECK_STR(err, "\"custom_id\" is not a string");
    CHECK(out_ids("{\"custom_id\":\"a\"", &bid, err, sizeof err) == NULL);
    CHECK_STR(err, "not valid JSON");
    CHECK(out_ids("[1]", &bid, err, sizeof err) == NULL);
    CHECK_STR(err, "not a JSON object");
    CHECK_STR(out_ids("{\"custom_id\":\"\"}", &bid, err, sizeof err), "");

    CHECK(lineid_blank("", 0));
    CHECK(lineid_blank(" \t ", 3));
    CHECK(!lineid_blank(" x", 2));
    CHECK(lineid_hash("a", 1) != lineid_hash("b", 1));
    CHECK(lineid_hash("abc", 3) == lineid_hash("abc", 3));
    buf_release(&bid);
    return tap_done();
}
