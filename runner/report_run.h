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
/* Writes the report file atomically and prints the summary. */
void report_finish(struct run_ctx *c, int exit_code);
/* `llmbatch report FILE [--prices FILE]`; returns the exit code. */
int  report_cmd(const char *path, const char *prices_path);

#endif
