/* Unit tests for formats/job.c: the three line shapes, defaults, the
 * extracted fields and the error messages for malformed lines. */
#include "job.h"
#include "tap.h"
static void test_fast_agrees(void);

#include <stdlib.h>
#include <jansson.h>

static char err[512];

static int parse(const char *line, const job_defaults_t *defs, uint64_t lineno, job_t *j)
{
    err[0] = '\0';
    return job_parse(line, strlen(line), lineno, defs, j, err, sizeof err);
}

/* Parses the job's body back and returns the member, for assertions. */
static json_t *body_of(const job_t *j)
{
    json_error_t e;
    return json_loadb(j->body, j->body_len, 0, &e);
}

static void test_endpoint_path(void)
{
    endpoint_t ep = EP_MESSAGES;

    CHECK_STR(job_endpoint_path("/v1/chat/completions", &ep), "/v1/chat/completions");
    CHECK_INT(ep, EP_CHAT);
    CHECK_STR(job_endpoint_path("/chat/completions", &ep), "/v1/chat/completions");
    CHECK_STR(job_endpoint_path("v1/chat/completions", &ep), "/v1/chat/completions");
    CHECK_STR(job_endpoint_path("/v1/completions", &ep), "/v1/completions");
    CHECK_INT(ep, EP_COMPLETIONS);
    CHECK_STR(job_endpoint_path("/embeddings", &ep), "/v1/embeddings");
    CHECK_INT(ep, EP_EMBEDDINGS);
    CHECK_STR(job_endpoint_path("v1/responses", &ep), "/v1/responses");
    CHECK_INT(ep, EP_RESPONSES);
    CHECK_STR(job_endpoint_path("/v1/messages", &ep), "/v1/messages");
    CHECK_INT(ep, EP_MESSAGES);
    CHECK(job_endpoint_path("/v1/foo", &ep) == NULL);
    CHECK(job_endpoint_path("chat/completions", &ep) == NULL);
    CHECK(job_endpoint_path("/v1/chat/completions/", &ep) == NULL);
    CHECK(job_endpoint_path("/v2/chat/completions", &ep) == NULL);
    CHECK(job_endpoint_path("", &ep) == NULL);
    CHECK_STR(dialect_name(DIALECT_OPENAI), "openai");
    CHECK_STR(dialect_name(DIALECT_ANTHROPIC), "anthropic");
}

