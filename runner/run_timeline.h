/*
 * run_timeline: feeds the run's timeline (formats/timeline.h) for the HTML
 * report: at most one sample a second (from the loop and the commits) and a
 * forced one at the last commit, kept across resumes in
 * CHECKPOINT.timeline.json (rewritten atomically at most every 5 s and at
 * the last commit), and handed to the JSON report with
 * report_set_timeline().  With --html it also rewrites the live HTML page
 * at commits, at most once a second.  One run per process: the state is this
 * module's.
 */
#ifndef LLMB_RUN_TIMELINE_H
#define LLMB_RUN_TIMELINE_H

struct run_ctx;
/* From the loop, as often as convenient (samples at most once a second). */
void run_timeline_tick(struct run_ctx *c);
/* After each successful commit (final: the run's last one).  The first call
 * loads the timeline of earlier runs (only when the checkpoint says this is
 * a resumed job) and registers it with the report. */
void run_timeline_commit(struct run_ctx *c, int final);

#endif
