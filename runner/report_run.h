/*
 * report_run: the cost report of a run (--report FILE, JSON) and the short
 * human summary on stderr, written at the end of every run whatever its
 * exit code; and `llmbatch report FILE`, which rebuilds the cost part from
 * a results file or shows a checkpoint's progress without running anything.
 */
#ifndef LLMB_REPORT_RUN_H
#define LLMB_REPORT_RUN_H
#include <jansson.h>

struct run_ctx;
struct timeline;
/* Writes the report file atomically and prints the summary; with --html,
 * also the HTML page. */
void report_finish(struct run_ctx *c, int exit_code);
/* Makes every later report carry "timeline" (timeline_to_json(tl)); tl must
 * stay valid until report_finish returns; NULL removes it. */
void report_set_timeline(const struct timeline *tl);
/* With --html: rewrites the HTML page from the run's current state, marked
 * live (the page reloads itself); call at each commit.  Errors are printed,
 * never fatal. */
void report_html_live(struct run_ctx *c);
/* `llmbatch report FILE [--prices FILE]`; returns the exit code. */
int  report_cmd(const char *path, const char *prices_path);

#endif
