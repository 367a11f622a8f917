/*
 * timeline: bounded series of cumulative run counters (see timeline.h).
 *
 * Invariants: n <= TIMELINE_CAP; pts[0..n) have non-decreasing t; the
 * interval only grows (it doubles at each thinning).  Thinning keeps the
 * even-indexed points and the last one, so the first and the latest
 * samples always survive.
 */
#include <math.h>
#include <string.h>
#include "timeline.h"

#define NCOLS 11
static const char *const columns[NCOLS] = {
    "t", "done", "succeeded", "failed", "spent_pp", "requests_sent", "n429",
    "errors", "tokens_in", "tokens_out", "inflight"
};

void timeline_init(timeline_t *tl)
{
    memset(tl, 0, sizeof(*tl));
    tl->interval = 1.0;
}

void timeline_release(timeline_t *tl)
{
    timeline_init(tl);
}

static void thin(timeline_t *tl)
{
    size_t k = 0;

    for (size_t i = 0; i + 1 < tl->n; i += 2)
        tl->pts[k++] = tl->pts[i];
    tl->pts[k++] = tl->pts[tl->n - 1];
    tl->n = k;
    if (tl->interval < 1e12)
        tl->interval *= 2;
}

static int add(timeline_t *tl, const tl_sample_t *s, int force)
{
    const tl_sample_t *last = tl->n ? &tl->pts[tl->n - 1] : NULL;

    if (!isfinite(s->t) || s->t < 0)
        return -1;
    if (last && s->t < last->t)
        return 0;
    if (last && s->t - last->t < tl->interval) {
        if (!force)
            return 0;
        if (s->t == last->t) {
            tl->pts[tl->n - 1] = *s;
            return 1;
        }
    }
    if (tl->n == TIMELINE_CAP)
        thin(tl);
    tl->pts[tl->n++] = *s;
    return 1;
}

int timeline_add(timeline_t *tl, const tl_sample_t *s)
{
    return add(tl, s, 0);
}

int timeline_add_final(timeline_t *tl, const tl_sample_t *s)
{
    return add(tl, s, 1);
}

json_t *timeline_to_json(const timeline_t *tl)
{
    json_t *j = json_object(), *cols = json_array(), *pts = json_array();

    if (!j || !cols || !pts) {
        json_decref(j);
        json_decref(cols);
        json_decref(pts);
        return NULL;
    }
    /* j owns cols and pts from here on (set_new steals even on failure) */
    if (json_object_set_new(j, "columns", cols) ||
        json_object_set_new(j, "points", pts) ||
        json_object_set_new(j, "version", json_integer(TIMELINE_VERSION)) ||
        json_object_set_new(j, "interval_s", json_real(tl->interval)))
        goto fail;
    for (int i = 0; i < NCOLS; i++)
        if (json_array_append_new(cols, json_string(columns[i])))
            goto fail;
    for (size_t i = 0; i < tl->n; i++) {
        const tl_sample_t *p = &tl->pts[i];
        json_t *a = json_pack("[f,I,I,I,I,I,I,I,I,I,I]", p->t,
                              (json_int_t)p->done, (json_int_t)p->succeeded,
                              (json_int_t)p->failed, (json_int_t)p->spent_pp,
                              (json_int_t)p->requests_sent, (json_int_t)p->n429,
                              (json_int_t)p->errors, (json_int_t)p->tokens_in,
                              (json_int_t)p->tokens_out, (json_int_t)p->inflight);
        if (json_array_append_new(pts, a))
            goto fail;
    }
    return j;
fail:
    json_decref(j);
    return NULL;
}

static int counter(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int point_from(const json_t *a, tl_sample_t *p)
{
    uint64_t spent;
    const json_t *t = json_array_get(a, 0);

    if (!json_is_array(a) || json_array_size(a) != NCOLS || !json_is_number(t))
        return -1;
    p->t = json_number_value(t);
    if (!isfinite(p->t) || p->t < 0 ||
        counter(json_array_get(a, 1), &p->done) ||
        counter(json_array_get(a, 2), &p->succeeded) ||
        counter(json_array_get(a, 3), &p->failed) ||
        counter(json_array_get(a, 4), &spent) ||
        counter(json_array_get(a, 5), &p->requests_sent) ||
        counter(json_array_get(a, 6), &p->n429) ||
        counter(json_array_get(a, 7), &p->errors) ||
        counter(json_array_get(a, 8), &p->tokens_in) ||
        counter(json_array_get(a, 9), &p->tokens_out) ||
        counter(json_array_get(a, 10), &p->inflight))
        return -1;
    p->spent_pp = (int64_t)spent;
    return 0;
}

int timeline_from_json(timeline_t *tl, const json_t *j)
{
    const json_t *cols = json_object_get(j, "columns");
    const json_t *pts = json_object_get(j, "points");
    const json_t *iv = json_object_get(j, "interval_s");
    double interval;
    size_t n;

    timeline_init(tl);
    if (!json_is_object(j) || !json_is_integer(json_object_get(j, "version")) ||
        json_integer_value(json_object_get(j, "version")) != TIMELINE_VERSION ||
        !json_is_number(iv) || !json_is_array(cols) || !json_is_array(pts) ||
        json_array_size(cols) != NCOLS)
        return -1;
    interval = json_number_value(iv);
    if (!isfinite(interval) || interval < 1.0 || interval > 1e12)
        return -1;
    for (int i = 0; i < NCOLS; i++) {
        const char *c = json_string_value(json_array_get(cols, (size_t)i));
        if (!c || strcmp(c, columns[i]) != 0)
            return -1;
    }
    n = json_array_size(pts);
    if (n > TIMELINE_CAP)
        return -1;
    for (size_t i = 0; i < n; i++) {
        tl_sample_t *p = &tl->pts[i];
        if (point_from(json_array_get(pts, i), p) || (i > 0 && p->t < tl->pts[i - 1].t)) {
            timeline_init(tl);
            return -1;
        }
    }
    tl->n = n;
    tl->interval = interval;
    return 0;
}