static void test_openai_batch(void)
{
    job_defaults_t d = { NULL, 0, -1, 0 };
    job_t j;

    memset(&j, 0, sizeof j);
    j.ordinal = 7;
    CHECK_INT(parse("{\"custom_id\":\"req-1\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
                    "\"body\":{\"model\":\"gpt-4o-mini\",\"temperature\":0.7,"
                    "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},"
                    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}]}],"
                    "\"max_completion_tokens\":50,\"max_tokens\":20,\"n\":3,"
                    "\"tools\":[{\"type\":\"function\"}]}}", &d, 4, &j), 0);
    CHECK_STR(err, "");
    CHECK_INT(j.ordinal, 7);
    CHECK_INT(j.lineno, 4);
    CHECK_STR(j.custom_id, "req-1");
    CHECK_INT(j.auto_id, 0);
    CHECK_INT(j.dialect, DIALECT_OPENAI);
    CHECK_INT(j.endpoint, EP_CHAT);
    CHECK_STR(j.path, "/v1/chat/completions");
    CHECK_STR(j.model, "gpt-4o-mini");
    CHECK_INT(j.max_output, 50);            /* max_completion_tokens wins */
    CHECK_INT(j.n, 3);
    CHECK_INT(j.nontext_parts, 1);
    CHECK_INT(j.has_tools, 1);
    /* strings: system, Be brief., user, text, hi  (image part skipped) */
    CHECK_INT(j.text_bytes, 6 + 9 + 4 + 4 + 2);
    /* body kept in key order, compact, reals in short form */
    CHECK_STR(j.body, "{\"model\":\"gpt-4o-mini\",\"temperature\":0.7,"
                    "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},"
                    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}]}],"
                    "\"max_completion_tokens\":50,\"max_tokens\":20,\"n\":3,"
                    "\"tools\":[{\"type\":\"function\"}]}");
    CHECK_INT(j.body_len, strlen(j.body));
    job_release(&j);
    CHECK(j.body == NULL && j.custom_id == NULL && j.model == NULL && j.lineno == 0);
    job_release(&j);                        /* safe twice */

    /* no method, url without /v1, default model filled in */
    d.model = "gpt-4.1";
    CHECK_INT(parse("{\"custom_id\":\"e\",\"url\":\"embeddings\",\"body\":{\"input\":\"x\"}}",
                    &d, 1, &j), -1);        /* "embeddings" alone is not a url */
    CHECK(strstr(err, "unsupported url \"embeddings\"") != NULL);
    CHECK_INT(parse("{\"custom_id\":\"e\",\"url\":\"/embeddings\",\"body\":{\"input\":[1,2,3]}}",
                    &d, 1, &j), 0);
    CHECK_INT(j.endpoint, EP_EMBEDDINGS);
    CHECK_STR(j.model, "gpt-4.1");
    CHECK_STR(j.body, "{\"input\":[1,2,3],\"model\":\"gpt-4.1\"}");
    CHECK_INT(j.text_bytes, 12);            /* token array: 4 bytes each */
    CHECK_INT(j.max_output, 0);
    CHECK_INT(j.n, 1);
    CHECK_INT(j.has_tools, 0);
    job_release(&j);

    /* responses API with input parts */
    CHECK_INT(parse("{\"custom_id\":\"r\",\"url\":\"v1/responses\",\"body\":{\"model\":\"o3\","
                    "\"instructions\":\"abc\",\"input\":[{\"role\":\"user\",\"content\":["
                    "{\"type\":\"input_text\",\"text\":\"hello\"},{\"type\":\"input_image\","
                    "\"image_url\":\"https://x/y.png\"},{\"type\":\"input_file\",\"file_id\":\"f\"}]}],"
                    "\"max_output_tokens\":1000,\"tools\":[]}}", &d, 2, &j), 0);
    CHECK_INT(j.endpoint, EP_RESPONSES);
    CHECK_INT(j.nontext_parts, 2);
    CHECK_INT(j.max_output, 1000);
    CHECK_INT(j.has_tools, 0);              /* empty tools */
    CHECK_INT(j.text_bytes, 3 + 4 + 10 + 5);
    job_release(&j);

    /* /v1/messages in an OpenAI batch line -> Anthropic dialect */
    d.max_tokens = 0;
    CHECK_INT(parse("{\"custom_id\":\"m\",\"url\":\"/v1/messages\",\"body\":{\"model\":\"claude-x\","
                    "\"max_tokens\":64,\"messages\":[],\"n\":5}}", &d, 3, &j), 0);
    CHECK_INT(j.dialect, DIALECT_ANTHROPIC);
    CHECK_INT(j.endpoint, EP_MESSAGES);
    CHECK_INT(j.n, 1);                      /* Anthropic: always 1 */
    CHECK_INT(j.max_output, 64);
    job_release(&j);

    /* legacy completions */
    CHECK_INT(parse("{\"custom_id\":\"c\",\"url\":\"/v1/completions\",\"body\":{\"model\":\"davinci\","
                    "\"prompt\":\"abcd\",\"functions\":[{\"name\":\"f\"}]}}", &d, 3, &j), 0);
    CHECK_INT(j.endpoint, EP_COMPLETIONS);
    CHECK_INT(j.text_bytes, 4);
    CHECK_INT(j.has_tools, 1);
    CHECK_STR(j.body, "{\"model\":\"davinci\",\"prompt\":\"abcd\",\"functions\":[{\"name\":\"f\"}]}");
    job_release(&j);
}

