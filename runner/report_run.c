/*
 * report_run: the JSON cost report, the stderr summary, and `llmbatch
 * report` (see report_run.h).  Reads the run's state; owns nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "output.h"
#include "reader.h"
#include "report_html_cmd.h"
#include "report_run.h"
#include "run_int.h"
#include "timeline.h"

static const timeline_t *report_timeline;   /* see report_set_timeline() */

void report_set_timeline(const timeline_t *tl)
{
    report_timeline = tl;
}

static const char *stop_name(int stop, int exit_code)
{
    if (exit_code == RUN_EXIT_OK || exit_code == RUN_EXIT_FAILED)
        return "completed";
    switch (stop) {
    case STOP_BUDGET: return "budget";
    case STOP_NOKEY:  return "no_usable_key";
    case STOP_SIGNAL: return "interrupted";
    case STOP_IO:     return "io_error";
    }
    return "completed";
}

static json_t *build_report(run_ctx_t *c, int exit_code)
{
    const stats_t *s = &c->stats;
    const run_opts_t *o = c->o;
    uint64_t total = stats_total_jobs(s, ckpt_jobs(&c->ckpt));
    uint64_t done = s->succeeded + s->failed;
    json_t *r, *keys = json_object(), *status = stats_by_status_json(s), *alerts = json_array();
    uint64_t n429 = s->rate_limited;
    money_t spent = ledger_spent(&c->ledger);

    for (size_t i = 0; i < s->nkeys; i++) {
        const key_stats_t *k = &s->keys[i];
        json_object_set_new(keys, k->name, json_pack(
            "{s:I,s:I,s:I,s:o,s:I,s:s,s:s}",
            "requests", (json_int_t)k->requests, "tokens_in", (json_int_t)k->tokens_in,
            "tokens_out", (json_int_t)k->tokens_out, "cost_usd", json_usd(k->cost),
            "rate_limited_429", (json_int_t)k->n429, "state", k->state,
            "reason", k->reason));
    }
    for (int i = 0; i < o->nalerts; i++)
        json_array_append_new(alerts, json_pack("{s:i,s:b}", "percent", (int)o->alerts[i],
                                                "crossed", (s->alerts_fired >> i) & 1));
    r = json_pack("{s:i,s:i,s:s,s:s,s:s,s:s}",
                  "llmbatch_report", 1, "exit_code", exit_code,
                  "stop_reason", stop_name(c->stop, exit_code),
                  "input", o->input, "results", o->results, "errors", c->files.errors_path);
    if (!r)
        return NULL;
    json_object_set_new(r, "jobs", json_pack("{s:I,s:I,s:I,s:I,s:I}",
        "total", (json_int_t)total, "succeeded", (json_int_t)s->succeeded,
        "failed", (json_int_t)s->failed, "pending", (json_int_t)(total > done ? total - done : 0),
        "invalid", (json_int_t)s->invalid));
    json_object_set_new(r, "cost_usd", json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I}",
        "total", json_usd(spent),
        "budget", o->have_budget ? json_usd(o->budget) : json_null(),
        "remaining", o->have_budget ? json_usd(o->budget - spent) : json_null(),
        "reserved_unconfirmed", json_usd(s->unconfirmed),
        "estimated", json_usd(s->estimated),
        "possibly_billed_failures", json_usd(s->possibly_billed),
        "overrun", json_usd(c->ledger.budget.overrun),
        "total_pp", (json_int_t)spent));
    json_object_set_new(r, "tokens", stats_usage_json(&s->tok));
    json_object_set_new(r, "by_model", stats_by_model_json(s));
    json_object_set_new(r, "by_key", keys);
    json_object_set_new(r, "http", json_pack("{s:I,s:I,s:o,s:I,s:I,s:I}",
        "requests_sent", (json_int_t)s->requests_sent, "retries", (json_int_t)s->retries,
        "by_status", status, "rate_limited_429", (json_int_t)n429,
        "network_errors", (json_int_t)s->network_errors, "timeouts", (json_int_t)s->timeouts));
    json_object_set_new(r, "latency_ms", json_pack("{s:f,s:f,s:f}",
        "p50", stats_latency_pct(s, 50), "p90", stats_latency_pct(s, 90),
        "p99", stats_latency_pct(s, 99)));
    json_object_set_new(r, "latency_hist", stats_latency_hist_json(s));
    if (report_timeline)
        json_object_set_new(r, "timeline", timeline_to_json(report_timeline));
    json_object_set_new(r, "elapsed_s", json_real(s->elapsed_s));
    json_object_set_new(r, "runs", json_integer(s->runs));
    json_object_set_new(r, "run_log", stats_runlog_json(s));
    json_object_set_new(r, "cache", json_pack("{s:b,s:I,s:I,s:I,s:o}",
        "enabled", c->cache != NULL && cache_usable(c->cache),
        "hits", (json_int_t)s->cache_hits, "misses", (json_int_t)s->cache_misses,
        "coalesced", (json_int_t)s->coalesced, "saved_usd", json_usd(s->cache_saved)));
    json_object_set_new(r, "alerts", alerts);
    json_object_set_new(r, "prices", json_pack("{s:s,s:s,s:s}",
        "file", c->prices && c->prices->path ? c->prices->path : "",
        "updated", c->prices && c->prices->updated ? c->prices->updated : "",
        "source", c->prices && c->prices->source ? c->prices->source : ""));
    return r;
}

