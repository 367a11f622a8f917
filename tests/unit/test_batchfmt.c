/* batchfmt: upload lines, batch objects of both providers, result lines,
 * and the batch price (formats/prices.c price_batch). */
#include <stdlib.h>
#include <string.h>
#include "batchfmt.h"
#include "prices.h"
#include "tap.h"

static json_t *J(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    if (!j)
        fprintf(stderr, "bad test JSON: %s\n", s);
    return j;
}

static void requests(void)
{
    job_t j = { .ordinal = 41, .dialect = DIALECT_OPENAI, .path = "/v1/chat/completions",
                .body = "{\"model\":\"m\"}", .body_len = 13 };
    buf_t b = BUF_INIT;
    uint64_t o = 0;

    CHECK(batchfmt_request(&b, &j) == 0);
    CHECK_STR(b.data, "{\"custom_id\":\"j41\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
                      "\"body\":{\"model\":\"m\"}}");
    buf_reset(&b);
    j.dialect = DIALECT_ANTHROPIC;
    CHECK(batchfmt_request(&b, &j) == 0);
    CHECK_STR(b.data, "{\"custom_id\":\"j41\",\"params\":{\"model\":\"m\"}}");
    buf_release(&b);
    CHECK(batchfmt_ordinal("j0", &o) == 0 && o == 0);
    CHECK(batchfmt_ordinal("j123", &o) == 0 && o == 123);
    CHECK(batchfmt_ordinal("j012", &o) == -1);
    CHECK(batchfmt_ordinal("job-1", &o) == -1);
    CHECK(batchfmt_ordinal("j1x", &o) == -1);
    CHECK(batchfmt_ordinal(NULL, &o) == -1);
}

static void batches(void)
{
    batch_info_t b;
    json_t *o = J("{\"id\":\"batch_1\",\"status\":\"finalizing\",\"request_counts\":"
                  "{\"total\":10,\"completed\":7,\"failed\":2},\"output_file_id\":\"file-o\","
                  "\"error_file_id\":null,\"created_at\":1700000000,"
                  "\"metadata\":{\"llmbatch_run\":\"abc\",\"llmbatch_part\":\"3\"},"
                  "\"errors\":{\"data\":[{\"code\":\"token_limit_exceeded\",\"message\":\"m\"}]}}");
    CHECK(batchfmt_parse_batch(DIALECT_OPENAI, o, &b) == 0);
    CHECK_STR(b.id, "batch_1");
    CHECK_STR(batchfmt_phase_name(b.phase), "finalizing");
    CHECK(!batchfmt_phase_final(b.phase));
    CHECK_INT(b.total, 10);
    CHECK_INT(b.done, 9);
    CHECK_INT(b.failed, 2);
    CHECK_STR(b.output_file_id, "file-o");
    CHECK_STR(b.error_file_id, "");
    CHECK_STR(b.meta_run, "abc");
    CHECK_INT(b.meta_part, 3);
    CHECK_STR(b.error_code, "token_limit_exceeded");
    CHECK_INT(b.created_epoch, 1700000000);
    json_decref(o);
    o = J("{\"id\":\"b\",\"status\":\"weird\"}");
    CHECK(batchfmt_parse_batch(DIALECT_OPENAI, o, &b) == -1);
    json_decref(o);
    o = J("{\"id\":\"msgbatch_1\",\"processing_status\":\"ended\",\"request_counts\":"
          "{\"processing\":0,\"succeeded\":5,\"errored\":1,\"canceled\":2,\"expired\":3},"
          "\"results_url\":\"http://x/r\",\"created_at\":\"2024-01-02T03:04:05.5Z\"}");
    CHECK(batchfmt_parse_batch(DIALECT_ANTHROPIC, o, &b) == 0);
    CHECK_INT(b.phase, BPH_ENDED);
    CHECK(batchfmt_phase_final(b.phase));
    CHECK_INT(b.total, 11);
    CHECK_INT(b.done, 6);
    CHECK_STR(b.results_url, "http://x/r");
    CHECK_INT(b.created_epoch, 1704164645);
    CHECK_INT(b.meta_part, -1);
    json_decref(o);
}

