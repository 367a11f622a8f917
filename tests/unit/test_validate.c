/*
 * test_validate: the validation pass (formats/validate.c, scan_input) over
 * small files written by the test: duplicate custom_ids with the line of the
 * first occurrence (generated "line-N" ids included), invalid lines, the
 * --skip-invalid list (ascending ordinals with reasons), blank lines and job
 * numbering, unpriced models under --budget, and the report limit.
 */
#include "tap.h"
#include "validate.h"

#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];
static char input_path[128], prices_path[128];
static char out[8192];          /* what scan_input printed */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");

    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(text, 1, strlen(text), f) == strlen(text));
    fclose(f);
}

/* Runs scan_input on `text`; the messages land in `out`. */
static int scan_text(const char *text, scan_opts_t o, scan_result_t *r)
{
    FILE *err = tmpfile();
    size_t n = 0;
    int rc;

    write_text(input_path, text);
    CHECK(err != NULL);
    o.err = err;
    o.name = "in.jsonl";
    if (!o.max_report)
        o.max_report = 100;
    rc = scan_input(input_path, &o, r);
    out[0] = '\0';
    if (err) {
        rewind(err);
        n = fread(out, 1, sizeof out - 1, err);
        out[n] = '\0';
        fclose(err);
    }
    return rc;
}

static const job_defaults_t DEFS = { "m", 16, -1, 0 };

static void test_duplicates_name_the_first_line(void)
{
    scan_opts_t o = { &DEFS, NULL, 0, 0, 0, 0, NULL, NULL, 0 };
    scan_result_t r;

    CHECK_INT(scan_text("{\"custom_id\":\"a\",\"prompt\":\"x\"}\n"
                        "{\"custom_id\":\"b\",\"prompt\":\"x\"}\n"
                        "\n"
                        "{\"custom_id\":\"a\",\"prompt\":\"y\"}\n"
                        "{\"custom_id\":\"a\",\"prompt\":\"z\"}\n", o, &r), 2);
    CHECK_STR(out, "in.jsonl:4: duplicate custom_id \"a\" (first at line 1)\n"
                   "in.jsonl:5: duplicate custom_id \"a\" (first at line 1)\n");
    CHECK_INT(r.invalid, 2);
    CHECK_INT(r.jobs, 4);
    CHECK_INT(r.lines, 5);
    scan_result_release(&r);

    /* no duplicates: nothing printed, rc 0 */
    CHECK_INT(scan_text("{\"custom_id\":\"a\",\"prompt\":\"x\"}\n"
                        "{\"custom_id\":\"A\",\"prompt\":\"x\"}\n", o, &r), 0);
    CHECK_STR(out, "");
    CHECK_INT(r.invalid, 0);
    scan_result_release(&r);
}

/* A generated id ("line-N", for a line without custom_id) that an explicit
 * custom_id elsewhere also uses is a duplicate, in either order. */
static void test_generated_ids_collide_with_explicit_ones(void)
{
    scan_opts_t o = { &DEFS, NULL, 0, 0, 0, 0, NULL, NULL, 0 };
    scan_result_t r;

    /* explicit first, generated later */
    CHECK_INT(scan_text("{\"custom_id\":\"line-3\",\"prompt\":\"x\"}\n"
                        "{\"prompt\":\"y\"}\n"
                        "{\"prompt\":\"z\"}\n", o, &r), 2);
    CHECK_STR(out, "in.jsonl:3: duplicate custom_id \"line-3\": this line has no custom_id "
                   "and is given that id, which line 1 already uses\n");
    scan_result_release(&r);
    /* generated first, explicit later */
    CHECK_INT(scan_text("{\"prompt\":\"y\"}\n"
                        "{\"custom_id\":\"line-1\",\"prompt\":\"x\"}\n", o, &r), 2);
    CHECK_STR(out, "in.jsonl:2: duplicate custom_id \"line-1\" (first at line 1, which has "
                   "no custom_id and is given that id)\n");
    scan_result_release(&r);
    /* generated ids alone never collide */
    CHECK_INT(scan_text("{\"prompt\":\"a\"}\n{\"prompt\":\"a\"}\n{\"prompt\":\"a\"}\n", o, &r), 0);
    CHECK_STR(out, "");
    scan_result_release(&r);
}

static void test_invalid_lines_are_reported_with_file_and_line(void)
{
    scan_opts_t o = { &DEFS, NULL, 0, 0, 0, 0, NULL, NULL, 0 };
    scan_result_t r;

    CHECK_INT(scan_text("{\"prompt\":\"ok\"}\n"
                        "not json\n"
                        "[1]\n"
                        "{\"custom_id\":\"a\",\"url\":\"/v1/nope\",\"body\":{}}\n", o, &r), 2);
    CHECK(strncmp(out, "in.jsonl:2: invalid JSON: ", 26) == 0);
    CHECK(strstr(out, "\nin.jsonl:3: not a JSON object\n") != NULL);
    CHECK(strstr(out, "\nin.jsonl:4: unsupported url \"/v1/nope\"") != NULL);
    CHECK_INT(r.invalid, 3);
    CHECK_INT(r.jobs, 4);
    CHECK(r.bad == NULL);                        /* only with skip_invalid */
    scan_result_release(&r);

    /* the report limit: 2 shown, then "and N more" */
    o.max_report = 2;
    CHECK_INT(scan_text("x\ny\nz\nw\n", o, &r), 2);
    CHECK(strstr(out, "in.jsonl:1: ") != NULL);
    CHECK(strstr(out, "in.jsonl:2: ") != NULL);
    CHECK(strstr(out, "in.jsonl:3: ") == NULL);
    CHECK(strstr(out, "in.jsonl: ... and 2 more problems\n") != NULL);
    scan_result_release(&r);

    /* a file that is not there */
    CHECK_INT(scan_input("/nonexistent/in.jsonl", &o, &r), -1);
    scan_result_release(&r);
}