static void test_anthropic_batch(void)
{
    job_defaults_t d = { NULL, 0, -1, 0 };
    job_t j;

    memset(&j, 0, sizeof j);
    CHECK_INT(parse("{\"custom_id\":\"a-1\",\"params\":{\"model\":\"claude-sonnet-4\","
                    "\"max_tokens\":1024,\"system\":\"sys\",\"messages\":[{\"role\":\"user\","
                    "\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"data\":\"QUFB\"}},"
                    "{\"type\":\"document\",\"source\":{}},{\"type\":\"text\",\"text\":\"describe\"}]}]}}",
                    &d, 9, &j), 0);
    CHECK_STR(j.custom_id, "a-1");
    CHECK_INT(j.dialect, DIALECT_ANTHROPIC);
    CHECK_INT(j.endpoint, EP_MESSAGES);
    CHECK_STR(j.path, "/v1/messages");
    CHECK_STR(j.model, "claude-sonnet-4");
    CHECK_INT(j.max_output, 1024);
    CHECK_INT(j.nontext_parts, 2);
    CHECK_INT(j.n, 1);
    CHECK_INT(j.text_bytes, 3 + 4 + 4 + 8);
    CHECK_STR(j.body, "{\"model\":\"claude-sonnet-4\",\"max_tokens\":1024,\"system\":\"sys\","
                      "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":"
                      "{\"type\":\"base64\",\"data\":\"QUFB\"}},{\"type\":\"document\",\"source\":{}},"
                      "{\"type\":\"text\",\"text\":\"describe\"}]}]}");
    job_release(&j);

    /* max_tokens missing, no default */
    CHECK_INT(parse("{\"custom_id\":\"a\",\"params\":{\"model\":\"claude-x\",\"messages\":[]}}",
                    &d, 1, &j), -1);
    CHECK_STR(err, "Anthropic requests need max_tokens (set it in params or pass --max-tokens)");
    CHECK(j.body == NULL && j.custom_id == NULL && j.model == NULL);

    /* defaults fill model and max_tokens */
    d.model = "claude-haiku";
    d.max_tokens = 300;
    CHECK_INT(parse("{\"custom_id\":\"a\",\"params\":{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}}",
                    &d, 1, &j), 0);
    CHECK_STR(j.body, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                      "\"model\":\"claude-haiku\",\"max_tokens\":300}");
    CHECK_INT(j.max_output, 300);
    CHECK_STR(j.model, "claude-haiku");
    job_release(&j);

    CHECK_INT(parse("{\"params\":{\"model\":\"claude-x\",\"max_tokens\":5,\"messages\":[]}}",
                    &d, 1, &j), -1);
    CHECK_STR(err, "missing \"custom_id\"");
    CHECK_INT(parse("{\"custom_id\":\"a\",\"params\":[1]}", &d, 1, &j), -1);
    CHECK_STR(err, "\"params\" must be an object");
}

