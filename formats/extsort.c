/*
 * extsort: external merge sort (see extsort.h).
 *
 * Owns the in-memory buffer (an arena of record bytes plus an index of
 * {key, seq, offset, len}), and a stack of spilled runs, oldest first.
 * Invariants: every run is sorted; the runs on the stack, read oldest to
 * newest, hold the records in the order they were added (each run holds a
 * contiguous stretch of additions), so ties between sources are broken by
 * stack position and the sort stays stable.  Levels never increase towards
 * the top of the stack, so the top EXTSORT_FANIN runs of one level are
 * contiguous and may be merged into one.
 *
 * Run file format: records of [key u64][len u64][len bytes], host order
 * (the files never outlive the process).
 */
#include "extsort.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct es_rec {
    uint64_t key, seq;
    size_t   off, len;
} es_rec_t;

typedef struct es_run {
    FILE *f;
    int   level;
} es_run_t;

struct extsort {
    char          *dir;
    size_t         budget;
    extsort_cmp_fn cmp;
    char          *arena;
    size_t         arena_len, arena_cap;
    es_rec_t      *recs;
    size_t         nrecs, recs_cap;
    uint64_t       seq;
    es_run_t      *runs;
    size_t         nruns, runs_cap;
    uint64_t       spilled;
    int            finished;
    char           err[256];
};

/* one input of a merge: a run file or the sorted in-memory buffer */
typedef struct es_src {
    FILE       *f;              /* NULL: the memory source */
    size_t      next;           /* memory source: next index */
    uint64_t    key;
    const char *data;
    size_t      len;
    char       *buf;            /* file source: current record */
    size_t      cap;
} es_src_t;

static _Thread_local const extsort_t *es_ctx;

static int es_fail(extsort_t *s, const char *what)
{
    if (!s->err[0])
        snprintf(s->err, sizeof s->err, "%s: %s: %s", s->dir, what,
                 errno ? strerror(errno) : "error");
    return -1;
}

extsort_t *extsort_new(const char *tmpdir, size_t budget, extsort_cmp_fn cmp)
{
    extsort_t *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->dir = strdup(tmpdir && *tmpdir ? tmpdir : ".");
    if (!s->dir) {
        free(s);
        return NULL;
    }
    s->budget = budget ? budget : EXTSORT_DEFAULT_BUDGET;
    s->cmp = cmp;
    return s;
}

const char *extsort_error(const extsort_t *s)
{
    return s->err[0] ? s->err : "unknown error";
}

uint64_t extsort_runs(const extsort_t *s)
{
    return s->spilled;
}

void extsort_free(extsort_t *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->nruns; i++)
        if (s->runs[i].f)
            fclose(s->runs[i].f);
    free(s->runs);
    free(s->recs);
    free(s->arena);
    free(s->dir);
    free(s);
}

static int es_cmp_kd(const extsort_t *s, uint64_t ka, const void *a, size_t alen,
                     uint64_t kb, const void *b, size_t blen)
{
    if (ka != kb)
        return ka < kb ? -1 : 1;
    return s->cmp ? s->cmp(a, alen, b, blen) : 0;
}

