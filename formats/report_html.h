/*
 * report_html: renders a run's JSON report (runner/report_run.c) as one
 * self-contained HTML page: headline figures, then inline SVG charts.  No
 * scripts, no network references, system fonts, inline CSS; readable
 * offline and as a mail attachment.  Every string taken from the report is
 * escaped (model names, key labels and server text are untrusted).
 *
 * Members read (all optional; a missing or mistyped member shows as 0, "" or
 * an empty chart, never an error):
 *   stop_reason, exit_code, input, results, errors, runs, elapsed_s, live
 *   jobs.{total,succeeded,failed,pending,invalid}
 *   cost_usd.{total,budget,reserved_unconfirmed,possibly_billed_failures,
 *             estimated,overrun}
 *   tokens.{input,cached_input,output,reasoning}
 *   by_model.NAME.{requests,input_tokens,output_tokens,cost_usd,priced}
 *   by_key.LABEL.{requests,tokens_in,tokens_out,cost_usd,rate_limited_429,
 *                 state,reason}
 *   http.{requests_sent,retries,by_status.CODE,rate_limited_429,
 *         network_errors,timeouts}
 *   latency_ms.{p50,p90,p99}
 *   latency_hist: [{"le_ms":N,"count":N}, ...]  (log2 buckets: bucket b
 *                 holds latencies up to le_ms = 2^b - 1 ms, above the
 *                 previous bucket's le_ms)
 *   timeline: timeline_to_json's output (formats/timeline.h)
 *   cache.{enabled,hits,coalesced,saved_usd}, prices.{file,updated}
 * With "live": true the page reloads itself every 5 s (a running job's
 * report, rewritten at each commit).
 */
#ifndef LLMB_REPORT_HTML_H
#define LLMB_REPORT_HTML_H
#include <jansson.h>
#include "buf.h"

/* The number of <svg> charts every page holds (empty ones included). */
#define REPORT_HTML_CHARTS 9

/* Appends the page to out.  0, or -1 when report is not a JSON object or
 * memory ran out (out may then hold a partial page). */
int report_html_render(const json_t *report, buf_t *out);

#endif
