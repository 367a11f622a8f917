/*
 * svgchart: inline SVG charts for the HTML report (see svgchart.h).
 *
 * Owns nothing: every function appends to the caller's buffer.  All
 * geometry is in a fixed viewBox; every coordinate goes through num(),
 * which turns a non-finite value into 0, and every caller-given string
 * through html_escape(), so the output is well-formed whatever the data.
 * Colours are literals chosen by the callers in this code base.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "svgchart.h"

#define W   640.0
#define ML   72.0       /* left margin: y tick labels */
#define MR   18.0
#define MT   30.0       /* top: legend */
#define MB   30.0       /* bottom: x tick labels */
#define LH  260.0       /* line chart height */
#define LABEL_CHARS 23

int html_escape(buf_t *b, const char *s)
{
    const char *run = s;

    if (!s)
        return 0;
    for (; *s; s++) {
        const char *rep;
        switch (*s) {
        case '&':  rep = "&amp;"; break;
        case '<':  rep = "&lt;"; break;
        case '>':  rep = "&gt;"; break;
        case '"':  rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:   continue;
        }
        if (buf_append(b, run, (size_t)(s - run)) || buf_puts(b, rep))
            return -1;
        run = s + 1;
    }
    return buf_append(b, run, (size_t)(s - run));
}

static double num(double v)
{
    return isfinite(v) ? v : 0;
}

/* ---- number formatting ------------------------------------------------- */

static void commas(uint64_t v, char *out, size_t n)
{
    char digits[32], tmp[48];
    size_t len, k = 0;

    snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
    len = strlen(digits);
    for (size_t i = 0; i < len && k + 2 < sizeof(tmp); i++) {
        if (i > 0 && (len - i) % 3 == 0)
            tmp[k++] = ',';
        tmp[k++] = digits[i];
    }
    tmp[k] = '\0';
    snprintf(out, n, "%s", tmp);
}

void fmt_count(double v, char *out, size_t n)
{
    char c[48];

    v = num(v);
    if (fabs(v) >= 1e15) {
        snprintf(out, n, "%.3g", v);
        return;
    }
    commas((uint64_t)llround(fabs(v)), c, sizeof(c));
    snprintf(out, n, "%s%s", v <= -0.5 ? "-" : "", c);
}

void fmt_usd(double v, char *out, size_t n)
{
    const char *sign = "";
    char c[48];

    v = num(v);
    if (v < 0) {
        sign = "-";
        v = -v;
    }
    if (v == 0)
        snprintf(out, n, "$0.00");
    else if (v < 1e-6)
        snprintf(out, n, "%s$%.2g", sign, v);
    else if (v < 0.01)
        snprintf(out, n, "%s$%.6f", sign, v);
    else if (v < 1)
        snprintf(out, n, "%s$%.4f", sign, v);
    else if (v < 1e15) {
        double cents = floor(v * 100 + 0.5);
        commas((uint64_t)(cents / 100), c, sizeof(c));
        snprintf(out, n, "%s$%s.%02d", sign, c, (int)fmod(cents, 100));
    } else
        snprintf(out, n, "%s$%.3g", sign, v);
}

void fmt_si(double v, char *out, size_t n)
{
    static const char *const suffix[] = { "", "k", "M", "G", "T", "P" };
    double a;
    int i = 0;

    v = num(v);
    a = fabs(v);
    while (a >= 1000 && i < 5) {
        a /= 1000;
        v /= 1000;
        i++;
    }
    if (a >= 1000)
        snprintf(out, n, "%.2g%s", v, suffix[i]);
    else
        snprintf(out, n, "%.3g%s", v, suffix[i]);
}

void fmt_duration(double s, char *out, size_t n)
{
    long long t;

    s = num(s);
    if (s < 0)
        s = 0;
    if (s < 10)
        snprintf(out, n, "%.1f s", s);
    else if (s < 60)
        snprintf(out, n, "%.0f s", s);
    else if (s > 1e12)
        snprintf(out, n, "%.3g s", s);
    else {
        t = llround(s);
        if (t < 3600)
            snprintf(out, n, "%lld min %02lld s", t / 60, t % 60);
        else if (t < 86400)
            snprintf(out, n, "%lld h %02lld min", t / 3600, t % 3600 / 60);
        else
            snprintf(out, n, "%lld d %02lld h", t / 86400, t % 86400 / 3600);
    }
}

