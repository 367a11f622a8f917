/*
 * progress: what a person (or a monitor) sees while a run goes on.
 *   - stderr is a terminal: one line redrawn at most 10 times a second;
 *   - otherwise: a plain log line every 10 s;
 *   - --status-file: the same counters as JSON, replaced atomically each second;
 *   - --metrics: Prometheus text format (node_exporter textfile collector),
 *     replaced atomically each second.
 * --quiet silences stderr.  The line uses no colour, so NO_COLOR needs nothing.
 * Reads the run's state; owns nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "output.h"
#include "promtext.h"
#include "run_int.h"

static uint64_t total_jobs(const run_ctx_t *c)
{
    return stats_total_jobs(&c->stats, ckpt_jobs(&c->ckpt));
}

/* Replaces path with data via rename; no fsync (monitoring, not state). */
static void replace_file(const char *path, const char *data, size_t len)
{
    char tmp[4200];
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (write(fd, data, len) != (ssize_t)len) {
        close(fd);
        unlink(tmp);
        return;
    }
    close(fd);
    if (rename(tmp, path) != 0)
        unlink(tmp);
}

static void update_rates(run_ctx_t *c, int64_t now)
{
    double dt = (double)(now - c->prog.rate_prev_ms) / 1000.0;

    if (c->prog.rate_prev_ms == 0) {
        c->prog.rate_prev_ms = now;
        c->prog.rate_done_prev = c->prog.done_this_run;
        c->prog.rate_tok_prev = c->prog.tokens_this_run;
        return;
    }
    if (dt < 1.0)
        return;
    /* exponentially weighted, ~5 s */
    {
        double rps = (double)(c->prog.done_this_run - c->prog.rate_done_prev) / dt;
        double tps = (double)(c->prog.tokens_this_run - c->prog.rate_tok_prev) / dt;
        double a = dt / 5.0 > 1 ? 1 : dt / 5.0;
        c->prog.rate_rps = c->prog.rate_rps ? c->prog.rate_rps + a * (rps - c->prog.rate_rps) : rps;
        c->prog.rate_tps = c->prog.rate_tps ? c->prog.rate_tps + a * (tps - c->prog.rate_tps) : tps;
    }
    c->prog.rate_prev_ms = now;
    c->prog.rate_done_prev = c->prog.done_this_run;
    c->prog.rate_tok_prev = c->prog.tokens_this_run;
}

static void fmt_eta(double s, char *out, size_t n)
{
    if (s <= 0 || s > 86400.0 * 365)
        snprintf(out, n, "--");
    else if (s >= 3600)
        snprintf(out, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else
        snprintf(out, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void check_alerts(run_ctx_t *c)
{
    money_t spent;

    if (!c->o->have_budget || c->o->budget <= 0)
        return;
    spent = ledger_spent(&c->ledger);
    for (int i = 0; i < c->o->nalerts; i++) {
        money_t at = (money_t)((__int128)c->o->budget * c->o->alerts[i] / 100);
        if (!((c->stats.alerts_fired >> i) & 1) && spent >= at) {
            char a[32], b[32];
            c->stats.alerts_fired |= 1u << i;
            money_format(spent, 4, a, sizeof(a));
            money_format_min(c->o->budget, 2, b, sizeof(b));
            fprintf(stderr, "%sllmbatch: alert: spend $%s crossed %u%% of the $%s budget\n",
                    c->prog.tty ? "\r\033[K" : "", a, c->o->alerts[i], b);
        }
    }
}

static void write_status(run_ctx_t *c, int64_t now)
{
    uint64_t total = total_jobs(c), done = c->stats.succeeded + c->stats.failed;
    json_t *j;
    char *text;
    int64_t now_ns = clock_mono_ns();
    json_t *keys = json_object();

    for (size_t i = 0; i < c->keys.n; i++)
        json_object_set_new(keys, c->keys.v[i].name,
                            json_string(key_state_name(keys_state(&c->keys.v[i], now_ns))));
    j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:i,s:I,s:f,s:f,s:o,s:o,s:o,s:I,s:f,s:o}",
                  "total", (json_int_t)total, "done", (json_int_t)done,
                  "succeeded", (json_int_t)c->stats.succeeded,
                  "failed", (json_int_t)c->stats.failed,
                  "pending", (json_int_t)(total > done ? total - done : 0),
                  "in_flight", c->backend->inflight(c), "retries", (json_int_t)c->stats.retries,
                  "requests_per_s", c->prog.rate_rps, "tokens_per_s", c->prog.rate_tps,
                  "spent_usd", json_usd(ledger_spent(&c->ledger)),
                  "budget_usd", c->o->have_budget ? json_usd(c->o->budget) : json_null(),
                  "reserved_usd", json_usd(c->ledger.budget.reserved),
                  "requests_sent", (json_int_t)c->stats.requests_sent,
                  "elapsed_s", (double)(now - c->start_ms) / 1000.0,
                  "keys", keys);
    if (j && c->adm.long_wait_until_ns > now_ns)
        json_object_set_new(j, "waiting", json_pack("{s:f,s:s}", "seconds",
                            (double)(c->adm.long_wait_until_ns - now_ns) / 1e9,
                            "why", c->adm.long_wait_why));
    text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text) {
        size_t n = strlen(text);
        text[n] = '\n';
        replace_file(c->o->status_file, text, n + 1);
        text[n] = '\0';
    }
    free(text);
    json_decref(j);
}

