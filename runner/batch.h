/*
 * batch: `llmbatch run --via batch`, the providers' batch APIs as a second
 * way to run a job file (OpenAI Files + Batches, Anthropic Message Batches).
 * Called by run.c after the common setup (validation, prices, keys,
 * checkpoint, outputs) instead of the first commit and sched_loop(): the
 * driver makes the run's first commit itself, once the money of the batches
 * a previous run left open is counted (see batch.c).
 */
#ifndef LLMB_BATCH_H
#define LLMB_BATCH_H
struct run_ctx;
/* Plans, submits, polls and collects until every job has its line, the
 * budget stops it (c->stop = STOP_BUDGET), a signal or a fatal error stops
 * it, or (--no-wait) everything that fits is submitted.  Returns
 * RUN_EXIT_SUBMITTED when batches are still running under --no-wait, 0
 * otherwise (the caller derives the exit code from c as for live runs). */
int batch_run(struct run_ctx *c);
/* Adds the "batches" section to the report file just written. */
void batch_report(struct run_ctx *c);
/* 1 if the batch state next to ckpt_path has parts that may still be
 * running at a provider (a live run must not send their jobs again). */
int batch_has_open_parts(const char *ckpt_path);
/* `llmbatch cancel RESULTS [run options]`: cancels the open batches of the
 * run that wrote RESULTS (its checkpoint names the input), collects their
 * partial results and leaves the other jobs pending.  Exit code as a run. */
struct run_opts;
int batch_cancel_cmd(struct run_opts *o, const char *results);
#endif