static void fmt_tick_time(double s, char *out, size_t n)
{
    long long t = llround(num(s));

    if (s > 1e12)
        snprintf(out, n, "%.2gs", s);
    else if (t < 60)
        snprintf(out, n, "%llds", t);
    else if (t < 3600)
        snprintf(out, n, t % 60 ? "%lldm%02llds" : "%lldm", t / 60, t % 60);
    else if (t < 86400)
        snprintf(out, n, t % 3600 ? "%lldh%02lldm" : "%lldh", t / 3600, t % 3600 / 60);
    else
        snprintf(out, n, t % 86400 ? "%lldd%02lldh" : "%lldd", t / 86400, t % 86400 / 3600);
}

static void fmt_axis(double v, enum svg_axis axis, char *out, size_t n)
{
    char s[32];

    fmt_si(v, s, sizeof(s));
    snprintf(out, n, "%s%s%s", axis == SVG_AXIS_USD ? "$" : "", s,
             axis == SVG_AXIS_RATE ? "/s" : "");
}

/* The smallest 1, 2, 2.5 or 5 times a power of ten that is >= v, and how
 * many grid steps divide it into round numbers. */
static double nice_max(double v, int *div)
{
    double e, f, m, r;

    *div = 4;
    if (!(v > 0) || !isfinite(v))
        return 1;
    e = pow(10, floor(log10(v)));
    f = v / e;
    /* mantissas and the grid steps that keep the tick labels round */
    m = f <= 1 ? 1 : f <= 1.5 ? 1.5 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 3 ? 3
      : f <= 4 ? 4 : f <= 5 ? 5 : f <= 6 ? 6 : f <= 8 ? 8 : 10;
    *div = m == 1.5 || m == 3 || m == 6 ? 3 : m == 2 || m == 4 || m == 8 ? 4 : 5;
    r = m * e;
    if (!isfinite(r) || r < v) {
        *div = 4;
        return v;
    }
    return r;
}

