/*
 * report_html_cmd: writing the HTML report (formats/report_html) to a file:
 * `llmbatch report RESULTS|REPORT.json --html FILE`, and the `run --html`
 * writes at each commit and at the end.
 */
#ifndef LLMB_REPORT_HTML_CMD_H
#define LLMB_REPORT_HTML_CMD_H
#include <jansson.h>

/* Renders a run report object and writes it to html_out atomically (temp
 * file, fsync, rename).  0, or -1 after printing why on stderr. */
int report_html_write(const json_t *report, const char *html_out);

/* `llmbatch report PATH --html FILE`.  PATH is a run's report JSON, or its
 * results file, whose report is found by the rule `run` uses
 * (out.jsonl[.gz] -> out.report.json, other names -> NAME.report.json).
 * Returns 0, RUN_EXIT_USAGE (no or unreadable report) or RUN_EXIT_IO. */
int report_html_cmd(const char *path, const char *html_out);

#endif