static void test_bare(void)
{
    job_defaults_t d = { "gpt-4o-mini", 0, -1, 0 };
    job_t j;
    json_t *b;

    memset(&j, 0, sizeof j);
    /* {"prompt":..} -> chat */
    CHECK_INT(parse("{\"prompt\":\"Tell me a joke\"}", &d, 12, &j), 0);
    CHECK_STR(j.custom_id, "line-12");
    CHECK_INT(j.auto_id, 1);
    CHECK_INT(j.dialect, DIALECT_OPENAI);
    CHECK_INT(j.endpoint, EP_CHAT);
    CHECK_STR(j.path, "/v1/chat/completions");
    CHECK_STR(j.body, "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                      "\"content\":\"Tell me a joke\"}]}");
    CHECK_INT(j.max_output, 0);
    CHECK_INT(j.text_bytes, 4 + 14);
    job_release(&j);

    /* prompt + default max_tokens + other keys kept */
    d.max_tokens = 100;
    CHECK_INT(parse("{\"prompt\":\"hi\",\"temperature\":0}", &d, 1, &j), 0);
    CHECK_STR(j.body, "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\","
                      "\"content\":\"hi\"}],\"temperature\":0,\"max_tokens\":100}");
    CHECK_INT(j.max_output, 100);
    job_release(&j);

    /* prompt with a claude model -> Anthropic messages */
    CHECK_INT(parse("{\"model\":\"claude-3-5-haiku\",\"prompt\":\"hi\"}", &d, 2, &j), 0);
    CHECK_INT(j.dialect, DIALECT_ANTHROPIC);
    CHECK_INT(j.endpoint, EP_MESSAGES);
    CHECK_STR(j.path, "/v1/messages");
    CHECK_STR(j.body, "{\"model\":\"claude-3-5-haiku\",\"messages\":[{\"role\":\"user\","
                      "\"content\":\"hi\"}],\"max_tokens\":100}");
    job_release(&j);

    /* forced dialect overrides inference */
    d.dialect = DIALECT_OPENAI;
    CHECK_INT(parse("{\"model\":\"claude-3-5-haiku\",\"messages\":[]}", &d, 2, &j), 0);
    CHECK_INT(j.dialect, DIALECT_OPENAI);
    CHECK_INT(j.endpoint, EP_CHAT);
    job_release(&j);
    d.dialect = DIALECT_ANTHROPIC;
    CHECK_INT(parse("{\"model\":\"my-model\",\"messages\":[]}", &d, 2, &j), 0);
    CHECK_INT(j.dialect, DIALECT_ANTHROPIC);
    CHECK_INT(j.endpoint, EP_MESSAGES);
    CHECK_INT(j.max_output, 100);
    job_release(&j);
    d.dialect = -1;

    /* messages with its own max_completion_tokens: no default added */
    CHECK_INT(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                    "\"max_completion_tokens\":7}", &d, 3, &j), 0);
    CHECK_STR(j.body, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                      "\"max_completion_tokens\":7,\"model\":\"gpt-4o-mini\"}");
    CHECK_INT(j.max_output, 7);
    job_release(&j);

    /* input: embeddings vs responses */
    CHECK_INT(parse("{\"model\":\"text-embedding-3-small\",\"input\":[\"ab\",\"cde\"]}", &d, 4, &j), 0);
    CHECK_INT(j.endpoint, EP_EMBEDDINGS);
    CHECK_STR(j.path, "/v1/embeddings");
    CHECK_STR(j.body, "{\"model\":\"text-embedding-3-small\",\"input\":[\"ab\",\"cde\"]}");
    CHECK_INT(j.max_output, 0);
    CHECK_INT(j.text_bytes, 5);
    job_release(&j);
    CHECK_INT(parse("{\"model\":\"text-embedding-3-small\",\"input\":[[1,2],[3]]}", &d, 4, &j), 0);
    CHECK_INT(j.text_bytes, 12);
    job_release(&j);
    CHECK_INT(parse("{\"input\":\"question\"}", &d, 5, &j), 0);
    CHECK_INT(j.endpoint, EP_RESPONSES);
    CHECK_STR(j.path, "/v1/responses");
    CHECK_STR(j.body, "{\"input\":\"question\",\"model\":\"gpt-4o-mini\",\"max_output_tokens\":100}");
    CHECK_INT(j.max_output, 100);
    job_release(&j);

    /* a bare line with its own custom_id: used and removed from the body */
    CHECK_INT(parse("{\"custom_id\":\"mine\",\"messages\":[],\"model\":\"m\"}", &d, 6, &j), 0);
    CHECK_STR(j.custom_id, "mine");
    CHECK_INT(j.auto_id, 0);
    b = body_of(&j);
    CHECK(b != NULL && json_object_get(b, "custom_id") == NULL);
    CHECK_STR(json_string_value(json_object_get(b, "model")), "m");
    json_decref(b);
    job_release(&j);

    /* no model anywhere */
    d.model = NULL;
    d.max_tokens = 0;
    CHECK_INT(parse("{\"prompt\":\"x\"}", &d, 1, &j), -1);
    CHECK_STR(err, "no model: set \"model\" or pass --model");
    CHECK_INT(parse("{\"prompt\":\"x\"}", NULL, 1, &j), -1);
    CHECK_STR(err, "no model: set \"model\" or pass --model");
    CHECK_INT(parse("{\"model\":\"m\",\"temperature\":1}", &d, 1, &j), -1);
    CHECK_STR(err, "line needs \"messages\", \"input\" or \"prompt\"");
    CHECK_INT(parse("{\"model\":\"m\",\"prompt\":[1,2]}", &d, 1, &j), -1);
    CHECK_STR(err, "\"prompt\" must be a string");
    CHECK_INT(parse("{\"model\":\"claude-3\",\"messages\":[]}", &d, 1, &j), -1);
    CHECK(strstr(err, "Anthropic requests need max_tokens") == err);
    CHECK_INT(parse("{\"model\":\"claude-3\",\"input\":\"x\"}", &d, 1, &j), -1);
    CHECK(strstr(err, "\"input\"") != NULL);
    CHECK_INT(parse("{\"model\":7,\"messages\":[]}", &d, 1, &j), -1);
    CHECK_STR(err, "\"model\" must be a string");
}

