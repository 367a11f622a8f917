/*
 * test_timeline: sampling interval, bounded thinning that keeps the first
 * and last points, forced final samples, the JSON round trip, and refusal
 * of malformed timelines (formats/timeline.c).
 */
#include <math.h>
#include <stdlib.h>
#include "tap.h"
#include "timeline.h"

static tl_sample_t sample(double t)
{
    tl_sample_t s;
    uint64_t k = (uint64_t)(t * 10);

    memset(&s, 0, sizeof(s));
    s.t = t;
    s.done = k;
    s.succeeded = k - k / 10;
    s.failed = k / 10;
    s.spent_pp = (int64_t)k * 1000000;
    s.requests_sent = k + k / 5;
    s.n429 = k / 7;
    s.errors = k / 11;
    s.tokens_in = k * 100;
    s.tokens_out = k * 40;
    s.inflight = k % 17;
    return s;
}

static int sorted(const timeline_t *tl)
{
    for (size_t i = 1; i < tl->n; i++)
        if (tl->pts[i].t < tl->pts[i - 1].t)
            return 0;
    return 1;
}

static void test_interval(void)
{
    timeline_t tl;
    tl_sample_t s;

    timeline_init(&tl);
    s = sample(0);
    CHECK_INT(timeline_add(&tl, &s), 1);
    s = sample(0.4);
    CHECK_INT(timeline_add(&tl, &s), 0);            /* too soon */
    s = sample(1.0);
    CHECK_INT(timeline_add(&tl, &s), 1);
    s = sample(0.5);
    CHECK_INT(timeline_add(&tl, &s), 0);            /* backwards */
    CHECK_INT(timeline_add_final(&tl, &s), 0);
    s = sample(1.5);
    CHECK_INT(timeline_add_final(&tl, &s), 1);      /* forced */
    CHECK_INT(tl.n, 3);
    s = sample(1.5);
    s.done = 999;
    CHECK_INT(timeline_add_final(&tl, &s), 1);      /* same t: replaces */
    CHECK_INT(tl.n, 3);
    CHECK_INT(tl.pts[2].done, 999);
    s.t = NAN;
    CHECK_INT(timeline_add(&tl, &s), -1);
    s.t = -1;
    CHECK_INT(timeline_add_final(&tl, &s), -1);
    s.t = INFINITY;
    CHECK_INT(timeline_add(&tl, &s), -1);
    CHECK_INT(tl.n, 3);
    timeline_release(&tl);
    CHECK_INT(tl.n, 0);
}

static void test_thinning(void)
{
    timeline_t *tl = malloc(sizeof(*tl));
    tl_sample_t s;
    size_t max_n = 0;
    int stored = 0;

    if (!tl) {
        CHECK(0);
        return;
    }
    timeline_init(tl);
    /* 10 hours at 10 samples a second: far more than the capacity */
    for (int i = 0; i <= 360000; i++) {
        s = sample(i / 10.0);
        if (timeline_add(tl, &s) == 1)
            stored++;
        if (tl->n > max_n)
            max_n = tl->n;
    }
    CHECK(max_n <= TIMELINE_CAP);
    CHECK(tl->n > TIMELINE_CAP / 2);
    CHECK(stored > TIMELINE_CAP);
    CHECK(tl->interval >= 64);                      /* 36000 s / 600 points */
    CHECK(tl->pts[0].t == 0);                       /* first kept */
    CHECK(sorted(tl));
    /* the latest stored sample is the last point, and cumulative counts are intact */
    CHECK(tl->pts[tl->n - 1].t > 36000 - 2 * tl->interval);
    CHECK_INT(tl->pts[tl->n - 1].done, (uint64_t)(tl->pts[tl->n - 1].t * 10));
    /* spacing is about the interval (after thinning, at least half of it) */
    for (size_t i = 1; i + 1 < tl->n; i++)
        if (tl->pts[i].t - tl->pts[i - 1].t < tl->interval / 2 - 1e-9) {
            CHECK(0);
            break;
        }
    /* a forced final sample lands even when the timeline is full */
    while (tl->n < TIMELINE_CAP) {
        s = sample(tl->pts[tl->n - 1].t + tl->interval);
        CHECK_INT(timeline_add(tl, &s), 1);
    }
    s = sample(tl->pts[tl->n - 1].t + 0.1);
    CHECK_INT(timeline_add_final(tl, &s), 1);
    CHECK(tl->n <= TIMELINE_CAP);
    CHECK(tl->pts[tl->n - 1].t == s.t);
    CHECK(tl->pts[0].t == 0);
    free(tl);
}