static void write_metrics(run_ctx_t *c)
{
    buf_t b = BUF_INIT;
    uint64_t total = total_jobs(c), done = c->stats.succeeded + c->stats.failed;
    int64_t now_ns = clock_mono_ns();
    const usage_t *u = &c->stats.tok;

    buf_puts(&b, "# HELP llmbatch_jobs Jobs by state.\n# TYPE llmbatch_jobs gauge\n");
    buf_printf(&b, "llmbatch_jobs{state=\"succeeded\"} %llu\n", (unsigned long long)c->stats.succeeded);
    buf_printf(&b, "llmbatch_jobs{state=\"failed\"} %llu\n", (unsigned long long)c->stats.failed);
    buf_printf(&b, "llmbatch_jobs{state=\"pending\"} %llu\n",
               (unsigned long long)(total > done ? total - done : 0));
    buf_printf(&b, "llmbatch_jobs{state=\"in_flight\"} %d\n", c->backend->inflight(c));
    buf_puts(&b, "# HELP llmbatch_spend_usd Money spent (settled) across runs.\n# TYPE llmbatch_spend_usd gauge\n");
    buf_printf(&b, "llmbatch_spend_usd %.9f\n", money_to_usd(ledger_spent(&c->ledger)));
    buf_printf(&b, "llmbatch_reserved_usd %.9f\n", money_to_usd(c->ledger.budget.reserved));
    if (c->o->have_budget)
        buf_printf(&b, "llmbatch_budget_usd %.9f\n", money_to_usd(c->o->budget));
    buf_puts(&b, "# HELP llmbatch_tokens_total Tokens by kind.\n# TYPE llmbatch_tokens_total counter\n");
    buf_printf(&b, "llmbatch_tokens_total{kind=\"input\"} %llu\n", (unsigned long long)u->input);
    buf_printf(&b, "llmbatch_tokens_total{kind=\"cached_input\"} %llu\n", (unsigned long long)u->cached_input);
    buf_printf(&b, "llmbatch_tokens_total{kind=\"cache_write\"} %llu\n", (unsigned long long)u->cache_write);
    buf_printf(&b, "llmbatch_tokens_total{kind=\"output\"} %llu\n", (unsigned long long)u->output);
    buf_puts(&b, "# HELP llmbatch_requests_total HTTP responses by status.\n# TYPE llmbatch_requests_total counter\n");
    for (int i = 1; i < 600; i++)
        if (c->stats.by_status[i])
            buf_printf(&b, "llmbatch_requests_total{status=\"%d\"} %llu\n", i,
                       (unsigned long long)c->stats.by_status[i]);
    buf_printf(&b, "llmbatch_requests_total{status=\"network_error\"} %llu\n",
               (unsigned long long)c->stats.network_errors);
    buf_printf(&b, "llmbatch_requests_total{status=\"timeout\"} %llu\n",
               (unsigned long long)c->stats.timeouts);
    buf_puts(&b, "# HELP llmbatch_rate_limited_total 429 responses.\n# TYPE llmbatch_rate_limited_total counter\n");
    buf_printf(&b, "llmbatch_rate_limited_total %llu\n", (unsigned long long)c->stats.rate_limited);
    buf_printf(&b, "llmbatch_retries_total %llu\n", (unsigned long long)c->stats.retries);
    buf_puts(&b, "# HELP llmbatch_key_state 1 for the state each key is in.\n# TYPE llmbatch_key_state gauge\n");
    for (size_t i = 0; i < c->keys.n; i++) {
        key_state_t st = keys_state(&c->keys.v[i], now_ns);
        for (int s = KEY_OK; s <= KEY_INVALID; s++) {
            buf_puts(&b, "llmbatch_key_state{key=\"");
            prom_label_value(&b, c->keys.v[i].name);
            buf_printf(&b, "\",state=\"%s\"} %d\n", key_state_name((key_state_t)s),
                       st == (key_state_t)s);
        }
    }
    if (b.len)
        replace_file(c->o->metrics_file, b.data, b.len);
    buf_release(&b);
}