static const struct {
    const char *line;
    const char *want;      /* exact message, or prefix when it ends in '*' */
} bad[] = {
    { "{\"custom_id\":\"a\",", "invalid JSON: *" },
    { "not json", "invalid JSON: *" },
    { "[1,2]", "not a JSON object" },
    { "\"str\"", "not a JSON object" },
    { "42", "not a JSON object" },
    { "{\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\"}}", "missing \"custom_id\"" },
    { "{\"custom_id\":\"\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\"}}",
      "\"custom_id\" is empty" },
    { "{\"custom_id\":5,\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\"}}",
      "\"custom_id\" must be a string" },
    { "{\"custom_id\":\"a\\nb\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\"}}",
      "\"custom_id\" contains a control character" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/foo\",\"body\":{\"model\":\"m\"}}",
      "unsupported url \"/v1/foo\" (supported: /v1/chat/completions, /v1/completions, "
      "/v1/embeddings, /v1/responses, /v1/messages)" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/\\nfoo\",\"body\":{\"model\":\"m\"}}",
      "unsupported url \"/v1/?foo\" *" },
    { "{\"custom_id\":\"a\",\"url\":7,\"body\":{\"model\":\"m\"}}", "\"url\" must be a string" },
    { "{\"custom_id\":\"a\",\"body\":{\"model\":\"m\"}}", "missing \"url\"" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\"}", "missing \"body\"" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":\"x\"}",
      "\"body\" must be an object" },
    { "{\"custom_id\":\"a\",\"method\":\"GET\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\"}}",
      "method must be POST" },
    { "{\"custom_id\":\"a\",\"method\":1,\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\"}}",
      "method must be POST" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\",\"max_tokens\":-5}}",
      "\"max_tokens\" must be a positive integer" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\",\"max_tokens\":0}}",
      "\"max_tokens\" must be a positive integer" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\",\"max_tokens\":10.5}}",
      "\"max_tokens\" must be a positive integer" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\",\"max_tokens\":\"10\"}}",
      "\"max_tokens\" must be a positive integer" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\",\"max_completion_tokens\":0}}",
      "\"max_completion_tokens\" must be a positive integer" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/responses\",\"body\":{\"model\":\"m\",\"max_output_tokens\":-1}}",
      "\"max_output_tokens\" must be a positive integer" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\",\"n\":0}}",
      "\"n\" must be an integer >= 1" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\",\"n\":\"2\"}}",
      "\"n\" must be an integer >= 1" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":{\"messages\":[]}}",
      "no model: set \"model\" or pass --model" },
    { "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"\"}}",
      "\"model\" is empty" },
    { "{\"custom_id\":\"\",\"prompt\":\"x\",\"model\":\"m\"}", "\"custom_id\" is empty" },
    { "{\"custom_id\":\"a\",\"custom_id\":\"b\"", "invalid JSON: *" },
};

