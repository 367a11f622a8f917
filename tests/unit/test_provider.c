/*
 * test_provider: response classification, usage extraction in every API
 * shape, retry hints and HTTP-dates (formats/provider*.c, timefmt.c).
 * One function per behaviour; each starts from empty headers.
 */
#include "tap.h"
#include "provider.h"

/* Wed, 21 Oct 2015 07:28:00 GMT */
#define TDATE 1445412480000LL

static headers_t H;

static void classify(dialect_t d, long status, const char *body, outcome_t *o)
{
    outcome_release(o);
    provider_classify(d, status, &H, body, body ? strlen(body) : 0, TDATE, o);
}

static int64_t ra(const char *name, const char *value, int64_t now)
{
    int64_t r;
    headers_clear(&H);
    headers_add(&H, name, value);
    r = provider_retry_after_ms(&H, now);
    headers_clear(&H);
    return r;
}

static const char OA_CHAT[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":300,\"total_tokens\":1500,"
    "\"prompt_tokens_details\":{\"cached_tokens\":1024,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":256}}}";
static const char OA_RESP[] =
    "{\"id\":\"resp_1\",\"object\":\"response\",\"output\":[],"
    "\"usage\":{\"input_tokens\":500,\"input_tokens_details\":{\"cached_tokens\":100},"
    "\"output_tokens\":900,\"output_tokens_details\":{\"reasoning_tokens\":800},"
    "\"total_tokens\":1400}}";
static const char OA_EMB[] =
    "{\"object\":\"list\",\"data\":[],\"model\":\"text-embedding-3-small\","
    "\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}";
static const char OA_COMPL[] =
    "{\"object\":\"text_completion\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}";
static const char AN_MSG[] =
    "{\"id\":\"msg_1\",\"type\":\"message\",\"content\":[],"
    "\"usage\":{\"input_tokens\":50,\"cache_creation_input_tokens\":2000,"
    "\"cache_read_input_tokens\":3000,\"output_tokens\":400}}";

static void test_pretty_printed_success_is_read_without_a_tree(void)
{
    outcome_t o;

    outcome_init(&o);
    /* a pretty-printed reply (OpenAI's are) is read like a one-line one:
     * no tree, only its usage parsed (the caller compacts the bytes) */
    classify(DIALECT_OPENAI, 200, "{\n  \"id\": \"x\",\n  \"usage\": {\"prompt_tokens\": 3,"
             " \"completion_tokens\": 4}\n}\n", &o);
    CHECK_INT(o.kind, OUT_SUCCESS);
    CHECK(o.body == NULL);
    CHECK_INT(o.usage.input, 3);
    CHECK_INT(o.usage.output, 4);
    outcome_release(&o);
    /* repeated keys still go to the full parse, which keeps the last */
    classify(DIALECT_OPENAI, 200, "{\n \"usage\": {\"prompt_tokens\": 1},\n"
             " \"usage\": {\"prompt_tokens\": 9}\n}", &o);
    CHECK_INT(o.kind, OUT_SUCCESS);
    CHECK_INT(o.usage.input, 9);
    outcome_release(&o);
    outcome_release(&o);
    headers_clear(&H);
}

static void test_one_line_success_is_read_without_a_tree(void)
{
    outcome_t o;

    outcome_init(&o);
    classify(DIALECT_OPENAI, 200, OA_CHAT, &o);
    CHECK_INT(o.kind, OUT_SUCCESS);
    CHECK(o.body == NULL);          /* one-line object: the fast path, no tree */
    CHECK_INT(o.usage.present, 1);
    CHECK_INT(o.usage.input, 176);
    CHECK_INT(o.usage.cached_input, 1024);
    CHECK_INT(o.usage.output, 300);
    CHECK_INT(o.usage.reasoning, 256);
    CHECK_INT(o.usage.cache_write, 0);
    CHECK_INT(o.rate_limited, 0);
    CHECK_INT(o.retry_after_ms, -1);
    CHECK_STR(o.code, "");
    outcome_release(&o);
    headers_clear(&H);
}

