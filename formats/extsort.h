/*
 * extsort: external merge sort of records (a 64-bit key + bytes) in bounded
 * memory.
 *
 * Records are collected in memory up to a budget; a full buffer is sorted
 * and spilled as a "run" to an anonymous temp file in the caller's
 * directory (created with mkstemp and unlinked at once, so nothing is left
 * behind on success, failure or crash).  Runs are merged with a heap, at
 * most EXTSORT_FANIN at a time: whenever EXTSORT_FANIN runs of the same
 * level exist they are merged into one run of the next level, so the
 * number of open files stays logarithmic in the input size.
 *
 * Order: by key, then by the optional tie-break comparator, then by the
 * order of extsort_add() calls (stable).
 *
 * Memory: about the budget while adding, plus during merges one record per
 * merged run (a record bigger than the budget is accepted; it is then the
 * only record held in the buffer).
 */
#ifndef LLMB_EXTSORT_H
#define LLMB_EXTSORT_H
#include <stddef.h>
#include <stdint.h>

#define EXTSORT_DEFAULT_BUDGET ((size_t)32 << 20)
#define EXTSORT_FANIN 16

typedef struct extsort extsort_t;

/* Called for each record in sorted order; data is valid during the call.
 * A non-zero return stops the merge, and extsort_finish() returns it. */
typedef int (*extsort_emit_fn)(uint64_t key, const void *data, size_t len, void *arg);
/* Tie-break for equal keys: <0, 0, >0 like memcmp. */
typedef int (*extsort_cmp_fn)(const void *a, size_t alen, const void *b, size_t blen);

/* tmpdir: where runs are spilled (the directory must be writable).
 * budget: bytes of records held in memory (0 = EXTSORT_DEFAULT_BUDGET).
 * cmp may be NULL.  NULL on out of memory. */
extsort_t *extsort_new(const char *tmpdir, size_t budget, extsort_cmp_fn cmp);
/* Adds one record (copied).  0, or -1 (see extsort_error). */
int  extsort_add(extsort_t *s, uint64_t key, const void *data, size_t len);
/* Emits every record in order.  0, -1 on an I/O or memory error (see
 * extsort_error), or the callback's non-zero value.  Call it once. */
int  extsort_finish(extsort_t *s, extsort_emit_fn fn, void *arg);
/* Message for the last -1, e.g. "/tmp: No space left on device". */
const char *extsort_error(const extsort_t *s);
/* Number of runs spilled so far (for tests). */
uint64_t extsort_runs(const extsort_t *s);
/* Frees everything and closes (so deletes) every temp file.  NULL is ok. */
void extsort_free(extsort_t *s);

#endif