static void test_errors(void)
{
    job_defaults_t d = { NULL, 0, -1, 0 };
    job_t j;
    size_t i, wl;
    char id[600], line[800];

    memset(&j, 0, sizeof j);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i].line, &d, 1, &j);

        CHECK_INT(rc, -1);
        wl = strlen(bad[i].want);
        if (bad[i].want[wl - 1] == '*') {
            if (strncmp(err, bad[i].want, wl - 1) != 0)
                fprintf(stderr, "  case %zu: got \"%s\"\n", i, err);
            CHECK(strncmp(err, bad[i].want, wl - 1) == 0);
        } else {
            CHECK_STR(err, bad[i].want);
        }
        CHECK(strchr(err, '\n') == NULL);
        CHECK(j.body == NULL && j.custom_id == NULL && j.model == NULL);
    }
    /* control bytes in jansson's message never reach ours */
    CHECK_INT(parse("{\"a\":\"x\x01y\"}", &d, 1, &j), -1);
    CHECK(strncmp(err, "invalid JSON: ", 14) == 0);
    for (i = 0; err[i]; i++)
        CHECK((unsigned char)err[i] >= 0x20);
    /* invalid JSON names the column */
    CHECK_INT(parse("{\"a\":1,}", &d, 1, &j), -1);
    CHECK(strstr(err, "(column ") != NULL);

    /* custom_id length: 512 ok, 513 refused */
    memset(id, 'x', 512);
    id[512] = '\0';
    snprintf(line, sizeof line, "{\"custom_id\":\"%s\",\"url\":\"/v1/chat/completions\","
             "\"body\":{\"model\":\"m\"}}", id);
    CHECK_INT(parse(line, &d, 1, &j), 0);
    CHECK_INT(strlen(j.custom_id), 512);
    job_release(&j);
    id[512] = 'x';
    id[513] = '\0';
    snprintf(line, sizeof line, "{\"custom_id\":\"%s\",\"url\":\"/v1/chat/completions\","
             "\"body\":{\"model\":\"m\"}}", id);
    CHECK_INT(parse(line, &d, 1, &j), -1);
    CHECK_STR(err, "\"custom_id\" is longer than 512 bytes");

    /* a NUL byte inside the line is rejected, not truncated */
    {
        static const char nul[] = "{\"prompt\":\"a\"}\0junk";
        err[0] = '\0';
        CHECK_INT(job_parse(nul, sizeof nul - 1, 1, &d, &j, err, sizeof err), -1);
        CHECK(strncmp(err, "invalid JSON: ", 14) == 0);
    }
    /* a tiny error buffer is not overrun */
    {
        char small[8];
        memset(small, 'Z', sizeof small);
        CHECK_INT(job_parse("[]", 2, 1, &d, &j, small, 5), -1);
        CHECK_STR(small, "not ");
        CHECK(small[5] == 'Z');
    }
    /* max_tokens null counts as absent */
    CHECK_INT(parse("{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\","
                    "\"max_tokens\":null,\"n\":null}}", &d, 1, &j), 0);
    CHECK_INT(j.max_output, 0);
    CHECK_INT(j.n, 1);
    job_release(&j);
}

/* "\u0000" in a prompt is valid JSON: the line is accepted by both
 * parsers and the escape reaches the body to send intact. */
static void test_nul_escape_in_prompt_is_sent_intact(void)
{
    static const char *const lines[] = {
        "{\"custom_id\":\"a\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"m\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\\u0000y\"}]}}",
        "{\"prompt\":\"x\\u0000y\",\"model\":\"m\"}",
        "{\"custom_id\":\"a\",\"params\":{\"model\":\"claude-x\",\"max_tokens\":5,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\\u0000y\"}]}}",
    };
    job_defaults_t slow = { NULL, 0, -1, 0 }, fast = { NULL, 0, -1, JOB_FAST };
    job_t j;
    size_t i;

    memset(&j, 0, sizeof j);
    for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        int k;
        for (k = 0; k < 2; k++) {
            CHECK_INT(parse(lines[i], k ? &fast : &slow, 1, &j), 0);
            CHECK(j.body && strstr(j.body, "x\\u0000y") != NULL);
            CHECK_INT(j.text_bytes, 7);      /* "user" + the 3 bytes x, NUL, y */
            job_release(&j);
        }
    }
}

