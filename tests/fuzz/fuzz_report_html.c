/*
 * fuzz_report_html: the input as a run report JSON, rendered by
 * report_html_render (report_html.h), and its "timeline" member (or the
 * whole input) read by timeline_from_json (timeline.h).
 *
 * Invariants: any JSON object renders (the renderer never refuses data,
 * only memory); the page holds exactly REPORT_HTML_CHARTS <svg> elements,
 * and no <script> element (report strings may mention URLs, as text); a timeline that loads
 * round-trips through timeline_to_json unchanged and holds at most
 * TIMELINE_CAP points in non-decreasing time.
 */
#include "fuzz_util.h"

#include "report_html.h"
#include "timeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0, k = strlen(needle);

    for (const char *p = hay; (p = strstr(p, needle)); p += k)
        n++;
    return n;
}

static void check_timeline(const json_t *j)
{
    static timeline_t a, b;
    json_t *again;

    if (timeline_from_json(&a, j) != 0) {
        FUZZ_CHECK(a.n == 0);
        return;
    }
    FUZZ_CHECK(a.n <= TIMELINE_CAP);
    for (size_t i = 1; i < a.n; i++)
        FUZZ_CHECK(a.pts[i].t >= a.pts[i - 1].t);
    again = timeline_to_json(&a);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(timeline_from_json(&b, again) == 0);
    FUZZ_CHECK(b.n == a.n && b.interval == a.interval);
    FUZZ_CHECK(memcmp(a.pts, b.pts, a.n * sizeof(a.pts[0])) == 0);
    json_decref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    buf_t b = BUF_INIT;

    if (!j)
        return 0;
    check_timeline(json_is_object(json_object_get(j, "timeline"))
                   ? json_object_get(j, "timeline") : j);
    if (json_is_object(j)) {
        FUZZ_CHECK(report_html_render(j, &b) == 0);
        FUZZ_CHECK(count(b.data, "<svg") == REPORT_HTML_CHARTS);
        FUZZ_CHECK(count(b.data, "<script") == 0);
    } else {
        FUZZ_CHECK(report_html_render(j, &b) == -1);
    }
    buf_release(&b);
    json_decref(j);
    return 0;
}