static void test_json(void)
{
    timeline_t *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    json_t *j;
    char *text;

    if (!a || !b) {
        CHECK(0);
        free(a);
        free(b);
        return;
    }
    timeline_init(a);
    for (int i = 0; i < 1500; i++) {
        tl_sample_t s = sample(i * 0.75);
        timeline_add(a, &s);
    }
    j = timeline_to_json(a);
    CHECK(j != NULL);
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    j = json_loads(text ? text : "", 0, NULL);
    free(text);
    CHECK_INT(timeline_from_json(b, j), 0);
    json_decref(j);
    CHECK_INT(b->n, a->n);
    CHECK(b->interval == a->interval);
    CHECK(memcmp(b->pts, a->pts, a->n * sizeof(a->pts[0])) == 0);
    /* the restored timeline keeps sampling where it left off */
    {
        tl_sample_t s = sample(b->pts[b->n - 1].t + b->interval / 4);
        CHECK_INT(timeline_add(b, &s), 0);
        s = sample(b->pts[b->n - 1].t + b->interval);
        CHECK_INT(timeline_add(b, &s), 1);
    }
    /* empty timeline */
    timeline_init(a);
    j = timeline_to_json(a);
    CHECK_INT(timeline_from_json(b, j), 0);
    CHECK_INT(b->n, 0);
    json_decref(j);
    free(a);
    free(b);
}

static const char *const cols =
    "[\"t\",\"done\",\"succeeded\",\"failed\",\"spent_pp\",\"requests_sent\",\"n429\","
    "\"errors\",\"tokens_in\",\"tokens_out\",\"inflight\"]";

static int parses(const char *fmt_points, const char *version, const char *interval,
                  const char *columns)
{
    char text[4096];
    json_t *j;
    timeline_t *tl = malloc(sizeof(*tl));
    int r;

    if (!tl)
        return -2;
    snprintf(text, sizeof(text), "{\"version\":%s,\"interval_s\":%s,\"columns\":%s,"
             "\"points\":%s}", version, interval, columns, fmt_points);
    j = json_loads(text, 0, NULL);
    if (!j) {
        free(tl);
        return -2;
    }
    r = timeline_from_json(tl, j);
    if (r != 0 && tl->n != 0)
        r = -3;                                     /* refused but not emptied */
    json_decref(j);
    free(tl);
    return r;
}

static void test_garbage(void)
{
    timeline_t tl;
    const char *p1 = "[[0,1,1,0,5,1,0,0,10,4,1],[1.5,2,2,0,9,2,0,0,20,8,0]]";
    json_t *j;
    char big[16];

    CHECK_INT(parses(p1, "1", "1", cols), 0);
    CHECK_INT(parses(p1, "2", "1", cols), -1);                 /* version */
    CHECK_INT(parses(p1, "\"1\"", "1", cols), -1);
    CHECK_INT(parses(p1, "1", "0", cols), -1);                 /* interval */
    CHECK_INT(parses(p1, "1", "-4", cols), -1);
    CHECK_INT(parses(p1, "1", "\"x\"", cols), -1);
    CHECK_INT(parses(p1, "1", "1", "[\"t\"]"), -1);            /* columns */
    CHECK_INT(parses(p1, "1", "1", "{}"), -1);
    CHECK_INT(parses("{}", "1", "1", cols), -1);               /* points */
    CHECK_INT(parses("[1,2]", "1", "1", cols), -1);
    CHECK_INT(parses("[[0,1,1,0,5,1,0,0,10,4]]", "1", "1", cols), -1);     /* short */
    CHECK_INT(parses("[[0,1,1,0,5,1,0,0,10,4,1,7]]", "1", "1", cols), -1); /* long */
    CHECK_INT(parses("[[0,-1,1,0,5,1,0,0,10,4,1]]", "1", "1", cols), -1);  /* negative */
    CHECK_INT(parses("[[0,1.5,1,0,5,1,0,0,10,4,1]]", "1", "1", cols), -1); /* non-integer */
    CHECK_INT(parses("[[\"0\",1,1,0,5,1,0,0,10,4,1]]", "1", "1", cols), -1);
    CHECK_INT(parses("[[0,1,1,0,null,1,0,0,10,4,1]]", "1", "1", cols), -1);
    CHECK_INT(parses("[[-1,1,1,0,5,1,0,0,10,4,1]]", "1", "1", cols), -1);  /* t < 0 */
    /* t going backwards, after a valid point: refused and emptied */
    CHECK_INT(parses("[[5,1,1,0,5,1,0,0,10,4,1],[4,1,1,0,5,1,0,0,10,4,1]]", "1", "1", cols), -1);
    CHECK_INT(timeline_from_json(&tl, NULL), -1);
    j = json_string("timeline");
    CHECK_INT(timeline_from_json(&tl, j), -1);
    json_decref(j);
    /* more points than the capacity */
    {
        json_t *pts = json_array();
        for (int i = 0; i <= TIMELINE_CAP; i++)
            json_array_append_new(pts, json_pack("[i,i,i,i,i,i,i,i,i,i,i]", i, 0, 0, 0, 0,
                                                 0, 0, 0, 0, 0, 0));
        j = json_pack("{s:i,s:i,s:o,s:o}", "version", 1, "interval_s", 1,
                      "columns", json_loads(cols, 0, NULL), "points", pts);
        CHECK_INT(timeline_from_json(&tl, j), -1);
        CHECK_INT(tl.n, 0);
        json_decref(j);
    }
    snprintf(big, sizeof(big), "%d", 1);
    CHECK_INT(parses("[]", big, "1", cols), 0);
}

int main(void)
{
    test_interval();
    test_thinning();
    test_json();
    test_garbage();
    return tap_done();
}
