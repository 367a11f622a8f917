/*
 * fuzz_jsonscan: differential fuzzing of formats/jsonscan against jansson.
 * The allocation-free validator must agree with jansson (JSON_DECODE_ANY |
 * JSON_ALLOW_NUL), except where jansson takes a NUL byte for the end of the
 * text, which we refuse; jsonscan_validate_rfc accepts all of that and
 * more (numbers of any size), and jsonscan_compact of valid text is the
 * same value on one line.  When the input is
 * a valid object, member lookup must find spans that are themselves valid.
 */
#include <jansson.h>
#include <stdlib.h>
#include "fuzz_util.h"
#include "jsonscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    int ours = jsonscan_validate((const char *)data, size);
    int rfc = jsonscan_validate_rfc((const char *)data, size);

    FUZZ_CHECK(ours != 0 || rfc == 0);

    if (j) {
        /* jansson stops at a NUL byte; we refuse it (RFC 8259 has no NUL) */
        FUZZ_CHECK(ours == 0 || memchr(data, 0, size));
    } else {
        FUZZ_CHECK(ours != 0);
    }
    /* compaction keeps valid JSON valid, on one line, and the same value */
    if (rfc == 0) {
        char *c = malloc(size ? size : 1);
        if (c) {
            size_t n = jsonscan_compact((const char *)data, size, c);
            FUZZ_CHECK(n <= size);
            FUZZ_CHECK(jsonscan_validate_rfc(c, n) == 0);
            FUZZ_CHECK(!memchr(c, '\n', n) && !memchr(c, '\r', n));
            if (j) {
                json_t *jc = json_loadb(c, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
                FUZZ_CHECK(jc != NULL && json_equal(j, jc));
                json_decref(jc);
            }
            free(c);
        }
    }
    if (ours == 0 && json_is_object(j)) {
        jspan_t o = { (const char *)data, size }, v;
        const char *key;
        json_t *val;
        json_object_foreach(j, key, val) {
            if (strchr(key, '\\') || strchr(key, '"'))
                continue;
            if (jsonscan_member(o, key, &v) == 1)
                FUZZ_CHECK(jsonscan_validate(v.p, v.n) == 0);
        }
    }
    json_decref(j);
    return 0;
}
