/*
 * report_html: the run report as one HTML page (see report_html.h).
 *
 * Owns nothing beyond one render call: the timeline and the sorted views of
 * the report's objects are allocated here and freed before returning.  The
 * page is written top to bottom into the caller's buffer; `page_t.err`
 * becomes set at the first failed append and the page is then abandoned.
 * Invariant: no byte of the report reaches the page unescaped (html_escape
 * or a number format).
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "report_html.h"
#include "svgchart.h"
#include "timeline.h"

#define MAX_BARS 15           /* per bar chart; the rest are summed in one bar */
#define MAX_KEY_ROWS 200

typedef struct page {
    buf_t *b;
    int    err;
} page_t;

static void put(page_t *p, const char *s)
{
    if (buf_puts(p->b, s))
        p->err = 1;
}

static void putf(page_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(page_t *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (buf_vprintf(p->b, fmt, ap))
        p->err = 1;
    va_end(ap);
}

static void esc(page_t *p, const char *s)
{
    if (html_escape(p->b, s))
        p->err = 1;
}

static void chart(page_t *p, int rc)
{
    if (rc)
        p->err = 1;
}

static double jnum(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    double d = json_is_number(v) ? json_number_value(v) : 0;
    return isfinite(d) ? d : 0;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static double pct(double part, double whole)
{
    double v = whole > 0 ? 100.0 * part / whole : 0;
    return isfinite(v) ? (v > 1e9 ? 1e9 : v) : 0;
}

static const char CSS[] =
":root{--fg:#0f172a;--mut:#64748b;--bg:#f1f5f9;--card:#fff;--line:#e2e8f0}"
"*{box-sizing:border-box}"
"body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"
"'Segoe UI',Roboto,'Helvetica Neue',Arial,'Noto Sans','Liberation Sans',sans-serif}"
"main{max-width:1180px;margin:0 auto;padding:24px 20px 40px}"
"header{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 14px}"
"h1{font-size:22px;margin:0}h2{font-size:16px;margin:0 0 12px}"
".sub{color:var(--mut);margin:2px 0 0;flex-basis:100%;overflow-wrap:anywhere}"
".badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;"
"font-weight:600;background:#e2e8f0;color:#334155;white-space:nowrap}"
".ok{background:#dcfce7;color:#166534}.warn{background:#fef3c7;color:#92400e}"
".bad{background:#fee2e2;color:#991b1b}"
".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(165px,1fr));gap:12px;"
"margin:18px 0}"
".card{background:var(--card);border:1px solid var(--line);border-radius:10px;"
"padding:14px 16px}"
".card .k{color:var(--mut);font-size:12px;text-transform:uppercase;letter-spacing:.05em}"
".card .v{font-size:26px;font-weight:650;margin-top:2px;font-variant-numeric:tabular-nums;"
"white-space:nowrap}"
".card .v.red{color:#b91c1c}.card .v.green{color:#15803d}"
".card .s{color:var(--mut);font-size:12.5px}"
".meter{height:6px;background:#e2e8f0;border-radius:3px;margin-top:8px;overflow:hidden}"
".meter>span{display:block;height:100%;background:#2563eb}"
".meter.hot>span{background:#dc2626}"
".panel{background:var(--card);border:1px solid var(--line);border-radius:10px;"
"padding:16px 18px;margin:14px 0}"
".grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(400px,1fr));gap:18px}"
"figure{margin:0}figcaption{font-weight:600;font-size:13px;color:#334155;margin-bottom:4px}"
"svg.chart{width:100%;max-width:760px;height:auto;display:block;font-family:inherit}"
"svg .grid{stroke:#eef2f7}svg .axis{stroke:#94a3b8}"
"svg .tick{fill:#64748b;font-size:12.5px}svg .legend{fill:#334155;font-size:13px}"
"svg .blabel{fill:#334155;font-size:13.5px}svg .bvalue{fill:#475569;font-size:13px}"
"svg .empty{fill:#94a3b8;font-size:15px}"
"svg .ref{stroke:#dc2626;stroke-dasharray:6 4;stroke-width:1.5}"
"svg .reflabel{fill:#b91c1c;font-size:12.5px}"
"table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;margin-top:10px}"
"th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:right}"
"th{color:var(--mut);font-weight:600;font-size:12px;white-space:nowrap}"
"th.l,td.l{text-align:left;overflow-wrap:anywhere}"
".note{color:var(--mut);font-size:12.5px;margin:6px 0 0}"
"dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}"
"dt{color:var(--mut)}dd{margin:0;overflow-wrap:anywhere}"
"@media print{body{background:#fff}.panel,.card{break-inside:avoid}}";

/* ---- headline ---------------------------------------------------------- */

static void card(page_t *p, const char *k, const char *vclass, const char *v)
{
    putf(p, "<div class=\"card\"><div class=\"k\">%s</div><div class=\"v%s%s\">", k,
         vclass ? " " : "", vclass ? vclass : "");
    esc(p, v);
    put(p, "</div><div class=\"s\">");
}

static void meter(page_t *p, double percent, int hot)
{
    if (percent < 0)
        percent = 0;
    if (percent > 100)
        percent = 100;
    putf(p, "<div class=\"meter%s\"><span style=\"width:%.1f%%\"></span></div>",
         hot ? " hot" : "", percent);
}

static void headline(page_t *p, const json_t *r)
{
    const json_t *jobs = json_object_get(r, "jobs"), *cost = json_object_get(r, "cost_usd");
    const json_t *tok = json_object_get(r, "tokens"), *budget = json_object_get(cost, "budget");
    double total = jnum(jobs, "total"), ok = jnum(jobs, "succeeded"), bad = jnum(jobs, "failed");
    double spent = jnum(cost, "total"), tin = jnum(tok, "input"), tout = jnum(tok, "output");
    double runs = jnum(r, "runs"), unconf = jnum(cost, "reserved_unconfirmed");
    char a[64], b[64];

    put(p, "<section class=\"cards\" id=\"headline\">");
    fmt_count(total, a, sizeof(a));
    card(p, "Jobs", NULL, a);
    fmt_count(jnum(jobs, "pending"), a, sizeof(a));
    putf(p, "%s pending", a);
    if (jnum(jobs, "invalid") > 0) {
        fmt_count(jnum(jobs, "invalid"), a, sizeof(a));
        putf(p, " &middot; %s invalid lines", a);
    }
    meter(p, pct(ok + bad, total), 0);
    put(p, "</div></div>");

    fmt_count(ok, a, sizeof(a));
    card(p, "Succeeded", ok > 0 ? "green" : NULL, a);
    putf(p, "%.1f%% of jobs</div></div>", pct(ok, total));
    fmt_count(bad, a, sizeof(a));
    card(p, "Failed", bad > 0 ? "red" : NULL, a);
    putf(p, "%.1f%% of jobs%s</div></div>", pct(bad, total),
         bad > 0 ? " &middot; see the errors file" : "");

    fmt_usd(spent, a, sizeof(a));
    card(p, "Spend", NULL, a);
    if (json_is_number(budget) && json_number_value(budget) > 0) {
        double bu = json_number_value(budget);
        fmt_usd(bu, b, sizeof(b));
        putf(p, "of %s budget (%.1f%%)", b, pct(spent, bu));
        meter(p, pct(spent, bu), pct(spent, bu) >= 90);
    } else {
        put(p, "no budget set");
    }
    if (unconf > 0) {
        fmt_usd(unconf, a, sizeof(a));
        putf(p, "<br>incl. %s possibly billed at interruptions", a);
    }
    put(p, "</div></div>");

    fmt_duration(jnum(r, "elapsed_s"), a, sizeof(a));
    card(p, "Elapsed", NULL, a);
    fmt_count(runs, b, sizeof(b));
    putf(p, "over %s run%s</div></div>", b, runs == 1 ? "" : "s");

    fmt_si(tin + tout, a, sizeof(a));
    card(p, "Tokens", NULL, a);
    fmt_si(tin, a, sizeof(a));
    fmt_si(tout, b, sizeof(b));
    putf(p, "%s in &middot; %s out", a, b);
    if (jnum(tok, "cached_input") > 0) {
        fmt_si(jnum(tok, "cached_input"), a, sizeof(a));
        putf(p, " &middot; %s cached", a);
    }
    put(p, "</div></div></section>");
}

/* ---- timeline charts --------------------------------------------------- */

static void timeline_charts(page_t *p, const json_t *r)
{
    const json_t *tj = json_object_get(r, "timeline");
    const json_t *budget = json_object_get(json_object_get(r, "cost_usd"), "budget");
    timeline_t *tl = malloc(sizeof(*tl));
    double *v = NULL;
    const char *empty = "No timeline in this report";
    char lbl[80], bu[48];
    size_t n = 0, nr = 0;

    if (!tl) {
        p->err = 1;
        return;
    }
    timeline_init(tl);
    if (tj && timeline_from_json(tl, tj))
        empty = "The timeline in this report is unreadable";
    n = tl->n;
    if (!(v = calloc(n * 9 + 1, sizeof(double)))) {      /* never NULL + offset */
        p->err = 1;
        free(tl);
        return;
    }
    /* columns of v: x, spend, done, failed | rx, req/s, 429/s, errors/s, in flight */
    {
        double *x = v, *sp = v + n, *done = v + 2 * n, *fail = v + 3 * n;
        double *rx = v + 4 * n, *rq = v + 5 * n, *r4 = v + 6 * n, *re = v + 7 * n;
        double *inf = v + 8 * n;
        const tl_sample_t *q = n ? &tl->pts[0] : NULL;     /* anchor of the next rate */
        for (size_t i = 0; i < n; i++) {
            const tl_sample_t *s = &tl->pts[i];
            double dt = s->t - q->t;
            x[i] = s->t;
            sp[i] = (double)s->spent_pp / 1e12;
            done[i] = (double)s->done;
            fail[i] = (double)s->failed;
            inf[i] = (double)s->inflight;
            /* a rate over less than half a sampling interval is noise (the
             * forced samples at commits and at the end) */
            if (i > 0 && dt >= tl->interval / 2 && dt > 0) {
#define RATE(f) (s->f > q->f ? (double)(s->f - q->f) / dt : 0)
                rx[nr] = s->t;
                rq[nr] = RATE(requests_sent);
                r4[nr] = RATE(n429);
                re[nr] = RATE(errors);
                nr++;
                q = s;
#undef RATE
            }
        }
        {
            svg_series_t spend = { "spend", "#2563eb", x, sp, n, 1 };
            svg_series_t jobs[2] = { { "jobs done", "#16a34a", x, done, n, 1 },
                                     { "failed", "#dc2626", x, fail, n, 0 } };
            svg_series_t rates[3] = { { "requests/s", "#2563eb", rx, rq, nr, 0 },
                                      { "429/s", "#d97706", rx, r4, nr, 0 },
                                      { "errors/s (5xx, network, timeouts)", "#dc2626",
                                        rx, re, nr, 0 } };
            svg_series_t inflight = { "in flight", "#7c3aed", x, inf, n, 1 };
            double hb = -1;

            if (json_is_number(budget) && json_number_value(budget) > 0) {
                hb = json_number_value(budget);
                fmt_usd(hb, bu, sizeof(bu));
                snprintf(lbl, sizeof(lbl), "budget %s", bu);
            }
            put(p, "<section class=\"panel\" id=\"over-time\"><h2>Spend and jobs done over "
                   "time</h2><div class=\"grid2\"><figure><figcaption>Spend (USD, "
                   "cumulative)</figcaption>");
            chart(p, svg_line_chart(p->b, "Spend over time", &spend, 1, SVG_AXIS_USD, hb,
                                    hb >= 0 ? lbl : NULL, empty));
            put(p, "</figure><figure><figcaption>Jobs done (cumulative)</figcaption>");
            chart(p, svg_line_chart(p->b, "Jobs done over time", jobs, 2, SVG_AXIS_COUNT, -1,
                                    NULL, empty));
            put(p, "</figure></div><p class=\"note\">Time axis: run time summed over all "
                   "runs of this job (a resumed run continues where the last one "
                   "stopped).</p></section>");
            put(p, "<section class=\"panel\" id=\"rates\"><h2>Requests per second, 429s and "
                   "errors</h2><div class=\"grid2\"><figure><figcaption>Rates (averaged "
                   "between samples)</figcaption>");
            chart(p, svg_line_chart(p->b, "Requests, 429s and errors per second", rates, 3,
                                    SVG_AXIS_RATE, -1, NULL,
                                    n ? "Needs two samples or more" : empty));
            put(p, "</figure><figure><figcaption>Requests in flight</figcaption>");
            chart(p, svg_line_chart(p->b, "Requests in flight", &inflight, 1,
                                    SVG_AXIS_COUNT, -1, NULL, empty));
            put(p, "</figure></div></section>");
        }
    }
    free(v);
    free(tl);
}

/* ---- latency ----------------------------------------------------------- */

static void ms_label(double ms, char *out, size_t n)
{
    if (ms < 1000)
        snprintf(out, n, "%.0fms", ms);
    else
        snprintf(out, n, "%.3gs", ms / 1000);
}

static void latency(page_t *p, const json_t *r)
{
    const json_t *h = json_object_get(r, "latency_hist"), *lm = json_object_get(r, "latency_ms");
    size_t n = json_is_array(h) ? json_array_size(h) : 0, k = 0;
    svg_bar_t *bars = NULL;
    char (*txt)[3][64] = NULL;
    char a[32], b[32], c[32];

    if (n > 64)
        n = 64;
    if (n && (!(bars = calloc(n, sizeof(*bars))) || !(txt = calloc(n, sizeof(*txt))))) {
        p->err = 1;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(h, i);
        double le = jnum(e, "le_ms"), cnt = jnum(e, "count"), lo;
        if (!json_is_number(json_object_get(e, "le_ms")) || le < 0 || cnt < 0)
            continue;
        lo = le >= 1 ? floor((le + 1) / 2) : 0;
        ms_label(le + 1, txt[k][0], sizeof(txt[k][0]));
        fmt_count(cnt, txt[k][1], sizeof(txt[k][1]));
        fmt_count(cnt, a, sizeof(a));
        snprintf(txt[k][2], sizeof(txt[k][2]), "%.0f-%.0f ms, %s requests", lo, le, a);
        bars[k] = (svg_bar_t){ txt[k][0], cnt, txt[k][1], "#0891b2", txt[k][2] };
        k++;
    }
    put(p, "<section class=\"panel\" id=\"latency\"><h2>Latency distribution</h2>");
    ms_label(jnum(lm, "p50"), a, sizeof(a));
    ms_label(jnum(lm, "p90"), b, sizeof(b));
    ms_label(jnum(lm, "p99"), c, sizeof(c));
    putf(p, "<p class=\"note\">Successful requests of the latest run, in doubling buckets "
            "(each bar counts requests faster than its label and slower than the previous "
            "one). p50 &asymp; %s &middot; p90 &asymp; %s &middot; p99 &asymp; %s</p>", a, b, c);
    chart(p, svg_vbar_chart(p->b, "Latency histogram", bars, k, "No latencies recorded"));
    put(p, "</section>");
out:
    free(bars);
    free(txt);
}

/* ---- by model ---------------------------------------------------------- */

typedef struct named {
    const char   *name;
    const json_t *v;
    double        sort;
} named_t;

static int by_sort_desc(const void *a, const void *b)
{
    double x = ((const named_t *)a)->sort, y = ((const named_t *)b)->sort;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The members of an object, sorted by the number field `key` (descending;
 * NULL keeps the report's order).  *n is the count; NULL when empty or on
 * failure (then *n is 0 and *oom says which). */
static named_t *members(const json_t *o, const char *key, size_t *n, int *oom)
{
    named_t *v;
    const char *name;
    json_t *m;
    size_t k = 0;

    *n = 0;
    *oom = 0;
    if (!json_is_object(o) || json_object_size(o) == 0)
        return NULL;
    if (!(v = calloc(json_object_size(o), sizeof(*v)))) {
        *oom = 1;
        return NULL;
    }
    json_object_foreach((json_t *)o, name, m) {
        v[k].name = name;
        v[k].v = m;
        v[k].sort = key ? jnum(m, key) : 0;
        k++;
    }
    if (key)
        qsort(v, k, sizeof(*v), by_sort_desc);
    *n = k;
    return v;
}

static void models(page_t *p, const json_t *r)
{
    size_t n, nb;
    int oom;
    named_t *m = members(json_object_get(r, "by_model"), "cost_usd", &n, &oom);
    svg_bar_t cost[MAX_BARS + 1], tok[MAX_BARS + 1];
    char ctext[MAX_BARS + 1][48], ttext[MAX_BARS + 1][48], ttip[MAX_BARS][72], other[48];
    double rest_c = 0, rest_t = 0;

    if (oom)
        p->err = 1;
    nb = n > MAX_BARS + 1 ? MAX_BARS : n;
    for (size_t i = 0; i < n; i++) {
        double c = jnum(m[i].v, "cost_usd");
        double ti = jnum(m[i].v, "input_tokens"), to = jnum(m[i].v, "output_tokens");
        char a[32], b[32];
        if (i >= nb) {
            rest_c += c;
            rest_t += ti + to;
            continue;
        }
        if (json_is_false(json_object_get(m[i].v, "priced")))
            snprintf(ctext[i], sizeof(ctext[i]), "unpriced");
        else
            fmt_usd(c, ctext[i], sizeof(ctext[i]));
        fmt_si(ti + to, ttext[i], sizeof(ttext[i]));
        fmt_si(ti, a, sizeof(a));
        fmt_si(to, b, sizeof(b));
        snprintf(ttip[i], sizeof(ttip[i]), "%s in / %s out", a, b);
        cost[i] = (svg_bar_t){ m[i].name, c, ctext[i], "#2563eb", NULL };
        tok[i] = (svg_bar_t){ m[i].name, ti + to, ttext[i], "#7c3aed", ttip[i] };
    }
    if (n > nb) {
        snprintf(other, sizeof(other), "%zu other models", n - nb);
        fmt_usd(rest_c, ctext[nb], sizeof(ctext[nb]));
        fmt_si(rest_t, ttext[nb], sizeof(ttext[nb]));
        cost[nb] = (svg_bar_t){ other, rest_c, ctext[nb], "#94a3b8", NULL };
        tok[nb] = (svg_bar_t){ other, rest_t, ttext[nb], "#94a3b8", NULL };
        nb++;
    }
    put(p, "<section class=\"panel\" id=\"models\"><h2>Cost and tokens by model</h2>"
           "<div class=\"grid2\"><figure><figcaption>Cost (USD)</figcaption>");
    chart(p, svg_hbar_chart(p->b, "Cost by model", cost, nb, "No successful responses"));
    put(p, "</figure><figure><figcaption>Tokens (input + output)</figcaption>");
    chart(p, svg_hbar_chart(p->b, "Tokens by model", tok, nb, "No successful responses"));
    put(p, "</figure></div></section>");
    free(m);
}

/* ---- status codes ------------------------------------------------------ */

static int code_cmp(const void *a, const void *b)
{
    double x = ((const named_t *)a)->sort, y = ((const named_t *)b)->sort;
    return x < y ? -1 : x > y ? 1 : 0;
}

static const char *status_color(long code)
{
    if (code >= 200 && code < 300)
        return "#16a34a";
    if (code == 429)
        return "#d97706";
    if (code >= 400 && code < 500)
        return "#ea580c";
    if (code >= 500)
        return "#dc2626";
    return "#64748b";
}

static void statuses(page_t *p, const json_t *r)
{
    const json_t *http = json_object_get(r, "http");
    size_t n, nb = 0;
    int oom;
    named_t *m = members(json_object_get(http, "by_status"), NULL, &n, &oom);
    svg_bar_t bars[MAX_BARS + 2];
    char text[MAX_BARS + 2][48], tip[MAX_BARS + 2][80], a[32], b[32];
    double sent = jnum(http, "requests_sent");

    if (oom)
        p->err = 1;
    for (size_t i = 0; i < n; i++) {
        char *end;
        long code = strtol(m[i].name, &end, 10);
        m[i].sort = *end == '\0' && code > 0 && code < 1000 ? (double)code : 1e9;
    }
    if (n)
        qsort(m, n, sizeof(*m), code_cmp);
    for (size_t i = 0; i < n && nb < MAX_BARS; i++) {
        double c = json_is_number(m[i].v) ? json_number_value(m[i].v) : 0;
        int numeric = m[i].sort < 1e9;
        fmt_count(c, text[nb], sizeof(text[nb]));
        if (numeric)
            snprintf(tip[nb], sizeof(tip[nb]), "%s responses (%.1f%% of requests)",
                     text[nb], pct(c, sent));
        bars[nb] = (svg_bar_t){ m[i].name, c, text[nb], status_color((long)m[i].sort),
                                numeric ? tip[nb] : NULL };
        nb++;
    }
    if (jnum(http, "network_errors") > 0) {
        fmt_count(jnum(http, "network_errors"), text[nb], sizeof(text[nb]));
        bars[nb] = (svg_bar_t){ "network error", jnum(http, "network_errors"), text[nb],
                                "#64748b", NULL };
        nb++;
    }
    if (jnum(http, "timeouts") > 0) {
        fmt_count(jnum(http, "timeouts"), text[nb], sizeof(text[nb]));
        bars[nb] = (svg_bar_t){ "timeout", jnum(http, "timeouts"), text[nb], "#64748b", NULL };
        nb++;
    }
    put(p, "<section class=\"panel\" id=\"status\"><h2>HTTP status codes</h2>");
    fmt_count(sent, a, sizeof(a));
    fmt_count(jnum(http, "retries"), b, sizeof(b));
    putf(p, "<p class=\"note\">%s requests sent, %s retries.</p>", a, b);
    chart(p, svg_hbar_chart(p->b, "HTTP status codes", bars, nb, "No requests sent"));
    put(p, "</section>");
    free(m);
}

/* ---- keys -------------------------------------------------------------- */

static const char *state_class(const char *s)
{
    if (!strcmp(s, "ok"))
        return "ok";
    if (!strcmp(s, "cooling"))
        return "warn";
    if (!strcmp(s, "exhausted") || !strcmp(s, "invalid"))
        return "bad";
    return "";
}

static const char *state_color(const char *s)
{
    const char *c = state_class(s);
    return !strcmp(c, "ok") ? "#16a34a" : !strcmp(c, "warn") ? "#d97706"
         : !strcmp(c, "bad") ? "#dc2626" : "#64748b";
}

static void keys(page_t *p, const json_t *r)
{
    size_t n, nb;
    int oom;
    named_t *m = members(json_object_get(r, "by_key"), NULL, &n, &oom);
    svg_bar_t bars[MAX_BARS];
    char text[MAX_BARS][64];

    if (oom)
        p->err = 1;
    nb = n > MAX_BARS ? MAX_BARS : n;
    for (size_t i = 0; i < nb; i++) {
        const char *st = jstr(m[i].v, "state");
        fmt_count(jnum(m[i].v, "requests"), text[i], sizeof(text[i]));
        bars[i] = (svg_bar_t){ m[i].name, jnum(m[i].v, "requests"), text[i],
                               state_color(st), NULL };
    }
    put(p, "<section class=\"panel\" id=\"keys\"><h2>API keys: use and state</h2>"
           "<p class=\"note\">Requests per key; colour = state at the end of the run: "
           "<span class=\"badge ok\">ok</span> <span class=\"badge warn\">cooling</span> "
           "<span class=\"badge bad\">exhausted or invalid</span></p>");
    chart(p, svg_hbar_chart(p->b, "Requests by API key", bars, nb, "No keys recorded"));
    if (n) {
        put(p, "<table><thead><tr><th class=\"l\">Key</th><th class=\"l\">State</th>"
               "<th>Requests</th><th>Tokens in</th><th>Tokens out</th><th>Cost</th>"
               "<th>429s</th><th class=\"l\">Reason</th></tr></thead><tbody>");
        for (size_t i = 0; i < n && i < MAX_KEY_ROWS; i++) {
            const json_t *k = m[i].v;
            const char *st = jstr(k, "state");
            char a[32], b[32], c[32], d[32], e[32];
            fmt_count(jnum(k, "requests"), a, sizeof(a));
            fmt_count(jnum(k, "tokens_in"), b, sizeof(b));
            fmt_count(jnum(k, "tokens_out"), c, sizeof(c));
            fmt_usd(jnum(k, "cost_usd"), d, sizeof(d));
            fmt_count(jnum(k, "rate_limited_429"), e, sizeof(e));
            put(p, "<tr><td class=\"l\">");
            esc(p, m[i].name);
            putf(p, "</td><td class=\"l\"><span class=\"badge %s\">", state_class(st));
            esc(p, st);
            putf(p, "</span></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                    "<td class=\"l\">", a, b, c, d, e);
            esc(p, jstr(k, "reason"));
            put(p, "</td></tr>");
        }
        put(p, "</tbody></table>");
        if (n > MAX_KEY_ROWS)
            putf(p, "<p class=\"note\">%zu more keys not shown.</p>", n - MAX_KEY_ROWS);
    }
    put(p, "</section>");
    free(m);
}

/* ---- details and page -------------------------------------------------- */

static void dt_str(page_t *p, const char *k, const char *v)
{
    putf(p, "<dt>%s</dt><dd>", k);
    esc(p, v);
    put(p, "</dd>");
}

static void details(page_t *p, const json_t *r)
{
    const json_t *cost = json_object_get(r, "cost_usd"), *cache = json_object_get(r, "cache");
    const json_t *prices = json_object_get(r, "prices");
    char a[48], b[48], c[48];

    put(p, "<section class=\"panel\" id=\"details\"><h2>Details</h2><dl>");
    dt_str(p, "Input", jstr(r, "input"));
    dt_str(p, "Results", jstr(r, "results"));
    dt_str(p, "Errors", jstr(r, "errors"));
    fmt_usd(jnum(cost, "reserved_unconfirmed"), a, sizeof(a));
    fmt_usd(jnum(cost, "possibly_billed_failures"), b, sizeof(b));
    fmt_usd(jnum(cost, "estimated"), c, sizeof(c));
    putf(p, "<dt>Spend detail</dt><dd>possibly billed at interruptions %s &middot; failed "
            "attempts charged at reservation %s &middot; estimated (replies without usage) "
            "%s", a, b, c);
    if (jnum(cost, "overrun") > 0) {
        fmt_usd(jnum(cost, "overrun"), a, sizeof(a));
        putf(p, " &middot; overrun %s", a);
    }
    put(p, "</dd>");
    if (json_is_true(json_object_get(cache, "enabled")) || jnum(cache, "coalesced") > 0) {
        fmt_count(jnum(cache, "hits"), a, sizeof(a));
        fmt_count(jnum(cache, "coalesced"), b, sizeof(b));
        fmt_usd(jnum(cache, "saved_usd"), c, sizeof(c));
        putf(p, "<dt>Cache</dt><dd>%s hits &middot; %s coalesced duplicates &middot; %s "
                "saved</dd>", a, b, c);
    }
    put(p, "<dt>Prices</dt><dd>");
    esc(p, jstr(prices, "file"));
    if (*jstr(prices, "updated")) {
        put(p, " (updated ");
        esc(p, jstr(prices, "updated"));
        put(p, ")");
    }
    put(p, "</dd></dl></section>");
}

static const char *stop_class(const char *s)
{
    if (!strcmp(s, "completed"))
        return "ok";
    if (!strcmp(s, "interrupted") || !strcmp(s, "budget") || !strcmp(s, "running"))
        return "warn";
    return *s ? "bad" : "";
}

int report_html_render(const json_t *r, buf_t *out)
{
    page_t p = { out, 0 };
    const char *stop = jstr(r, "stop_reason");
    int live = json_is_true(json_object_get(r, "live"));

    if (!json_is_object(r))
        return -1;
    put(&p, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    if (live)
        put(&p, "<meta http-equiv=\"refresh\" content=\"5\">");
    put(&p, "<title>llmbatch report: ");
    esc(&p, *jstr(r, "input") ? jstr(r, "input") : jstr(r, "results"));
    putf(&p, "</title><style>%s</style></head><body><main><header>"
             "<h1>llmbatch run report</h1>", CSS);
    if (live)
        put(&p, "<span class=\"badge warn\">running &middot; reloads every 5 s</span>");
    else if (*stop) {
        putf(&p, "<span class=\"badge %s\">", stop_class(stop));
        esc(&p, stop);
        putf(&p, "</span><span class=\"note\">exit code %.0f</span>", jnum(r, "exit_code"));
    }
    put(&p, "<p class=\"sub\">");
    esc(&p, jstr(r, "input"));
    put(&p, " &rarr; ");
    esc(&p, jstr(r, "results"));
    put(&p, "</p></header>");
    headline(&p, r);
    timeline_charts(&p, r);
    latency(&p, r);
    models(&p, r);
    statuses(&p, r);
    keys(&p, r);
    details(&p, r);
    put(&p, "<p class=\"note\">Written by llmbatch. Self-contained: no scripts, no network "
            "references.</p></main></body></html>\n");
    return p.err ? -1 : 0;
}
