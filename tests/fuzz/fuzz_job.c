/*
 * fuzz_job: job_parse (formats/job.h) on the whole input as one line, with
 * the defaults of `--model gpt-4o-mini --max-tokens 64`.
 *
 * Invariants on success: custom_id is a non-empty C string, model and path
 * are set, n >= 1, and body is body_len bytes of valid JSON (an object)
 * with no NUL inside.  On failure: err holds a one-line message and the
 * job is all zero but for ordinal (kept) and lineno.  ordinal is the
 * caller's and survives either way.
 */
#include "fuzz_util.h"

#include <jansson.h>

#include "job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const job_defaults_t defs = { "gpt-4o-mini", 64, -1, 0 };
    job_t j, zero;
    char err[256];
    json_t *v;
    json_error_t jerr;
    int rc;

    memset(&j, 0, sizeof j);
    memset(&zero, 0, sizeof zero);
    j.ordinal = zero.ordinal = 5;
    zero.lineno = 7;
    err[0] = '\0';
    rc = job_parse((const char *)data, size, 7, &defs, &j, err, sizeof err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(strchr(err, '\n') == NULL);
        FUZZ_CHECK(memcmp(&j, &zero, sizeof j) == 0);
        return 0;
    }
    FUZZ_CHECK(j.custom_id && j.custom_id[0] != '\0');
    FUZZ_CHECK(j.model != NULL);
    FUZZ_CHECK(j.path != NULL && j.path[0] == '/');
    FUZZ_CHECK(j.n >= 1);
    FUZZ_CHECK(j.dialect == DIALECT_OPENAI || j.dialect == DIALECT_ANTHROPIC);
    FUZZ_CHECK(j.lineno == 7 && j.ordinal == 5);
    FUZZ_CHECK(!j.auto_id || strcmp(j.custom_id, "line-7") == 0);
    FUZZ_CHECK(j.body && strlen(j.body) == j.body_len);
    v = json_loadb(j.body, j.body_len, JSON_ALLOW_NUL, &jerr);
    if (!v)
        fprintf(stderr, "body is not JSON (%s): %s\n", jerr.text, j.body);
    FUZZ_CHECK(json_is_object(v));

    /* the JOB_FAST path must agree with the full parser wherever it takes
     * the line (it may only decline, never decide differently) */
    {
        static const job_defaults_t fast = { "gpt-4o-mini", 64, -1, JOB_FAST };
        job_t f;
        json_t *fv;

        memset(&f, 0, sizeof f);
        FUZZ_CHECK(job_parse((const char *)data, size, 7, &fast, &f, err, sizeof err) == 0);
        FUZZ_CHECK(strcmp(f.custom_id, j.custom_id) == 0);
        FUZZ_CHECK(strcmp(f.model, j.model) == 0);
        FUZZ_CHECK(f.path == j.path && f.endpoint == j.endpoint && f.dialect == j.dialect);
        FUZZ_CHECK(f.max_output == j.max_output && f.n == j.n);
        fv = json_loadb(f.body, f.body_len, JSON_ALLOW_NUL, NULL);
        FUZZ_CHECK(fv != NULL && json_equal(fv, v));
        json_decref(fv);
        job_release(&f);
    }
    json_decref(v);
    job_release(&j);
    return 0;
}
