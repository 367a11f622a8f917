/*
 * test_report_html: the HTML report renderer and its chart and number
 * helpers (formats/report_html.c, formats/svgchart.c): escaping of every
 * report string, the same set of charts whatever the data (empty, one
 * sample, thinned timelines, huge and mistyped values), no non-finite
 * coordinates, and the number formats.
 */
#include <ctype.h>
#include <stdlib.h>
#include "tap.h"
#include "report_html.h"
#include "svgchart.h"
#include "timeline.h"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0, k = strlen(needle);

    for (const char *p = hay; (p = strstr(p, needle)); p += k)
        n++;
    return n;
}

/* Renders; checks the invariants every page keeps; returns the page. */
static char *render_ok(json_t *r, const char *what)
{
    buf_t b = BUF_INIT;
    char *lower;

    if (report_html_render(r, &b) != 0) {
        fprintf(stderr, "FAIL render %s\n", what);
        CHECK(0);
        buf_release(&b);
        return NULL;
    }
    CHECK_INT(count(b.data, "<svg"), REPORT_HTML_CHARTS);
    CHECK_INT(count(b.data, "</svg>"), REPORT_HTML_CHARTS);
    CHECK_INT(count(b.data, "<section"), count(b.data, "</section>"));
    CHECK_INT(count(b.data, "<script"), 0);
    CHECK_INT(count(b.data, "http://") + count(b.data, "https://"), 0);
    CHECK(strncmp(b.data, "<!DOCTYPE html>", 15) == 0);
    CHECK(strstr(b.data, "</html>") != NULL);
    lower = strdup(b.data);
    if (lower) {
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (strstr(lower, "nan") || strstr(lower, "inf\"") || strstr(lower, "inf ") ||
            strstr(lower, "inf,") || strstr(lower, "inf%") || strstr(lower, "(inf")) {
            fprintf(stderr, "FAIL non-finite number in page %s\n", what);
            CHECK(0);
        }
        free(lower);
    }
    return buf_detach(&b, NULL);
}

static void test_escaping(void)
{
    const char *h = "<script>alert(\"a&b\")</script>'";
    const char *esc = "&lt;script&gt;alert(&quot;a&amp;b&quot;)&lt;/script&gt;&#39;";
    json_t *r = json_pack("{s:i,s:s,s:s,s:s,s:{s:{s:f,s:i}},s:{s:{s:i,s:s,s:s}},"
                          "s:{s:{s:i}},s:{s:s,s:s}}",
                          "llmbatch_report", 1, "stop_reason", h, "input", h, "results", h,
                          "by_model", h, "cost_usd", 1.5, "input_tokens", 10,
                          "by_key", h, "requests", 3, "state", h, "reason", h,
                          "http", "by_status", h, 4,
                          "prices", "file", h, "updated", h);
    char *page = render_ok(r, "hostile");
    buf_t b = BUF_INIT;

    if (page) {
        CHECK(count(page, esc) >= 8);
        CHECK_INT(count(page, h), 0);
    }
    free(page);
    json_decref(r);
    CHECK_INT(html_escape(&b, h), 0);
    CHECK_STR(b.data, esc);
    CHECK_INT(html_escape(&b, NULL), 0);
    buf_release(&b);
    CHECK_INT(report_html_render(NULL, &b), -1);
    r = json_string("x");
    CHECK_INT(report_html_render(r, &b), -1);
    json_decref(r);
    buf_release(&b);
}

static json_t *report_with(const timeline_t *tl, double scale)
{
    json_t *hist = json_array();
    json_t *r = json_pack("{s:i,s:s,s:{s:f,s:f,s:f},s:{s:f,s:f,s:I},s:{s:f,s:f},"
                          "s:{s:{s:f,s:f,s:f,s:b}},s:{s:{s:f,s:s}},s:{s:f,s:{s:f,s:f}},"
                          "s:f,s:f}",
                          "llmbatch_report", 1, "stop_reason", "completed",
                          "jobs", "total", 100 * scale, "succeeded", 90 * scale,
                          "failed", 10 * scale,
                          "cost_usd", "total", 2 * scale, "budget", 5 / (scale ? scale : 1),
                          "total_pp", (json_int_t)2000000000000,
                          "tokens", "input", 1e4 * scale, "output", 2e3 * scale,
                          "by_model", "m", "cost_usd", 2 * scale, "input_tokens", 1e4 * scale,
                          "output_tokens", 2e3 * scale, "priced", 1,
                          "by_key", "k", "requests", 110 * scale, "state", "cooling",
                          "http", "requests_sent", 120 * scale, "by_status", "200",
                          100 * scale, "503", 20 * scale,
                          "elapsed_s", 3600 * scale, "runs", 3.0);
    for (int b = 3; b < 12; b++)
        json_array_append_new(hist, json_pack("{s:I,s:f}", "le_ms", (json_int_t)(1 << b) - 1,
                                              "count", (double)(b * 7 % 5) * scale));
    json_object_set_new(r, "latency_hist", hist);
    if (tl)
        json_object_set_new(r, "timeline", timeline_to_json(tl));
    return r;
}