/* " | waiting 59m12s: why" for a wait over a minute, else "". */
static void wait_text(const run_ctx_t *c, char *out, size_t n)
{
    int64_t left = c->adm.long_wait_until_ns - clock_mono_ns();
    char t[32];

    out[0] = '\0';
    if (!c->adm.long_wait_until_ns || left <= 0)
        return;
    fmt_eta((double)left / 1e9, t, sizeof(t));
    snprintf(out, n, " | waiting %s: %s", t, c->adm.long_wait_why);
}

/* One log line when a long wait begins: its reason and when it ends. */
static void log_long_wait(run_ctx_t *c)
{
    int64_t until = c->adm.long_wait_until_ns, left;
    time_t end;
    struct tm tm;
    char when[32];

    if (!until || until == c->prog.wait_logged_ns || c->o->quiet)
        return;
    c->prog.wait_logged_ns = until;
    left = until - clock_mono_ns();
    end = (time_t)(clock_wall_ms() / 1000 + left / 1000000000LL);
    gmtime_r(&end, &tm);
    strftime(when, sizeof(when), "%H:%M:%S UTC", &tm);
    fprintf(stderr, "%sllmbatch: waiting %.0f s, until %s: %s\n", c->prog.tty ? "\r\033[K" : "",
            (double)left / 1e9, when, c->adm.long_wait_why);
}

static void draw_line(run_ctx_t *c, int64_t now, int tty)
{
    char waiting[260];

    uint64_t total = total_jobs(c), done = c->stats.succeeded + c->stats.failed;
    char eta[32], spent[32], budget[32] = "";
    double remaining = total > done ? (double)(total - done) : 0;

    fmt_eta(c->prog.rate_rps > 0 ? remaining / c->prog.rate_rps : 0, eta, sizeof(eta));
    money_format(ledger_spent(&c->ledger), 4, spent, sizeof(spent));
    if (c->o->have_budget) {
        char b[32];
        money_format_min(c->o->budget, 2, b, sizeof(b));
        snprintf(budget, sizeof(budget), "/$%s", b);
    }
    wait_text(c, waiting, sizeof(waiting));
    fprintf(stderr, "%s%llu/%llu (%.1f%%) | %.0f req/s %.0f tok/s | $%s%s | ETA %s | "
            "in-flight %d, retries %llu, failed %llu%s%s",
            tty ? "\r\033[K" : "llmbatch: ",
            (unsigned long long)done, (unsigned long long)total,
            total ? 100.0 * (double)done / (double)total : 0.0, c->prog.rate_rps, c->prog.rate_tps,
            spent, budget, eta, c->backend->inflight(c), (unsigned long long)c->stats.retries,
            (unsigned long long)c->stats.failed, waiting, tty ? "" : "\n");
    (void)now;
}

void progress_tick(run_ctx_t *c, int force)
{
    int64_t now = clock_mono_ms();

    if (force && c->prog.last_draw_ms == 0) {
        c->prog.tty = c->o->progress == 1 ||
                          (c->o->progress == -1 && isatty(STDERR_FILENO));
        if (c->o->quiet)
            c->prog.tty = 0;
    }
    update_rates(c, now);
    check_alerts(c);
    log_long_wait(c);
    if (!c->o->quiet) {
        if (c->prog.tty && (force || now - c->prog.last_draw_ms >= 100)) {
            draw_line(c, now, 1);
            c->prog.last_draw_ms = now;
        } else if (!c->prog.tty && now - c->prog.last_log_ms >= 10000) {
            if (c->prog.last_log_ms)
                draw_line(c, now, 0);
            c->prog.last_log_ms = now;
        }
    }
    if ((c->o->status_file || c->o->metrics_file) &&
        (force || now - c->prog.last_status_ms >= 1000)) {
        if (c->o->status_file)
            write_status(c, now);
        if (c->o->metrics_file)
            write_metrics(c);
        c->prog.last_status_ms = now;
    }
}

void progress_finish(run_ctx_t *c)
{
    progress_tick(c, 1);
    if (c->prog.tty && !c->o->quiet)
        fputc('\n', stderr);
}