static void rows(void)
{
    batch_row_t r;
    char err[200];
    const char *ok = "{\"id\":\"batch_req_1\",\"custom_id\":\"j7\",\"response\":{\"status_code\":200,"
                     "\"request_id\":\"req_1\",\"body\":{\"usage\":{}}},\"error\":null}";
    const char *refused = "{\"custom_id\":\"j8\",\"response\":{\"status_code\":400,\"body\":"
                          "{\"error\":{\"code\":\"bad\",\"message\":\"no\"}}},\"error\":null}";
    const char *expired = "{\"custom_id\":\"j9\",\"response\":null,\"error\":"
                          "{\"code\":\"batch_expired\",\"message\":\"late\"}}";
    const char *a_ok = "{\"custom_id\":\"j1\",\"result\":{\"type\":\"succeeded\",\"message\":"
                       "{\"id\":\"msg_1\",\"usage\":{}}}}";
    const char *a_err = "{\"custom_id\":\"j2\",\"result\":{\"type\":\"errored\",\"error\":"
                        "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
                        "\"message\":\"bad\"}}}}";
    const char *a_can = "{\"custom_id\":\"j3\",\"result\":{\"type\":\"canceled\"}}";

    CHECK(batchfmt_parse_row(DIALECT_OPENAI, ok, strlen(ok), &r, err, sizeof(err)) == 0);
    CHECK_INT(r.ordinal, 7);
    CHECK_INT(r.kind, ROW_OK);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.request_id, "req_1");
    json_decref(r.root);
    CHECK(batchfmt_parse_row(DIALECT_OPENAI, refused, strlen(refused), &r, err, sizeof(err)) == 0);
    CHECK_INT(r.kind, ROW_FAILED);
    CHECK_INT(r.status, 400);
    CHECK_STR(r.code, "bad");
    json_decref(r.root);
    CHECK(batchfmt_parse_row(DIALECT_OPENAI, expired, strlen(expired), &r, err, sizeof(err)) == 0);
    CHECK_INT(r.kind, ROW_NOT_RUN);
    json_decref(r.root);
    CHECK(batchfmt_parse_row(DIALECT_ANTHROPIC, a_ok, strlen(a_ok), &r, err, sizeof(err)) == 0);
    CHECK_INT(r.kind, ROW_OK);
    CHECK_STR(r.request_id, "msg_1");
    json_decref(r.root);
    CHECK(batchfmt_parse_row(DIALECT_ANTHROPIC, a_err, strlen(a_err), &r, err, sizeof(err)) == 0);
    CHECK_INT(r.kind, ROW_FAILED);
    CHECK_INT(r.status, 400);
    CHECK_STR(r.message, "bad");
    json_decref(r.root);
    CHECK(batchfmt_parse_row(DIALECT_ANTHROPIC, a_can, strlen(a_can), &r, err, sizeof(err)) == 0);
    CHECK_INT(r.kind, ROW_NOT_RUN);
    json_decref(r.root);
    CHECK(batchfmt_parse_row(DIALECT_OPENAI, "{\"custom_id\":\"user-1\"}", 22, &r, err,
                             sizeof(err)) == -1);
    CHECK(r.root == NULL);
    CHECK(batchfmt_parse_row(DIALECT_OPENAI, "nope", 4, &r, err, sizeof(err)) == -1);
}

static void batch_prices(void)
{
    prices_t t = { .batch_discount_ppm = { 500000, 400000 } };
    price_t p = { .model = "m", .input = 2500001, .cached_input = 0, .cache_write = 3,
                  .output = 10000000, .batch_discount_ppm = -1 }, b;

    price_batch(&t, &p, DIALECT_OPENAI, &b);
    CHECK_INT(b.input, 1250001);          /* rounded up */
    CHECK_INT(b.output, 5000000);
    CHECK_INT(b.cache_write, 2);
    price_batch(&t, &p, DIALECT_ANTHROPIC, &b);
    CHECK_INT(b.output, 6000000);
    p.batch_discount_ppm = 0;
    price_batch(&t, &p, DIALECT_ANTHROPIC, &b);
    CHECK_INT(b.output, 10000000);
}

int main(void)
{
    requests();
    batches();
    rows();
    batch_prices();
    return tap_done();
}