/* A UTF-8 byte-order mark is named as such: on line 1 as the file's, on a
 * later line (files joined with cat) as the line's. */
static void test_bom_is_named(void)
{
    job_defaults_t d = { NULL, 0, -1, 0 }, fast = { NULL, 0, -1, JOB_FAST };
    job_t j;
    const char *line = "\xef\xbb\xbf{\"prompt\":\"hi\",\"model\":\"m\"}";

    memset(&j, 0, sizeof j);
    CHECK_INT(parse(line, &d, 1, &j), -1);
    CHECK_STR(err, "the file starts with a UTF-8 byte-order mark (BOM); save it without one");
    CHECK_INT(parse(line, &fast, 1, &j), -1);
    CHECK_STR(err, "the file starts with a UTF-8 byte-order mark (BOM); save it without one");
    CHECK_INT(parse(line, &d, 7, &j), -1);
    CHECK_STR(err, "the line starts with a UTF-8 byte-order mark (BOM); remove it");
    /* a BOM-like sequence inside a string is just text */
    CHECK_INT(parse("{\"prompt\":\"\xef\xbb\xbfhi\",\"model\":\"m\"}", &d, 1, &j), 0);
    job_release(&j);
}

/* Every malformed-JSON message is plain English: "invalid JSON: <what>
 * (<where>)", without the parser's jargon. */
static void test_json_errors_are_plain_english(void)
{
    static const struct { const char *line, *what; } cases[] = {
        { "{\"a\":1", "an object is not closed with '}' or a ',' is missing" },
        { "{\"a\":\"x\ty\"}", "a string holds a raw control character" },
        { "{\"a\":\"\\q\"}", "a string holds an invalid escape after a backslash" },
        { "{\"a\":\"\\ud800\"}", "a \\u escape is not a valid Unicode character" },
        { "{\"a\":99999999999999999999}", "a number is too large" },
        { "{\"a\":-99999999999999999999}", "a number is too large" },
        { "{\"a\":1e999}", "a number is too large" },
        { "{\"a\":foo}", "a word or character that is not JSON" },
        { "{a:1}", "an object key must be a string in double quotes" },
        { "{\"a\" 1}", "a ':' is missing after an object key" },
        { "[1 2]", "an array is not closed with ']' or a ',' is missing" },
        { "{\"a\":1} x", "there is more text after the JSON value" },
        { "{\"a\\u0000\":1}", "an object key holds \\u0000, which is not supported" },
        { "{\"a\":\"\xff\"}", "the text is not valid UTF-8" },
        { "{\"a\":}", "a value is missing" },
        { "\"abc", "the line ends before the JSON value does" },
    };
    static const char *const jargon[] = {
        "token", "expected", "ALLOW_NUL", "near end of file", "decode", "premature",
    };
    job_defaults_t d = { NULL, 0, -1, 0 };
    job_t j;
    size_t i, k;

    memset(&j, 0, sizeof j);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_INT(parse(cases[i].line, &d, 1, &j), -1);
        if (strncmp(err, "invalid JSON: ", 14) != 0 ||
            strncmp(err + 14, cases[i].what, strlen(cases[i].what)) != 0)
            fprintf(stderr, "  case %zu: got \"%s\"\n", i, err);
        CHECK(strncmp(err, "invalid JSON: ", 14) == 0);
        CHECK(strncmp(err + 14, cases[i].what, strlen(cases[i].what)) == 0);
        CHECK(strstr(err, "(column ") != NULL || strstr(err, "(at the end of the line)") != NULL);
        for (k = 0; k < sizeof jargon / sizeof jargon[0]; k++)
            CHECK(strstr(err, jargon[k]) == NULL);
    }
}