static void test_shapes(void)
{
    timeline_t *tl = malloc(sizeof(*tl));
    const double scales[] = { 0, 1, 1e-9, 1e15, 1e300 };
    char *page;
    json_t *r;

    if (!tl) {
        CHECK(0);
        return;
    }
    timeline_init(tl);
    for (size_t k = 0; k < sizeof(scales) / sizeof(scales[0]); k++) {
        /* 0 samples, 1 sample, a thinned long run */
        for (int len = 0; len < 3; len++) {
            int n = len == 0 ? 0 : len == 1 ? 1 : 5000;
            timeline_init(tl);
            for (int i = 0; i < n; i++) {
                tl_sample_t s = { (double)i, (uint64_t)i, (uint64_t)i, 0,
                                  (int64_t)i * 1000000, (uint64_t)i * 2, (uint64_t)i / 9,
                                  (uint64_t)i / 13, (uint64_t)i * 50, (uint64_t)i * 9,
                                  (uint64_t)(i % 7) };
                timeline_add(tl, &s);
            }
            r = report_with(tl, scales[k]);
            page = render_ok(r, "shapes");
            if (page && n == 0)
                CHECK(strstr(page, "No timeline") != NULL);
            if (page && n == 1)
                CHECK(strstr(page, "Needs two samples") != NULL);
            if (page && n > 1)
                CHECK(count(page, "<polyline") >= 4);
            free(page);
            json_decref(r);
        }
    }
    /* no timeline member at all, and a mistyped one */
    r = report_with(NULL, 1);
    page = render_ok(r, "no timeline");
    CHECK(page && strstr(page, "No timeline in this report"));
    free(page);
    json_object_set_new(r, "timeline", json_string("garbage"));
    json_object_set_new(r, "by_model", json_integer(3));
    json_object_set_new(r, "by_key", json_array());
    json_object_set_new(r, "latency_hist", json_pack("[i,s,{s:s}]", 1, "x", "le_ms", "y"));
    json_object_set_new(r, "jobs", json_null());
    page = render_ok(r, "mistyped");
    CHECK(page && strstr(page, "unreadable"));
    free(page);
    json_decref(r);
    /* the emptiest report */
    r = json_object();
    page = render_ok(r, "empty");
    CHECK(page && strstr(page, "no budget set"));
    free(page);
    json_decref(r);
    /* many models and keys: bounded bars, the rest summed */
    r = report_with(NULL, 1);
    {
        json_t *models = json_object(), *keys = json_object();
        for (int i = 0; i < 40; i++) {
            char name[32];
            snprintf(name, sizeof(name), "model-%02d", i);
            json_object_set_new(models, name, json_pack("{s:f}", "cost_usd", (double)i));
            snprintf(name, sizeof(name), "key-%02d", i);
            json_object_set_new(keys, name, json_pack("{s:i,s:s}", "requests", i, "state", "ok"));
        }
        json_object_set_new(r, "by_model", models);
        json_object_set_new(r, "by_key", keys);
    }
    page = render_ok(r, "many");
    if (page) {
        CHECK(strstr(page, "25 other models") != NULL);
        CHECK(strstr(page, "model-39") != NULL);       /* the costliest is shown */
        CHECK(strstr(page, "key-39") != NULL);         /* every key is in the table */
    }
    free(page);
    json_decref(r);
    free(tl);
}

static const char *f(void (*fn)(double, char *, size_t), double v)
{
    static char out[64];
    fn(v, out, sizeof(out));
    return out;
}

static void test_formats(void)
{
    CHECK_STR(f(fmt_count, 0), "0");
    CHECK_STR(f(fmt_count, 1234567), "1,234,567");
    CHECK_STR(f(fmt_count, 999), "999");
    CHECK_STR(f(fmt_count, 1e300), "1e+300");
    CHECK_STR(f(fmt_usd, 0), "$0.00");
    CHECK_STR(f(fmt_usd, 0.0123), "$0.0123");
    CHECK_STR(f(fmt_usd, 0.000456), "$0.000456");
    CHECK_STR(f(fmt_usd, 1234.5), "$1,234.50");
    CHECK_STR(f(fmt_usd, 2.999), "$3.00");
    CHECK_STR(f(fmt_si, 1500), "1.5k");
    CHECK_STR(f(fmt_si, 2e6), "2M");
    CHECK_STR(f(fmt_si, 0.25), "0.25");
    CHECK_STR(f(fmt_duration, 3.25), "3.2 s");
    CHECK_STR(f(fmt_duration, 65), "1 min 05 s");
    CHECK_STR(f(fmt_duration, 7260), "2 h 01 min");
    CHECK_STR(f(fmt_duration, 90000), "1 d 01 h");
    CHECK_STR(f(fmt_duration, -5), "0.0 s");
}

int main(void)
{
    test_escaping();
    test_shapes();
    test_formats();
    return tap_done();
}
