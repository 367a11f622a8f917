/*
 * svgchart: small inline-SVG charts (line, horizontal bars, histogram) and
 * HTML escaping, for the HTML report.  Output only: no scripts, no external
 * references, fixed viewBox so the page's CSS scales them.  Every string
 * passed in (series names, labels, tooltips) is escaped; numbers that are
 * not finite are drawn as 0, so hostile or huge values cannot break the
 * markup.  Each function appends one complete <svg> element (an empty chart
 * draws its `empty` message) and returns 0, or -1 when out of memory (the
 * buffer may then hold a partial element).
 */
#ifndef LLMB_SVGCHART_H
#define LLMB_SVGCHART_H
#include <stddef.h>
#include "buf.h"

/* Appends s with & < > " ' escaped (NULL appends nothing). */
int html_escape(buf_t *b, const char *s);

enum svg_axis { SVG_AXIS_COUNT, SVG_AXIS_USD, SVG_AXIS_RATE };

typedef struct svg_series {
    const char   *name;
    const char   *color;        /* a CSS colour literal we choose, not escaped */
    const double *x, *y;        /* n points, x in seconds, non-decreasing */
    size_t        n;
    int           area;         /* fill the area under the line */
} svg_series_t;

/* A time-series chart.  `hline` >= 0 draws a dashed reference line (e.g.
 * the budget) labelled hline_label; pass -1 for none. */
int svg_line_chart(buf_t *b, const char *aria, const svg_series_t *s, size_t ns,
                   enum svg_axis yaxis, double hline, const char *hline_label,
                   const char *empty);

typedef struct svg_bar {
    const char *label;          /* shown (shortened if long) */
    double      value;          /* bar length */
    const char *value_text;     /* shown at the end of the bar */
    const char *color;
    const char *tip;            /* tooltip after "label: "; NULL: label only */
} svg_bar_t;

/* One horizontal bar per entry, longest = the largest value. */
int svg_hbar_chart(buf_t *b, const char *aria, const svg_bar_t *bars, size_t n,
                   const char *empty);
/* Vertical bars side by side (a histogram), labels under each bar. */
int svg_vbar_chart(buf_t *b, const char *aria, const svg_bar_t *bars, size_t n,
                   const char *empty);

/* Number formatting shared with the page. */
void fmt_count(double v, char *out, size_t n);     /* 1,234,567 */
void fmt_usd(double v, char *out, size_t n);       /* $12.34, $0.0012 */
void fmt_si(double v, char *out, size_t n);        /* 1.5k, 2M, 0.25 */
void fmt_duration(double s, char *out, size_t n);  /* 4 min 05 s */

#endif
