/*
 * fuzz_lineid: lineid_output / lineid_input (lineid.h) and
 * results_id_ordinal (results.h) on arbitrary line bytes.
 *
 * Invariants: nothing crashes; when lineid_output accepts a line, jansson
 * parses it as an object whose "custom_id" string equals what was
 * returned (and "id" likewise when it is a string); lineid_input returns
 * the line's non-empty custom_id when jansson sees one, else "line-7"; an
 * id that results_id_ordinal accepts is reproduced exactly by
 * results_error_line for that ordinal.
 */
#include "fuzz_util.h"

#include <jansson.h>

#include "buf.h"
#include "lineid.h"
#include "results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const buf_t *b, const json_t *s)
{
    return b->len == json_string_length(s) &&
           (b->len == 0 || memcmp(b->data, json_string_value(s), b->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    buf_t cid = BUF_INIT, bid = BUF_INIT, id = BUF_INIT;
    char err[128];
    json_t *root = json_loadb(line, size, JSON_ALLOW_NUL, NULL);   /* as job.c reads lines */
    json_t *jc = json_object_get(root, "custom_id"), *ji = json_object_get(root, "id");
    uint64_t ord;

    if (lineid_output(line, size, &cid, &bid, err, sizeof err) == 0) {
        FUZZ_CHECK(json_is_object(root));
        FUZZ_CHECK(json_is_string(jc) && same(&cid, jc));
        if (json_is_string(ji))
            FUZZ_CHECK(same(&bid, ji));
        else
            FUZZ_CHECK(bid.len == 0);
        if (bid.len && results_id_ordinal(bid.data, bid.len, 42, &ord)) {
            buf_t chk = BUF_INIT;
            FUZZ_CHECK(results_error_line(&chk, 42, ord, "x", 0, NULL, NULL, NULL, 0,
                                          "c", "m") == 0);
            FUZZ_CHECK(chk.len > 7 + RESULTS_ID_LEN &&
                       memcmp(chk.data + 7, bid.data, RESULTS_ID_LEN) == 0);
            buf_release(&chk);
        }
    } else {
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(!(json_is_object(root) && json_is_string(jc)) ||
                   strcmp(err, "out of memory") == 0);
    }
    FUZZ_CHECK(lineid_input(line, size, 7, &id) == 0);
    if (json_is_string(jc) && json_string_length(jc) > 0)
        FUZZ_CHECK(same(&id, jc));
    else
        FUZZ_CHECK(id.len == 6 && memcmp(id.data, "line-7", 6) == 0);
    json_decref(root);
    buf_release(&cid);
    buf_release(&bid);
    buf_release(&id);
    return 0;
}