static double time_step(double span)
{
    static const double steps[] = {
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
        21600, 43200, 86400, 172800, 604800
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (span / steps[i] <= 6)
            return steps[i];
    {
        int div;
        return nice_max(span / 6, &div);
    }
}

static int open_svg(buf_t *b, double h, const char *aria)
{
    int err = buf_printf(b, "<svg class=\"chart\" "
                         "viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", W, h);
    err |= html_escape(b, aria);
    err |= buf_puts(b, "\">");
    return err ? -1 : 0;
}

static int empty_text(buf_t *b, double h, const char *empty)
{
    int err = buf_printf(b, "<text class=\"empty\" x=\"%.0f\" y=\"%.0f\" "
                         "text-anchor=\"middle\">", W / 2, h / 2);
    err |= html_escape(b, empty);
    err |= buf_puts(b, "</text>");
    return err ? -1 : 0;
}

/* ---- line chart -------------------------------------------------------- */

int svg_line_chart(buf_t *b, const char *aria, const svg_series_t *s, size_t ns,
                   enum svg_axis yaxis, double hline, const char *hline_label,
                   const char *empty)
{
    double xmin = INFINITY, xmax = -INFINITY, ymax = 0, pw = W - ML - MR, ph = LH - MT - MB;
    double step, lx = ML;
    size_t npts = 0;
    int err = open_svg(b, LH, aria), hline_on = 0, div;
    char t[48];

    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double x = num(s[k].x[i]), y = num(s[k].y[i]);
            xmin = x < xmin ? x : xmin;
            xmax = x > xmax ? x : xmax;
            ymax = y > ymax ? y : ymax;
            npts++;
        }
    if (xmin > 0)
        xmin = 0;                               /* time axes start at the start */
    if (npts == 0) {
        err |= empty_text(b, LH, empty);
        err |= buf_puts(b, "</svg>");
        return err ? -1 : 0;
    }
    if (hline >= 0 && isfinite(hline) && (ymax == 0 || hline <= 3 * ymax)) {
        hline_on = 1;
        ymax = hline > ymax ? hline : ymax;
    }
    ymax = nice_max(ymax, &div);
    if (!(xmax - xmin > 0))
        xmax = xmin + 1;
#define PX(x) (ML + (num(x) - xmin) / (xmax - xmin) * pw)
#define PY(y) (MT + ph - (num(y) < 0 ? 0 : num(y)) / ymax * ph)
    /* grid and y ticks */
    for (int i = 0; i <= div; i++) {
        double v = ymax * i / div, y = PY(v);
        fmt_axis(v, yaxis, t, sizeof(t));
        err |= buf_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                          "y2=\"%.1f\"/><text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"end\">%s</text>", ML, y, W - MR, y, ML - 6, y + 4, t);
    }
    /* x ticks: multiples of a round time step */
    step = time_step(xmax - xmin);
    for (double v = ceil(xmin / step) * step; v <= xmax + 1e-9 && isfinite(v); v += step) {
        fmt_tick_time(v, t, sizeof(t));
        err |= buf_printf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"middle\">%s</text>", PX(v), LH - MB + 18, t);
    }
    err |= buf_printf(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                      ML, MT + ph, W - MR, MT + ph);
    if (hline_on) {
        err |= buf_printf(b, "<line class=\"ref\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                          "y2=\"%.1f\"/><text class=\"reflabel\" x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"end\">", ML, PY(hline), W - MR, PY(hline),
                          W - MR - 4, PY(hline) - 5);
        err |= html_escape(b, hline_label);
        err |= buf_puts(b, "</text>");
    } else if (hline >= 0 && hline_label) {
        err |= buf_printf(b, "<text class=\"reflabel\" x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"end\">", W - MR, MT - 12);
        err |= html_escape(b, hline_label);
        err |= buf_puts(b, " (above the scale)</text>");
    }
    for (size_t k = 0; k < ns; k++) {
        const svg_series_t *sr = &s[k];
        if (ns > 1 || sr->name) {
            err |= buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"4\" "
                              "rx=\"1\" fill=\"%s\"/><text class=\"legend\" x=\"%.1f\" "
                              "y=\"%.1f\">", lx, MT - 16, sr->color, lx + 16, MT - 11);
            err |= html_escape(b, sr->name);
            err |= buf_puts(b, "</text>");
            lx += 30 + 6.5 * (double)(sr->name ? strlen(sr->name) : 0);
        }
        if (sr->n == 1) {
            err |= buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>",
                              PX(sr->x[0]), PY(sr->y[0]), sr->color);
            continue;
        }
        if (sr->n == 0)
            continue;
        if (sr->area) {
            err |= buf_printf(b, "<polygon fill=\"%s\" fill-opacity=\"0.12\" points=\"%.1f,%.1f",
                              sr->color, PX(sr->x[0]), MT + ph);
            for (size_t i = 0; i < sr->n; i++)
                err |= buf_printf(b, " %.1f,%.1f", PX(sr->x[i]), PY(sr->y[i]));
            err |= buf_printf(b, " %.1f,%.1f\"/>", PX(sr->x[sr->n - 1]), MT + ph);
        }
        err |= buf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                          "stroke-linejoin=\"round\" points=\"", sr->color);
        for (size_t i = 0; i < sr->n; i++)
            err |= buf_printf(b, "%s%.1f,%.1f", i ? " " : "", PX(sr->x[i]), PY(sr->y[i]));
        err |= buf_puts(b, "\"/>");
    }
#undef PX
#undef PY
    err |= buf_puts(b, "</svg>");
    return err ? -1 : 0;
}

/* ---- bars -------------------------------------------------------------- */

/* Appends at most max code points of s (escaped), with an ellipsis if cut. */
static int short_label(buf_t *b, const char *s, size_t max)
{
    size_t cps = 0, i = 0;
    char tmp[256];

    if (!s)
        return 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && cps++ == max)
            break;
        if (i + 1 >= sizeof(tmp))
            break;
    }
    while (i > 0 && s[i] && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;                                    /* never cut inside a character */
    if (!s[i])
        return html_escape(b, s);
    memcpy(tmp, s, i);
    tmp[i] = '\0';
    return html_escape(b, tmp) || buf_puts(b, "\xe2\x80\xa6") ? -1 : 0;
}

static double bars_max(const svg_bar_t *bars, size_t n)
{
    double m = 0;

    for (size_t i = 0; i < n; i++)
        if (num(bars[i].value) > m)
            m = num(bars[i].value);
    return m;
}

