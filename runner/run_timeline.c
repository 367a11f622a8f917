/*
 * run_timeline: the run's timeline and its sidecar file (see
 * run_timeline.h).
 *
 * Owns one timeline_t (static: one run per process) and its sidecar path.
 * Time axis: t = base + seconds since this run started, where base is the
 * run time of earlier runs (the checkpoint's elapsed_s, or the sidecar's
 * last t if a killed run got further than its checkpoint recorded), so a
 * resumed run continues the curves instead of overwriting them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "output.h"
#include "report_run.h"
#include "run_int.h"
#include "run_timeline.h"
#include "timeline.h"

#define SAVE_EVERY_MS 5000

static struct {
    int        started;
    timeline_t tl;
    double     base_s;
    char      *path;               /* NULL: not kept (input from stdin) */
    int64_t    last_tick_ms, last_save_ms, last_html_ms;
} g;

static void load(run_ctx_t *c)
{
    size_t n = strlen(c->files.ckpt_path) + 16;
    json_t *j;

    g.started = 1;
    timeline_init(&g.tl);
    g.base_s = c->stats.elapsed_s;
    report_set_timeline(&g.tl);
    if (c->files.spooled || !(g.path = malloc(n)))
        return;
    snprintf(g.path, n, "%s.timeline.json", c->files.ckpt_path);
    if (c->stats.runs <= 1)
        return;                     /* a new job: an old sidecar is stale */
    j = json_load_file(g.path, 0, NULL);
    if (j && timeline_from_json(&g.tl, j) != 0 && !c->o->quiet)
        fprintf(stderr, "llmbatch: warning: %s is unreadable; the HTML report's charts "
                "start again from this run\n", g.path);
    json_decref(j);
    if (g.tl.n && g.tl.pts[g.tl.n - 1].t > g.base_s)
        g.base_s = g.tl.pts[g.tl.n - 1].t;
}

static void sample(run_ctx_t *c, int64_t now_ms, tl_sample_t *s)
{
    const stats_t *st = &c->stats;
    uint64_t e5 = 0;
    int n;

    for (int i = 500; i < 600; i++)
        e5 += st->by_status[i];
    memset(s, 0, sizeof(*s));
    s->t = g.base_s + (double)(now_ms - c->start_ms) / 1000.0;
    s->done = st->succeeded + st->failed;
    s->succeeded = st->succeeded;
    s->failed = st->failed;
    s->spent_pp = ledger_spent(&c->ledger);
    s->requests_sent = st->requests_sent;
    s->n429 = st->by_status[429];
    s->errors = e5 + st->network_errors + st->timeouts;
    s->tokens_in = st->tok.input + st->tok.cached_input + st->tok.cache_write;
    s->tokens_out = st->tok.output;
    n = c->backend ? c->backend->inflight(c) : 0;
    s->inflight = n > 0 ? (uint64_t)n : 0;
}

void run_timeline_tick(run_ctx_t *c)
{
    int64_t now = clock_mono_ms();
    tl_sample_t s;

    if (!g.started || now - g.last_tick_ms < 1000)
        return;
    g.last_tick_ms = now;
    sample(c, now, &s);
    timeline_add(&g.tl, &s);
}

static void save(void)
{
    json_t *j = timeline_to_json(&g.tl);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    /* charts only: a failure is reported, never fatal */
    if (!text || write_file_atomic(g.path, text, strlen(text)) != 0)
        fprintf(stderr, "llmbatch: warning: cannot write %s\n", g.path);
    free(text);
    json_decref(j);
}

void run_timeline_commit(run_ctx_t *c, int final)
{
    int64_t now = clock_mono_ms();
    tl_sample_t s;

    if (!g.started)
        load(c);
    /* the run's final elapsed_s is already added: keep t on this run's clock */
    sample(c, now, &s);
    if (final)
        timeline_add_final(&g.tl, &s);
    else if (timeline_add(&g.tl, &s) == 1)
        g.last_tick_ms = now;
    if (g.path && (final || now - g.last_save_ms >= SAVE_EVERY_MS)) {
        save();
        g.last_save_ms = now;
    }
    if (final) {
        free(g.path);               /* the timeline itself stays for the report */
        g.path = NULL;
    }
    /* budget group commits can come many times a second: the page at most
     * once a second (the end of the run writes the last one anyway) */
    if (!final && (g.last_html_ms == 0 || now - g.last_html_ms >= 1000)) {
        report_html_live(c);
        g.last_html_ms = now;
    }
}
