/*
 * reorder: puts a results or errors file (OpenAI batch output format, plain
 * or gzip, ours or another tool's) into INPUT order, in bounded memory.
 *
 * Each output line gets the position (ordinal: index among the input's
 * non-blank lines) of its job:
 *   - by its "id", when opts->have_seed and the id is the "batch_req_" id
 *     llmbatch wrote for that input (seed = the input's content hash, as in
 *     the checkpoint): exact, and the input is not even read;
 *   - otherwise by custom_id, joined with the input's custom_ids as the run
 *     assigns them (lineid_input: "line-N" for bare lines).  Both sides are
 *     externally sorted by a 64-bit hash of the id (ties broken by the full
 *     id, so hash collisions are harmless) and merge-joined.  When an id
 *     occurs on several input lines (kept with --skip-invalid), every line
 *     with that id is placed at its first occurrence, in file order.
 * Then the lines are externally sorted by position (stable: equal positions
 * keep file order).  Lines whose custom_id is not in the input are kept, at
 * the end, in their original order, and counted (the caller warns).
 * Blank lines are dropped (counted).  Nothing else is dropped: a line that
 * is not JSON, not an object or has no string custom_id, or a line over 32
 * MiB, is an error ("FILE:LINE: problem"), and nothing is written.
 * A trailing "\r" of a line is not kept (lines end in "\n").
 *
 * Memory: about opts->mem_budget (default 32 MiB) plus a few records the
 * size of the longest line.  Temp files live next to tmp_out (unlinked as
 * soon as they are created).
 *
 * Crash protocol for `run --ordered` (the run wires it into its checkpoint):
 *   1. reorder_file() sorts the results and the errors file into
 *      reorder_tmp_path() of each ("PATH.reorder.tmp"), fsynced.
 *   2. The checkpoint records "reorder":"ready" with both tmp sizes.
 *   3. reorder_commit() renames each tmp over its original, fsyncs the
 *      directory.
 *   4. The checkpoint records the new sizes (= the tmp sizes) and
 *      "ordered":true, without "reorder".
 * On resume with "reorder":"ready": reorder_finish_pending() on both files
 * (renames a tmp that still exists; idempotent), then step 4.  Without it:
 * reorder_discard() on both (a crash during step 1 leaves only tmp files),
 * and the reorder is redone when the run completes.
 */
#ifndef LLMB_REORDER_H
#define LLMB_REORDER_H
#include <stddef.h>
#include <stdint.h>

typedef struct reorder_opts {
    size_t   mem_budget;   /* bytes; 0 = EXTSORT_DEFAULT_BUDGET */
    int      have_seed;    /* place our own lines by their "id" */
    uint64_t seed;         /* the input's content hash (ckpt input_hash) */
    int      out_gz;       /* -1: gzip when `path` ends in ".gz"; 0 plain; 1 gzip */
} reorder_opts_t;

typedef struct reorder_stats {
    uint64_t lines;            /* lines written to tmp_out */
    uint64_t by_id;            /* placed by their batch id */
    uint64_t by_custom_id;     /* placed by custom_id */
    uint64_t unmatched;        /* custom_id not in the input: kept at the end */
    uint64_t first_unmatched;  /* line number of the first of those, or 0 */
    uint64_t blank;            /* blank lines dropped */
    uint64_t out_size;         /* size of tmp_out (what the checkpoint records) */
} reorder_stats_t;

#define REORDER_TMP_SUFFIX ".reorder.tmp"

/* path + ".reorder.tmp", malloc'd (NULL on out of memory). */
char *reorder_tmp_path(const char *path);

/* Writes the lines of `path` in the order of `input` to tmp_out (created or
 * emptied; gzip per opts->out_gz), fsynced.  Does not rename.  opts may be
 * NULL (defaults: no seed, by the name of path).  0; -2 when the file has
 * unreadable lines (err: "FILE:LINE: problem", the first few, and a count);
 * -1 on another error (I/O, memory; err names the file).  On failure
 * tmp_out is removed. */
int reorder_file(const char *input, const char *path, const char *tmp_out,
                 const reorder_opts_t *opts, reorder_stats_t *st,
                 char *err, size_t errlen);
/* rename(tmp_out, path), then fsync of path's directory.  0 or -1 (errno). */
int reorder_commit(const char *tmp_out, const char *path);
/* Resume side: renames reorder_tmp_path(path) over path when it exists.
 * 1 renamed, 0 nothing to do, -1 error (errno). */
int reorder_finish_pending(const char *path);
/* Removes reorder_tmp_path(path) if it exists.  0 or -1 (errno). */
int reorder_discard(const char *path);

/* The whole protocol for a run's two outputs, on the run's checkpoint
 * (steps 1 to 4 above; ck->input_hash is the seed).  Call it when the run
 * is complete, after the last commit, with both outputs closed.  st may be
 * NULL, else st[0] is the results file, st[1] the errors file.  On
 * failure before step 2 nothing durable changed (the files stay in
 * completion order, the run can report and go on); after it, the rerun
 * finishes through reorder_resume().  0, or -1 with a message in err. */
struct ckpt;
struct stats;
int reorder_run_outputs(struct ckpt *ck, const char *ckpt_path, const struct stats *stats,
                        const char *input, const char *results, const char *errors,
                        size_t mem_budget, reorder_stats_t *st, char *err, size_t errlen);
/* Resume side, right after the checkpoint is loaded and before the outputs
 * are opened: with "reorder":"ready" renames what is left and saves step 4;
 * otherwise removes stale tmp files.  0, or -1 with a message in err. */
int reorder_resume(struct ckpt *ck, const char *ckpt_path, const struct stats *stats,
                   const char *results, const char *errors, char *err, size_t errlen);

#endif