int svg_hbar_chart(buf_t *b, const char *aria, const svg_bar_t *bars, size_t n,
                   const char *empty)
{
    const double row = 28, lw = 196, vw = 118, top = 8;
    double h = n ? top * 2 + row * (double)n : 80, max = bars_max(bars, n);
    double pw = W - lw - vw;
    int err = open_svg(b, h, aria);

    if (n == 0)
        err |= empty_text(b, h, empty);
    for (size_t i = 0; i < n; i++) {
        double y = top + row * (double)i, v = num(bars[i].value);
        double len = max > 0 && v > 0 ? v / max * pw : 0;
        if (v > 0 && len < 2)
            len = 2;                            /* a non-zero value stays visible */
        err |= buf_puts(b, "<g><title>");
        err |= html_escape(b, bars[i].label);
        if (bars[i].tip) {
            err |= buf_puts(b, ": ");
            err |= html_escape(b, bars[i].tip);
        }
        err |= buf_printf(b, "</title><text class=\"blabel\" x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"end\">", lw - 8, y + row / 2 + 4);
        err |= short_label(b, bars[i].label, LABEL_CHARS);
        err |= buf_printf(b, "</text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                          "height=\"%.1f\" rx=\"3\" fill=\"%s\"/><text class=\"bvalue\" "
                          "x=\"%.1f\" y=\"%.1f\">", lw, y + 5, len, row - 10, bars[i].color,
                          lw + len + 6, y + row / 2 + 4);
        err |= html_escape(b, bars[i].value_text);
        err |= buf_puts(b, "</text></g>");
    }
    err |= buf_puts(b, "</svg>");
    return err ? -1 : 0;
}

int svg_vbar_chart(buf_t *b, const char *aria, const svg_bar_t *bars, size_t n,
                   const char *empty)
{
    const double h = 240, mt = 22, mb = 34;
    int div, err = open_svg(b, h, aria);
    double ph = h - mt - mb, pw = W - ML - MR, max = nice_max(bars_max(bars, n), &div);
    double slot = n ? pw / (double)n : pw, x0 = ML;
    char t[32];

    if (n == 0 || bars_max(bars, n) == 0) {
        err |= empty_text(b, h, empty);
        err |= buf_puts(b, "</svg>");
        return err ? -1 : 0;
    }
    if (slot > 64)
        slot = 64;                              /* few buckets: no fat bars */
    x0 = ML + (pw - slot * (double)n) / 2;
    for (int i = 0; i <= div; i++) {
        double v = max * i / div, y = mt + ph - v / max * ph;
        fmt_si(v, t, sizeof(t));
        err |= buf_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                          "y2=\"%.1f\"/><text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"end\">%s</text>", ML, y, W - MR, y, ML - 6, y + 4, t);
    }
    for (size_t i = 0; i < n; i++) {
        double v = num(bars[i].value), bh = v > 0 ? v / max * ph : 0;
        double x = x0 + slot * (double)i;
        if (v > 0 && bh < 1.5)
            bh = 1.5;
        err |= buf_puts(b, "<g><title>");
        err |= html_escape(b, bars[i].label);
        if (bars[i].tip) {
            err |= buf_puts(b, ": ");
            err |= html_escape(b, bars[i].tip);
        }
        err |= buf_printf(b, "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                          "height=\"%.1f\" rx=\"2\" fill=\"%s\"/>", x + slot * 0.12,
                          mt + ph - bh, slot * 0.76, bh, bars[i].color);
        if (bars[i].value_text && slot >= 26 && v > 0) {
            err |= buf_printf(b, "<text class=\"bvalue\" x=\"%.1f\" y=\"%.1f\" "
                              "text-anchor=\"middle\">", x + slot / 2, mt + ph - bh - 4);
            err |= html_escape(b, bars[i].value_text);
            err |= buf_puts(b, "</text>");
        }
        if (slot >= 22 || i % 2 == 0) {
            err |= buf_printf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
                              "text-anchor=\"middle\">", x + slot / 2, h - mb + 16);
            err |= short_label(b, bars[i].label, 8);
            err |= buf_puts(b, "</text>");
        }
        err |= buf_puts(b, "</g>");
    }
    err |= buf_printf(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                      ML, mt + ph, W - MR, mt + ph);
    err |= buf_puts(b, "</svg>");
    return err ? -1 : 0;
}