/* With skip_invalid the pass succeeds and lists the invalid jobs by ordinal
 * (the index among non-blank lines), ascending, each with its reason, even
 * when duplicates are only found in the second pass. */
static void test_skip_invalid_lists_bad_jobs_in_order(void)
{
    scan_opts_t o = { &DEFS, NULL, 0, 1, 0, 0, NULL, NULL, 0 };
    scan_result_t r;
    size_t i;
    static const uint64_t want_ord[] = { 1, 3, 4 };
    static const int want_why[] = { SCAN_BAD_DUP, SCAN_BAD_PARSE, SCAN_BAD_DUP };

    CHECK_INT(scan_text("{\"custom_id\":\"a\",\"prompt\":\"x\"}\n"      /* ord 0 */
                        "{\"custom_id\":\"a\",\"prompt\":\"x\"}\n"      /* ord 1: dup */
                        "\n  \n"
                        "{\"custom_id\":\"b\",\"prompt\":\"x\"}\n"      /* ord 2 */
                        "oops\n"                                          /* ord 3: parse */
                        "{\"custom_id\":\"b\",\"prompt\":\"x\"}\n",     /* ord 4: dup */
                        o, &r), 0);
    CHECK_INT(r.invalid, 3);
    CHECK_INT(r.nbad, 3);
    for (i = 0; i < 3 && i < r.nbad; i++) {
        CHECK_INT(SCAN_BAD_ORD(r.bad[i]), want_ord[i]);
        CHECK_INT(SCAN_BAD_REASON(r.bad[i]), want_why[i]);
    }
    scan_result_release(&r);
}

/* Blank lines (spaces and tabs only) are not jobs and take no ordinal;
 * line numbers in messages still count them. */
static void test_blank_lines_are_skipped_but_counted_as_lines(void)
{
    scan_opts_t o = { &DEFS, NULL, 0, 1, 0, 0, NULL, NULL, 0 };
    scan_result_t r;

    CHECK_INT(scan_text("\n \t \n{\"prompt\":\"a\"}\n\t\nbad\n\n", o, &r), 0);
    CHECK_INT(r.lines, 6);
    CHECK_INT(r.jobs, 2);
    CHECK_INT(r.nbad, 1);
    if (r.nbad == 1) {
        CHECK_INT(SCAN_BAD_ORD(r.bad[0]), 1);
        CHECK_INT(SCAN_BAD_REASON(r.bad[0]), SCAN_BAD_PARSE);
    }
    CHECK(strncmp(out, "in.jsonl:5: invalid JSON", 24) == 0);
    scan_result_release(&r);
}

/* Under --budget (need_prices) a model without a price is an error; without
 * it, the job is counted as unpriced. */
static void test_unpriced_models_under_need_prices(void)
{
    char err[256];
    prices_t *p;
    scan_opts_t o = { &DEFS, NULL, 1, 0, 1, 0, NULL, NULL, 0 };
    scan_result_t r;
    const char *text = "{\"prompt\":\"hello\",\"model\":\"known\"}\n"
                       "{\"prompt\":\"hello\",\"model\":\"unknown\"}\n";

    write_text(prices_path, "{\"models\":{\"known\":{\"input\":1,\"output\":2,"
                            "\"max_output_tokens\":100}}}");
    p = prices_load(prices_path, err, sizeof err);
    CHECK(p != NULL);
    if (!p)
        return;
    o.prices = p;
    CHECK_INT(scan_text(text, o, &r), 2);
    CHECK_STR(out, "in.jsonl:2: model \"unknown\" is not in the price table, so its cost "
                   "cannot be bounded under --budget (add it with --prices FILE)\n");
    CHECK_INT(r.invalid, 1);
    CHECK(r.worst > 0);
    scan_result_release(&r);

    o.need_prices = 0;
    CHECK_INT(scan_text(text, o, &r), 0);
    CHECK_STR(out, "");
    CHECK_INT(r.unpriced, 1);
    CHECK_INT(r.nmodels, 2);
    CHECK_INT(r.invalid, 0);
    scan_result_release(&r);

    /* with skip_invalid the unpriced job is listed as a price problem */
    o.need_prices = 1;
    o.skip_invalid = 1;
    CHECK_INT(scan_text(text, o, &r), 0);
    CHECK_INT(r.nbad, 1);
    if (r.nbad == 1) {
        CHECK_INT(SCAN_BAD_ORD(r.bad[0]), 1);
        CHECK_INT(SCAN_BAD_REASON(r.bad[0]), SCAN_BAD_PRICE);
    }
    scan_result_release(&r);
    prices_free(p);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/llmb_validate_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(input_path, sizeof input_path, "%s/in.jsonl", tmpdir);
    snprintf(prices_path, sizeof prices_path, "%s/prices.json", tmpdir);
    test_duplicates_name_the_first_line();
    test_generated_ids_collide_with_explicit_ones();
    test_invalid_lines_are_reported_with_file_and_line();
    test_skip_invalid_lists_bad_jobs_in_order();
    test_blank_lines_are_skipped_but_counted_as_lines();
    test_unpriced_models_under_need_prices();
    unlink(input_path);
    unlink(prices_path);
    rmdir(tmpdir);
    return tap_done();
}