int main(void)
{
    test_endpoint_path();
    test_openai_batch();
    test_anthropic_batch();
    test_bare();
    test_errors();
    test_nul_escape_in_prompt_is_sent_intact();
    test_bom_is_named();
    test_json_errors_are_plain_english();
    test_fast_agrees();
    return tap_done();
}

/* JOB_FAST must agree with the full parser wherever it takes a line. */
static const char *const fast_lines[] = {
    "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5}}",
    "{\"custom_id\":\"b\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o\",\"messages\":[],\"max_completion_tokens\":7,\"max_tokens\":9,\"n\":3}}",
    "{ \"custom_id\" : \"c\" , \"url\" : \"/v1/embeddings\" , \"body\" : { \"model\" : \"text-embedding-3-small\" , \"input\" : [\"x\", \"yy\"] } }",
    "{\"custom_id\":\"d\",\"url\":\"/v1/responses\",\"body\":{\"model\":\"gpt-5\",\"input\":\"q\",\"max_output_tokens\":100,\"temperature\":0.7}}",
    "{\"custom_id\":\"e\",\"url\":\"v1/completions\",\"body\":{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"caf\xc3\xa9\"}}",
    "{\"custom_id\":\"f\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"a\\\"b\"}]}}",
    /* lines the fast path must leave to the full parser */
    "{\"custom_id\":\"g\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o\",\"max_tokens\":0}}",
    "{\"custom_id\":\"h\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o\",\"max_tokens\":1.5}}",
    "{\"custom_id\":\"i\",\"method\":\"GET\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o\"}}",
    "{\"custom_id\":\"j\\u0041\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o\"}}",
    "{\"custom_id\":\"k\",\"url\":\"/v1/messages\",\"body\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}}",
    "{\"custom_id\":\"l\",\"url\":\"/v1/chat/completions\",\"body\":{\"messages\":[]}}",
    "{\"custom_id\":\"\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o\"}}",
    "{\"custom_id\":\"m\",\"url\":\"/v1/nope\",\"body\":{\"model\":\"gpt-4o\"}}",
    "{\"custom_id\":\"n\",\"url\":\"/v1/chat/completions\",\"body\":[1]}",
    "{\"custom_id\":\"o\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o\"},}",
    "{\"custom_id\":\"p\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o\",\"n\":-1}}",
    "{\"custom_id\":5,\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"gpt-4o\"}}",
};

static void test_fast_agrees(void)
{
    job_defaults_t slow = { "gpt-4o-mini", 0, -1, 0 }, fast = { "gpt-4o-mini", 0, -1, JOB_FAST };
    char e1[256], e2[256];

    for (size_t i = 0; i < sizeof fast_lines / sizeof *fast_lines; i++) {
        job_t a = {0}, b = {0};
        const char *l = fast_lines[i];
        int ra = job_parse(l, strlen(l), 3, &slow, &a, e1, sizeof e1);
        int rb = job_parse(l, strlen(l), 3, &fast, &b, e2, sizeof e2);

        CHECK_INT(rb, ra);
        if (ra == 0 && rb == 0) {
            json_t *ja = json_loads(a.body, 0, NULL), *jb = json_loads(b.body, 0, NULL);
            CHECK_STR(b.custom_id, a.custom_id);
            CHECK_STR(b.model, a.model);
            CHECK_STR(b.path, a.path);
            CHECK_INT(b.endpoint, a.endpoint);
            CHECK_INT(b.dialect, a.dialect);
            CHECK_INT(b.max_output, a.max_output);
            CHECK_INT(b.n, a.n);
            CHECK_INT(b.text_bytes, a.text_bytes);
            CHECK(ja && jb && json_equal(ja, jb));
            json_decref(ja);
            json_decref(jb);
        } else {
            CHECK_STR(e2, e1);          /* same message: the full parser decided */
        }
        job_release(&a);
        job_release(&b);
    }
}