static void summary(run_ctx_t *c, int exit_code)
{
    const stats_t *s = &c->stats;
    uint64_t total = stats_total_jobs(s, ckpt_jobs(&c->ckpt));
    uint64_t done = s->succeeded + s->failed, e5 = 0;
    char a[32], b[32], u[32], e[32];

    if (c->o->quiet)
        return;
    for (int i = 500; i < 600; i++)
        e5 += s->by_status[i];
    money_format(ledger_spent(&c->ledger), 4, a, sizeof(a));
    money_format(s->unconfirmed, 4, u, sizeof(u));
    money_format(s->estimated, 4, e, sizeof(e));
    fprintf(stderr, "llmbatch: %s after %.1f s: %llu jobs, %llu succeeded, %llu failed, "
            "%llu pending\n", stop_name(c->stop, exit_code), s->elapsed_s,
            (unsigned long long)total, (unsigned long long)s->succeeded,
            (unsigned long long)s->failed,
            (unsigned long long)(total > done ? total - done : 0));
    if (c->o->have_budget) {
        money_format_min(c->o->budget, 2, b, sizeof(b));
        fprintf(stderr, "  spend     $%s of $%s budget (possibly billed at crashes $%s, "
                "estimated $%s)\n", a, b, u, e);
    } else {
        fprintf(stderr, "  spend     $%s (possibly billed at crashes $%s, estimated $%s)\n",
                a, u, e);
    }
    fprintf(stderr, "  %-28s %9s %12s %12s %12s\n", "model", "requests", "input tok",
            "output tok", "cost USD");
    for (size_t i = 0; i < s->nmodels; i++) {
        const model_stats_t *m = &s->models[i];
        money_format(m->cost, 4, a, sizeof(a));
        fprintf(stderr, "  %-28.28s %9llu %12llu %12llu %12s\n", m->model,
                (unsigned long long)m->requests,
                (unsigned long long)(m->tok.input + m->tok.cached_input + m->tok.cache_write),
                (unsigned long long)m->tok.output, m->unpriced ? "unpriced" : a);
    }
    fprintf(stderr, "  http      %llu requests, %llu retries, %llu rate-limited (429), "
            "%llu 5xx, %llu network errors, %llu timeouts\n",
            (unsigned long long)s->requests_sent, (unsigned long long)s->retries,
            (unsigned long long)s->rate_limited, (unsigned long long)e5,
            (unsigned long long)s->network_errors, (unsigned long long)s->timeouts);
    if (s->cache_hits || s->coalesced) {
        money_format(s->cache_saved, 4, a, sizeof(a));
        fprintf(stderr, "  cache     %llu hits, %llu coalesced duplicates, $%s saved\n",
                (unsigned long long)s->cache_hits, (unsigned long long)s->coalesced, a);
    }
    for (size_t i = 0; i < c->keys.n; i++) {
        const api_key_t *k = &c->keys.v[i];
        if (k->state == KEY_EXHAUSTED || k->state == KEY_INVALID || exit_code == RUN_EXIT_NOKEY)
            fprintf(stderr, "  key %-12s %s%s%s\n", k->name, key_state_name(k->state),
                    k->reason[0] ? ": " : "", k->reason);
    }
    fprintf(stderr, "  results   %s\n  errors    %s\n  report    %s\n",
            c->o->results, c->files.errors_path, c->files.report_path);
    if (c->o->html_file)
        fprintf(stderr, "  html      %s\n", c->o->html_file);
    switch (exit_code) {
    case RUN_EXIT_BUDGET:
        fprintf(stderr, "llmbatch: stopped at the spend cap: the next job's worst-case cost "
                "does not fit in what is left of --budget.  Rerun the same command with a "
                "larger --budget to continue.\n");
        break;
    case RUN_EXIT_NOKEY:
        fprintf(stderr, "llmbatch: stopped: no usable API key left.  Rerun with a working "
                "key (or --keys-file) to continue.\n");
        break;
    case RUN_EXIT_SIGINT:
    case RUN_EXIT_SIGTERM:
        fprintf(stderr, "llmbatch: interrupted; rerun the same command to resume.\n");
        break;
    default:
        break;
    }
}

void report_finish(run_ctx_t *c, int exit_code)
{
    json_t *r;
    char *text;

    run_sync_stats(c);
    r = build_report(c, exit_code);
    text = r ? json_dumps(r, JSON_INDENT(2)) : NULL;
    if (!text || write_file_atomic(c->files.report_path, text, strlen(text)) != 0)
        fprintf(stderr, "llmbatch: cannot write the report %s: %s\n", c->files.report_path,
                text ? strerror(errno) : "out of memory");
    free(text);
    if (r && c->o->html_file)
        report_html_write(r, c->o->html_file);
    json_decref(r);
    summary(c, exit_code);
}

void report_html_live(run_ctx_t *c)
{
    json_t *r;

    if (!c->o->html_file)
        return;
    run_sync_stats(c);
    if ((r = build_report(c, RUN_EXIT_OK))) {
        json_object_set_new(r, "stop_reason", json_string("running"));
        json_object_set_new(r, "live", json_true());
        report_html_write(r, c->o->html_file);
    }
    json_decref(r);
}