static int es_qsort_cmp(const void *pa, const void *pb)
{
    const es_rec_t *a = pa, *b = pb;
    int c = es_cmp_kd(es_ctx, a->key, es_ctx->arena + a->off, a->len,
                      b->key, es_ctx->arena + b->off, b->len);

    if (c)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* A new anonymous temp file in the sort directory. */
static FILE *es_tmpfile(extsort_t *s)
{
    size_t n = strlen(s->dir) + 32;
    char *path = malloc(n);
    FILE *f = NULL;
    int fd;

    if (!path) {
        errno = ENOMEM;
        es_fail(s, "temp file");
        return NULL;
    }
    snprintf(path, n, "%s/.llmbatch-sort-XXXXXX", s->dir);
    fd = mkstemp(path);
    if (fd < 0) {
        es_fail(s, "creating a temp file");
        free(path);
        return NULL;
    }
    unlink(path);
    free(path);
    f = fdopen(fd, "w+b");
    if (!f) {
        es_fail(s, "temp file");
        close(fd);
        return NULL;
    }
    return f;
}

static int es_write_rec(extsort_t *s, FILE *f, uint64_t key, const void *data, size_t len)
{
    uint64_t l = len;

    errno = 0;
    if (fwrite(&key, sizeof key, 1, f) != 1 || fwrite(&l, sizeof l, 1, f) != 1 ||
        (len && fwrite(data, 1, len, f) != len))
        return es_fail(s, "writing a sort run");
    return 0;
}

/* Reads the next record of a file source: 1 got one, 0 end, -1 error. */
static int es_src_next(extsort_t *s, es_src_t *src)
{
    uint64_t hdr[2];
    size_t got;

    if (!src->f) {
        const es_rec_t *r;
        if (src->next >= s->nrecs)
            return 0;
        r = &s->recs[src->next++];
        src->key = r->key;
        src->data = s->arena + r->off;
        src->len = r->len;
        return 1;
    }
    errno = 0;
    got = fread(hdr, sizeof hdr[0], 2, src->f);
    if (got == 0 && feof(src->f))
        return 0;
    if (got != 2)
        return es_fail(s, "reading a sort run");
    if (hdr[1] > SIZE_MAX - 1)
        return es_fail(s, "corrupt sort run");
    if (hdr[1] + 1 > src->cap) {
        size_t cap = (size_t)hdr[1] + 1;
        char *nb = realloc(src->buf, cap);
        if (!nb) {
            errno = ENOMEM;
            return es_fail(s, "reading a sort run");
        }
        src->buf = nb;
        src->cap = cap;
    }
    if (hdr[1] && fread(src->buf, 1, (size_t)hdr[1], src->f) != hdr[1])
        return es_fail(s, "reading a sort run");
    src->key = hdr[0];
    src->data = src->buf;
    src->len = (size_t)hdr[1];
    return 1;
}

/* heap order: key, tie-break, then source index (older first) */
static int es_less(const extsort_t *s, const es_src_t *src, size_t a, size_t b)
{
    int c = es_cmp_kd(s, src[a].key, src[a].data, src[a].len,
                      src[b].key, src[b].data, src[b].len);

    return c < 0 || (c == 0 && a < b);
}

static void es_sift(const extsort_t *s, const es_src_t *src, size_t *heap, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i, t;
        if (l < n && es_less(s, src, heap[l], heap[m]))
            m = l;
        if (r < n && es_less(s, src, heap[r], heap[m]))
            m = r;
        if (m == i)
            return;
        t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

/* Merges nf run files (oldest first), plus the in-memory buffer when mem,
 * into fn.  The files are rewound first; they stay open. */
static int es_merge(extsort_t *s, FILE **files, size_t nf, int mem,
                    extsort_emit_fn fn, void *arg)
{
    size_t n = nf + (mem ? 1 : 0), nh = 0, i;
    es_src_t *src = calloc(n ? n : 1, sizeof *src);
    size_t *heap = calloc(n ? n : 1, sizeof *heap);
    int rc = -1, got;

    if (!src || !heap) {
        errno = ENOMEM;
        es_fail(s, "merge");
        goto out;
    }
    for (i = 0; i < n; i++) {
        src[i].f = i < nf ? files[i] : NULL;
        if (src[i].f) {
            errno = 0;
            if (fflush(src[i].f) != 0 || fseek(src[i].f, 0, SEEK_SET) != 0) {
                es_fail(s, "rewinding a sort run");
                goto out;
            }
        }
        got = es_src_next(s, &src[i]);
        if (got < 0)
            goto out;
        if (got)
            heap[nh++] = i;
    }
    for (i = nh; i-- > 0;)
        es_sift(s, src, heap, nh, i);
    while (nh > 0) {
        es_src_t *top = &src[heap[0]];
        int cr = fn(top->key, top->data, top->len, arg);
        if (cr) {
            rc = cr;
            goto out;
        }
        got = es_src_next(s, top);
        if (got < 0)
            goto out;
        if (!got)
            heap[0] = heap[--nh];
        es_sift(s, src, heap, nh, 0);
    }
    rc = 0;
out:
    if (src)
        for (i = 0; i < n; i++)
            free(src[i].buf);
    free(src);
    free(heap);
    return rc;
}

typedef struct es_sink {
    extsort_t *s;
    FILE      *f;
} es_sink_t;

static int es_sink_emit(uint64_t key, const void *data, size_t len, void *arg)
{
    es_sink_t *k = arg;

    return es_write_rec(k->s, k->f, key, data, len);
}

static int es_push_run(extsort_t *s, FILE *f, int level)
{
    if (s->nruns == s->runs_cap) {
        size_t cap = s->runs_cap ? 2 * s->runs_cap : 16;
        es_run_t *nr = realloc(s->runs, cap * sizeof *nr);
        if (!nr) {
            errno = ENOMEM;
            return es_fail(s, "sort runs");
        }
        s->runs = nr;
        s->runs_cap = cap;
    }
    s->runs[s->nruns].f = f;
    s->runs[s->nruns].level = level;
    s->nruns++;
    return 0;
}

/* Merges the top EXTSORT_FANIN runs while they share a level. */
static int es_compact(extsort_t *s)
{
    while (s->nruns >= EXTSORT_FANIN) {
        size_t base = s->nruns - EXTSORT_FANIN, i;
        int level = s->runs[s->nruns - 1].level;
        FILE *files[EXTSORT_FANIN];
        es_sink_t sink = { s, NULL };

        if (s->runs[base].level != level)
            return 0;
        for (i = 0; i < EXTSORT_FANIN; i++)
            files[i] = s->runs[base + i].f;
        if (!(sink.f = es_tmpfile(s)))
            return -1;
        if (es_merge(s, files, EXTSORT_FANIN, 0, es_sink_emit, &sink) != 0) {
            fclose(sink.f);
            return -1;
        }
        for (i = 0; i < EXTSORT_FANIN; i++) {
            fclose(files[i]);
            s->runs[base + i].f = NULL;
        }
        s->nruns = base;
        if (es_push_run(s, sink.f, level + 1) != 0) {
            fclose(sink.f);
            return -1;
        }
    }
    return 0;
}

static void es_sort_mem(extsort_t *s)
{
    es_ctx = s;
    if (s->nrecs > 1)
        qsort(s->recs, s->nrecs, sizeof *s->recs, es_qsort_cmp);
    es_ctx = NULL;
}

static int es_spill(extsort_t *s)
{
    FILE *f;
    size_t i;

    es_sort_mem(s);
    if (!(f = es_tmpfile(s)))
        return -1;
    for (i = 0; i < s->nrecs; i++) {
        const es_rec_t *r = &s->recs[i];
        if (es_write_rec(s, f, r->key, s->arena + r->off, r->len) != 0) {
            fclose(f);
            return -1;
        }
    }
    if (es_push_run(s, f, 0) != 0) {
        fclose(f);
        return -1;
    }
    s->spilled++;
    s->nrecs = 0;
    s->arena_len = 0;
    return es_compact(s);
}

int extsort_add(extsort_t *s, uint64_t key, const void *data, size_t len)
{
    size_t need;

    if (s->finished || s->err[0]) {
        if (!s->err[0])
            snprintf(s->err, sizeof s->err, "extsort_add after extsort_finish");
        return -1;
    }
    if (len > SIZE_MAX / 2) {
        errno = EOVERFLOW;
        return es_fail(s, "record too large");
    }
    need = s->arena_len + len + (s->nrecs + 1) * sizeof(es_rec_t);
    if (s->nrecs > 0 && need > s->budget && es_spill(s) != 0)
        return -1;
    if (s->arena_len + len > s->arena_cap) {
        size_t cap = s->arena_cap ? s->arena_cap : 4096;
        char *na;
        while (cap < s->arena_len + len)
            cap *= 2;
        /* do not let doubling overshoot the budget */
        if (cap > s->budget && s->arena_len + len <= s->budget)
            cap = s->budget;
        na = realloc(s->arena, cap);
        if (!na) {
            errno = ENOMEM;
            return es_fail(s, "sort buffer");
        }
        s->arena = na;
        s->arena_cap = cap;
    }
    if (s->nrecs == s->recs_cap) {
        size_t cap = s->recs_cap ? 2 * s->recs_cap : 256;
        es_rec_t *nr = realloc(s->recs, cap * sizeof *nr);
        if (!nr) {
            errno = ENOMEM;
            return es_fail(s, "sort buffer");
        }
        s->recs = nr;
        s->recs_cap = cap;
    }
    if (len)
        memcpy(s->arena + s->arena_len, data, len);
    s->recs[s->nrecs].key = key;
    s->recs[s->nrecs].seq = s->seq++;
    s->recs[s->nrecs].off = s->arena_len;
    s->recs[s->nrecs].len = len;
    s->nrecs++;
    s->arena_len += len;
    return 0;
}

int extsort_finish(extsort_t *s, extsort_emit_fn fn, void *arg)
{
    FILE **files = NULL;
    size_t i;
    int rc;

    if (s->finished || s->err[0]) {
        if (!s->err[0])
            snprintf(s->err, sizeof s->err, "extsort_finish called twice");
        return -1;
    }
    s->finished = 1;
    es_sort_mem(s);
    files = calloc(s->nruns ? s->nruns : 1, sizeof *files);
    if (!files) {
        errno = ENOMEM;
        return es_fail(s, "merge");
    }
    for (i = 0; i < s->nruns; i++)
        files[i] = s->runs[i].f;
    rc = es_merge(s, files, s->nruns, 1, fn, arg);
    free(files);
    return rc;
}