static void test_truncated_or_non_object_2xx_bodies_are_retried(void)
{
    outcome_t o;

    outcome_init(&o);
    classify(DIALECT_OPENAI, 200, "{\"id\":\"x\",\"choices\":[{\"messa", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_STR(o.code, "invalid_response_body");
    CHECK(o.body == NULL);
    classify(DIALECT_OPENAI, 200, "", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_STR(o.code, "invalid_response_body");
    classify(DIALECT_OPENAI, 200, NULL, &o);
    CHECK_INT(o.kind, OUT_RETRY);
    classify(DIALECT_ANTHROPIC, 200, "<html>ok</html>", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_STR(o.code, "invalid_response_body");
    classify(DIALECT_OPENAI, 200, "[1,2]", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    classify(DIALECT_OPENAI, 200, "{\"a\":1} trailing", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    outcome_release(&o);
    headers_clear(&H);
}

static void test_success_without_usage_is_still_a_success(void)
{
    outcome_t o;

    outcome_init(&o);
    classify(DIALECT_OPENAI, 200, "{\"id\":\"x\",\"choices\":[]}", &o);
    CHECK_INT(o.kind, OUT_SUCCESS);
    CHECK_INT(o.usage.present, 0);
    CHECK_INT(o.usage.input, 0);
    classify(DIALECT_ANTHROPIC, 201, AN_MSG, &o);
    CHECK_INT(o.kind, OUT_SUCCESS);
    CHECK_INT(o.usage.present, 1);
    outcome_release(&o);
    headers_clear(&H);
}

static void test_400_is_final_with_the_servers_code_and_message(void)
{
    outcome_t o;

    outcome_init(&o);
    classify(DIALECT_OPENAI, 400,
             "{\"error\":{\"message\":\"This model's maximum context length is 8192 tokens.\","
             "\"type\":\"invalid_request_error\",\"param\":\"messages\","
             "\"code\":\"context_length_exceeded\"}}", &o);
    CHECK_INT(o.kind, OUT_FINAL);
    CHECK_STR(o.code, "context_length_exceeded");
    CHECK_STR(o.message, "This model's maximum context length is 8192 tokens.");
    CHECK(o.body != NULL);
    outcome_release(&o);
    headers_clear(&H);
}

static void test_401_and_403_invalidate_the_key_and_mask_it(void)
{
    outcome_t o;

    outcome_init(&o);
    classify(DIALECT_OPENAI, 401,
             "{\"error\":{\"message\":\"Incorrect API key provided: "
             "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789wxyz. You can find your API key at "
             "https://platform.openai.com/account/api-keys.\",\"type\":\"invalid_request_error\","
             "\"param\":null,\"code\":\"invalid_api_key\"}}", &o);
    CHECK_INT(o.kind, OUT_KEY_INVALID);
    CHECK_STR(o.code, "invalid_api_key");
    CHECK(strstr(o.message, "abcdefghijklmnop") == NULL);   /* key scrubbed */
    CHECK(strstr(o.message, "sk-...wxyz") != NULL);
    CHECK(strstr(o.message, "You can find your API key") != NULL);

    classify(DIALECT_ANTHROPIC, 401,
             "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\","
             "\"message\":\"invalid x-api-key\"}}", &o);
    CHECK_INT(o.kind, OUT_KEY_INVALID);
    CHECK_STR(o.code, "authentication_error");
    CHECK_STR(o.message, "invalid x-api-key");

    classify(DIALECT_ANTHROPIC, 403,
             "{\"type\":\"error\",\"error\":{\"type\":\"permission_error\","
             "\"message\":\"Your API key does not have permission to use the specified resource.\"}}", &o);
    CHECK_INT(o.kind, OUT_KEY_INVALID);
    CHECK_STR(o.code, "permission_error");
    outcome_release(&o);
    headers_clear(&H);
}

static void test_other_4xx_are_final_but_408_and_409_are_retried(void)
{
    outcome_t o;

    outcome_init(&o);
    classify(DIALECT_OPENAI, 404,
             "{\"error\":{\"message\":\"The model `gpt-9` does not exist\","
             "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"model_not_found\"}}", &o);
    CHECK_INT(o.kind, OUT_FINAL);
    CHECK_STR(o.code, "model_not_found");

    classify(DIALECT_OPENAI, 408, NULL, &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_STR(o.code, "http_408");
    CHECK_STR(o.message, "HTTP 408");
    classify(DIALECT_OPENAI, 409, "", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_STR(o.code, "http_409");
    classify(DIALECT_ANTHROPIC, 413,
             "{\"type\":\"error\",\"error\":{\"type\":\"request_too_large\","
             "\"message\":\"Request exceeds the maximum allowed number of bytes.\"}}", &o);
    CHECK_INT(o.kind, OUT_FINAL);
    CHECK_STR(o.code, "request_too_large");
    classify(DIALECT_OPENAI, 422, "{\"error\":\"unprocessable\"}", &o);
    CHECK_INT(o.kind, OUT_FINAL);
    CHECK_STR(o.code, "http_422");
    CHECK_STR(o.message, "unprocessable");
    outcome_release(&o);
    headers_clear(&H);
}

static void test_429_rate_is_retried_and_quota_exhausts_the_key(void)
{
    outcome_t o;

    outcome_init(&o);
    /* 429: rate vs quota */
    headers_add(&H, "retry-after-ms", "1500");
    classify(DIALECT_OPENAI, 429,
             "{\"error\":{\"message\":\"Rate limit reached for gpt-4o in organization org-x on "
             "tokens per min (TPM): Limit 30000, Used 29000.\",\"type\":\"tokens\","
             "\"param\":null,\"code\":\"rate_limit_exceeded\"}}", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_INT(o.rate_limited, 1);
    CHECK_INT(o.retry_after_ms, 1500);
    CHECK_STR(o.code, "rate_limit_exceeded");
    headers_clear(&H);
    classify(DIALECT_OPENAI, 429,
             "{\"error\":{\"message\":\"You exceeded your current quota, please check your plan "
             "and billing details.\",\"type\":\"insufficient_quota\",\"param\":null,"
             "\"code\":\"insufficient_quota\"}}", &o);
    CHECK_INT(o.kind, OUT_KEY_EXHAUSTED);
    CHECK_INT(o.rate_limited, 0);
    CHECK_STR(o.code, "insufficient_quota");
    classify(DIALECT_OPENAI, 429,
             "{\"error\":{\"message\":\"quota\",\"type\":\"insufficient_quota\",\"code\":null}}", &o);
    CHECK_INT(o.kind, OUT_KEY_EXHAUSTED);
    CHECK_STR(o.code, "insufficient_quota");
    classify(DIALECT_OPENAI, 400,
             "{\"error\":{\"message\":\"Billing hard limit has been reached\","
             "\"type\":\"invalid_request_error\",\"code\":\"billing_hard_limit_reached\"}}", &o);
    CHECK_INT(o.kind, OUT_KEY_EXHAUSTED);
    classify(DIALECT_OPENAI, 403,
             "{\"error\":{\"message\":\"Billing is not active\",\"type\":\"billing_not_active\"}}", &o);
    CHECK_INT(o.kind, OUT_KEY_EXHAUSTED);
    classify(DIALECT_ANTHROPIC, 429,
             "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
             "\"message\":\"Number of request tokens has exceeded your per-minute rate limit\"}}", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_INT(o.rate_limited, 1);
    CHECK_STR(o.code, "rate_limit_error");
    classify(DIALECT_ANTHROPIC, 400,
             "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
             "\"message\":\"Your credit balance is too low to access the Anthropic API. "
             "Please go to Plans & Billing to upgrade or purchase credits.\"}}", &o);
    CHECK_INT(o.kind, OUT_KEY_EXHAUSTED);
    CHECK_STR(o.code, "invalid_request_error");
    classify(DIALECT_ANTHROPIC, 400,
             "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
             "\"message\":\"You have reached your specified API usage limits. You will regain "
             "access on 2026-12-01 at 00:00 UTC.\"}}", &o);
    CHECK_INT(o.kind, OUT_KEY_EXHAUSTED);
    classify(DIALECT_ANTHROPIC, 403,
             "{\"type\":\"error\",\"error\":{\"type\":\"permission_error\","
             "\"message\":\"This organization has reached its Spend Limit.\"}}", &o);
    CHECK_INT(o.kind, OUT_KEY_EXHAUSTED);
    classify(DIALECT_ANTHROPIC, 400,
             "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
             "\"message\":\"max_tokens: 100000 > 64000, which is the maximum\"}}", &o);
    CHECK_INT(o.kind, OUT_FINAL);
    classify(DIALECT_OPENAI, 402, NULL, &o);
    CHECK_INT(o.kind, OUT_KEY_EXHAUSTED);
    CHECK_STR(o.code, "http_402");
    outcome_release(&o);
    headers_clear(&H);
}

static void test_5xx_and_no_reply_are_retried_3xx_is_final(void)
{
    outcome_t o;

    outcome_init(&o);
    /* 5xx */
    classify(DIALECT_OPENAI, 500,
             "{\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\","
             "\"param\":null,\"code\":null}}", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_STR(o.code, "server_error");
    CHECK_INT(o.rate_limited, 0);
    classify(DIALECT_OPENAI, 502, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_STR(o.code, "http_502");
    CHECK_STR(o.message, "HTTP 502: <html> <head><title>502 Bad Gateway</title></head> </html>");
    classify(DIALECT_OPENAI, 503, NULL, &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_STR(o.message, "HTTP 503");
    classify(DIALECT_OPENAI, 504, "", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    classify(DIALECT_ANTHROPIC, 529,
             "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_STR(o.code, "overloaded_error");
    CHECK_STR(o.message, "Overloaded");
    classify(DIALECT_ANTHROPIC, 500,
             "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal\"}}", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_STR(o.code, "api_error");
    classify(DIALECT_OPENAI, 599, NULL, &o);
    CHECK_INT(o.kind, OUT_RETRY);
    classify(DIALECT_OPENAI, 301, NULL, &o);
    CHECK_INT(o.kind, OUT_FINAL);
    classify(DIALECT_OPENAI, 0, NULL, &o);
    CHECK_INT(o.kind, OUT_RETRY);
    outcome_release(&o);
    headers_clear(&H);
}

static void test_x_should_retry_overrides_the_status_class(void)
{
    outcome_t o;

    outcome_init(&o);
    headers_add(&H, "x-should-retry", "true");
    classify(DIALECT_OPENAI, 400, "{\"error\":{\"message\":\"m\",\"type\":\"t\"}}", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    classify(DIALECT_OPENAI, 401, NULL, &o);
    CHECK_INT(o.kind, OUT_KEY_INVALID);
    classify(DIALECT_OPENAI, 403, NULL, &o);
    CHECK_INT(o.kind, OUT_KEY_INVALID);
    classify(DIALECT_OPENAI, 429, "{\"error\":{\"code\":\"insufficient_quota\"}}", &o);
    CHECK_INT(o.kind, OUT_KEY_EXHAUSTED);
    classify(DIALECT_OPENAI, 200, OA_CHAT, &o);
    CHECK_INT(o.kind, OUT_SUCCESS);
    headers_clear(&H);
    headers_add(&H, "x-should-retry", "false");
    classify(DIALECT_OPENAI, 500, NULL, &o);
    CHECK_INT(o.kind, OUT_FINAL);
    classify(DIALECT_ANTHROPIC, 529, NULL, &o);
    CHECK_INT(o.kind, OUT_FINAL);
    classify(DIALECT_OPENAI, 429, NULL, &o);
    CHECK_INT(o.kind, OUT_FINAL);
    CHECK_INT(o.rate_limited, 1);
    classify(DIALECT_OPENAI, 404, NULL, &o);
    CHECK_INT(o.kind, OUT_FINAL);
    CHECK_INT(provider_should_retry(&H), 0);
    headers_clear(&H);
    CHECK_INT(provider_should_retry(&H), -1);
    headers_add(&H, "X-Should-Retry", "TRUE");
    CHECK_INT(provider_should_retry(&H), 1);
    headers_clear(&H);
    headers_add(&H, "x-should-retry", "maybe");
    CHECK_INT(provider_should_retry(&H), -1);
    classify(DIALECT_OPENAI, 500, NULL, &o);
    CHECK_INT(o.kind, OUT_RETRY);
    headers_clear(&H);
    outcome_release(&o);
    headers_clear(&H);
}

static void test_usage_in_every_api_shape(void)
{
    usage_t u;
    json_t *j;

    j = json_loads(OA_RESP, 0, NULL);
    CHECK_INT(provider_usage(DIALECT_OPENAI, j, &u), 1);
    CHECK_INT(u.input, 400);
    CHECK_INT(u.cached_input, 100);
    CHECK_INT(u.output, 900);
    CHECK_INT(u.reasoning, 800);
    CHECK_INT(u.present, 1);
    json_decref(j);
    j = json_loads(OA_EMB, 0, NULL);
    CHECK_INT(provider_usage(DIALECT_OPENAI, j, &u), 1);
    CHECK_INT(u.input, 8);
    CHECK_INT(u.output, 0);
    CHECK_INT(u.cached_input, 0);
    json_decref(j);
    j = json_loads(OA_COMPL, 0, NULL);
    CHECK_INT(provider_usage(DIALECT_OPENAI, j, &u), 1);
    CHECK_INT(u.input, 5);
    CHECK_INT(u.output, 7);
    CHECK_INT(u.reasoning, 0);
    json_decref(j);
    j = json_loads(AN_MSG, 0, NULL);
    CHECK_INT(provider_usage(DIALECT_ANTHROPIC, j, &u), 1);
    CHECK_INT(u.input, 50);
    CHECK_INT(u.cache_write, 2000);
    CHECK_INT(u.cached_input, 3000);
    CHECK_INT(u.output, 400);
    json_decref(j);
    j = json_loads("{\"usage\":{\"input_tokens\":12,\"output_tokens\":3,"
                   "\"cache_creation_input_tokens\":null}}", 0, NULL);
    CHECK_INT(provider_usage(DIALECT_ANTHROPIC, j, &u), 1);
    CHECK_INT(u.input, 12);
    CHECK_INT(u.cache_write, 0);
    json_decref(j);
    /* cached larger than prompt: input never negative */
    j = json_loads("{\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":1,"
                   "\"prompt_tokens_details\":{\"cached_tokens\":50}}}", 0, NULL);
    CHECK_INT(provider_usage(DIALECT_OPENAI, j, &u), 1);
    CHECK_INT(u.input, 0);
    CHECK_INT(u.cached_input, 10);
    json_decref(j);
    j = json_loads("{\"usage\":{\"prompt_tokens\":-3}}", 0, NULL);
    CHECK_INT(provider_usage(DIALECT_OPENAI, j, &u), 0);
    CHECK_INT(u.present, 0);
    json_decref(j);
    j = json_loads("{\"usage\":null}", 0, NULL);
    CHECK_INT(provider_usage(DIALECT_OPENAI, j, &u), 0);
    json_decref(j);
    j = json_loads("{\"usage\":{\"foo\":1}}", 0, NULL);
    CHECK_INT(provider_usage(DIALECT_ANTHROPIC, j, &u), 0);
    json_decref(j);
    CHECK_INT(provider_usage(DIALECT_OPENAI, NULL, &u), 0);
    headers_clear(&H);
}

static void test_retry_after_ms_seconds_and_dates(void)
{
    CHECK_INT(ra("retry-after-ms", "1500", 0), 1500);
    CHECK_INT(ra("retry-after-ms", "20.5", 0), 21);
    CHECK_INT(ra("retry-after-ms", "0", 0), 0);
    CHECK_INT(ra("retry-after-ms", "99999999999999999999", 0), 3600000);
    CHECK_INT(ra("retry-after-ms", "abc", 0), -1);
    CHECK_INT(ra("retry-after", "3", 0), 3000);
    CHECK_INT(ra("retry-after", "0.25", 0), 250);
    CHECK_INT(ra("retry-after", "0.0001", 0), 1);
    CHECK_INT(ra("retry-after", "86400", 0), 3600000);
    CHECK_INT(ra("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", TDATE - 5000), 5000);
    CHECK_INT(ra("retry-after", "Wednesday, 21-Oct-15 07:28:00 GMT", TDATE - 5000), 5000);
    CHECK_INT(ra("retry-after", "Wed Oct 21 07:28:00 2015", TDATE - 5000), 5000);
    CHECK_INT(ra("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", TDATE + 1), 0);
    CHECK_INT(ra("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", TDATE), 0);
    CHECK_INT(ra("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", 0), 3600000);
    CHECK_INT(ra("retry-after", "soon", 0), -1);
    CHECK_INT(ra("retry-after", "-5", 0), -1);
    CHECK_INT(ra("retry-after", "3s", 0), -1);
    CHECK_INT(ra("retry-after", "", 0), -1);
    CHECK_INT(ra("x-other", "3", 0), -1);
    headers_add(&H, "retry-after", "2");
    headers_add(&H, "retry-after-ms", "bogus");
    CHECK_INT(provider_retry_after_ms(&H, 0), 2000);   /* bad -ms falls back */
    headers_add(&H, "retry-after-ms", "750");
    CHECK_INT(provider_retry_after_ms(&H, 0), 750);    /* -ms preferred */
    headers_clear(&H);
    headers_clear(&H);
}

static void test_http_date_formats(void)
{
    CHECK_INT(http_date_ms("Wed, 21 Oct 2015 07:28:00 GMT"), TDATE);
    CHECK_INT(http_date_ms("Wednesday, 21-Oct-15 07:28:00 GMT"), TDATE);
    CHECK_INT(http_date_ms("Wed Oct 21 07:28:00 2015"), TDATE);
    CHECK_INT(http_date_ms("Sun Nov  6 08:49:37 1994"), 784111777000LL);
    CHECK_INT(http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777000LL);
    CHECK_INT(http_date_ms("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777000LL);
    CHECK_INT(http_date_ms("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    CHECK_INT(http_date_ms("Wed, 21 Oct 2015 07:28:00"), -1);
    CHECK_INT(http_date_ms("Wed, 21 Foo 2015 07:28:00 GMT"), -1);
    CHECK_INT(http_date_ms("Wed, 31 Feb 2015 07:28:00 GMT"), -1);
    CHECK_INT(http_date_ms("Wed, 21 Oct 2015 25:28:00 GMT"), -1);
    CHECK_INT(http_date_ms("Wed, 21 Oct 2015 07:28:00 GMT junk"), -1);
    CHECK_INT(http_date_ms("21 Oct 2015"), -1);
    CHECK_INT(http_date_ms(""), -1);
    headers_clear(&H);
}

static void test_request_id_prefers_x_request_id(void)
{
    CHECK(provider_request_id(&H) == NULL);
    headers_add(&H, "request-id", "req_a");
    CHECK_STR(provider_request_id(&H), "req_a");
    headers_add(&H, "x-request-id", "req_b");
    CHECK_STR(provider_request_id(&H), "req_b");
    headers_clear(&H);
}

/* Any valid JSON (RFC 8259) object is a success: "\u0000" in a string and
 * integers wider than 64 bits outside "usage" included, on one line or
 * several; a usage number that does not fit leaves usage absent (charged
 * as estimated), never a retry. */
static void test_valid_json_reply_is_a_success_whatever_its_strings_and_numbers(void)
{
    static const struct { const char *body; int present; uint64_t input; } cases[] = {
        { "{\"id\":\"x\",\"choices\":[{\"text\":\"a\\u0000b\"}],"
          "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}", 1, 3 },
        { "{\"id\":\"x\",\"seed\":123456789012345678901234567890,"
          "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}", 1, 3 },
        { "{\n \"id\": \"x\",\n \"seed\": -99999999999999999999,\n"
          " \"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 4}\n}", 1, 5 },
        { "{\n \"text\": \"a\\u0000b\",\n \"usage\": {\"prompt_tokens\": 6, "
          "\"completion_tokens\": 1}\n}", 1, 6 },
        { "{\"id\":\"x\",\"logprob\":1e400,\"usage\":{\"prompt_tokens\":2,"
          "\"completion_tokens\":4}}", 1, 2 },
        { "{\"id\":\"x\",\"usage\":{\"prompt_tokens\":99999999999999999999999,"
          "\"completion_tokens\":4}}", 0, 0 },
        { "{\n\"id\":\"x\",\n\"usage\":{\"prompt_tokens\":99999999999999999999999}\n}", 0, 0 },
    };
    outcome_t o;
    size_t i;

    outcome_init(&o);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        classify(DIALECT_OPENAI, 200, cases[i].body, &o);
        if (o.kind != OUT_SUCCESS)
            fprintf(stderr, "  case %zu: kind %d (%s)\n", i, (int)o.kind, o.message);
        CHECK_INT(o.kind, OUT_SUCCESS);
        CHECK_INT(o.usage.present, cases[i].present);
        CHECK_INT(o.usage.input, cases[i].input);
        CHECK_STR(o.code, "");
    }
    /* still invalid: a truncated big-number reply is not a success */
    classify(DIALECT_OPENAI, 200, "{\"seed\":123456789012345678901234567890", &o);
    CHECK_INT(o.kind, OUT_RETRY);
    CHECK_STR(o.code, "invalid_response_body");
    /* and errors with \u0000 in their message are read as JSON */
    classify(DIALECT_OPENAI, 400, "{\"error\":{\"message\":\"bad\\u0000x\",\"code\":\"c1\"}}", &o);
    CHECK_INT(o.kind, OUT_FINAL);
    CHECK_STR(o.code, "c1");
    CHECK_STR(o.message, "bad");
    outcome_release(&o);
}

/* One copy of the wire constants the runner sends. */
static void test_anthropic_version_and_default_base_urls(void)
{
    CHECK_STR(PROVIDER_ANTHROPIC_VERSION, "2023-06-01");
    CHECK_STR(PROVIDER_ANTHROPIC_VERSION_HEADER, "anthropic-version: 2023-06-01");
    CHECK_STR(provider_default_base_url(DIALECT_OPENAI), "https://api.openai.com/v1");
    CHECK_STR(provider_default_base_url(DIALECT_ANTHROPIC), "https://api.anthropic.com");
    CHECK_STR(provider_base_url_env(DIALECT_OPENAI), "OPENAI_BASE_URL");
    CHECK_STR(provider_base_url_env(DIALECT_ANTHROPIC), "ANTHROPIC_BASE_URL");
}

int main(void)
{
    headers_init(&H);
    test_pretty_printed_success_is_read_without_a_tree();
    test_one_line_success_is_read_without_a_tree();
    test_truncated_or_non_object_2xx_bodies_are_retried();
    test_success_without_usage_is_still_a_success();
    test_400_is_final_with_the_servers_code_and_message();
    test_401_and_403_invalidate_the_key_and_mask_it();
    test_other_4xx_are_final_but_408_and_409_are_retried();
    test_429_rate_is_retried_and_quota_exhausts_the_key();
    test_5xx_and_no_reply_are_retried_3xx_is_final();
    test_x_should_retry_overrides_the_status_class();
    test_usage_in_every_api_shape();
    test_retry_after_ms_seconds_and_dates();
    test_http_date_formats();
    test_request_id_prefers_x_request_id();
    test_valid_json_reply_is_a_success_whatever_its_strings_and_numbers();
    test_anthropic_version_and_default_base_urls();
    headers_release(&H);
    return tap_done();
}
