/*
 * finish: the one place a job ends (invariant 2, exactly once).
 *
 * Every path that ends a job comes here: a success, a final failure, a line
 * that cannot run (--skip-invalid, duplicates), a cache hit, and each
 * coalesced follower of a request, which gets the leader's whole outcome
 * (status, body, request id, code and message) in its own line.  Ending a
 * job means: its one line appended to the results or errors file, its bit
 * set in the checkpoint's done-bitmap, the counters moved; both become
 * durable together at the next commit (sched.c).  A job dropped because
 * the run stops gets neither, and stays pending.
 */
#include <stdlib.h>
#include <string.h>
#include "results.h"
#include "run_int.h"

slot_hist_t *slot_hist(slot_t *s)
{
    static slot_hist_t scratch;

    if (!s->hist && !(s->hist = calloc(1, sizeof(*s->hist)))) {
        free(scratch.last_body);
        memset(&scratch, 0, sizeof(scratch));
        return &scratch;
    }
    return s->hist;
}

const slot_hist_t *slot_hist_peek(const slot_t *s)
{
    static const slot_hist_t none;
    return s->hist ? s->hist : &none;
}

void slot_seen(slot_t *s, const char *what)
{
    slot_hist_t *h = slot_hist(s);
    size_t n = strlen(h->seen);
    if (n + strlen(what) + 2 >= sizeof(h->seen))
        return;
    snprintf(h->seen + n, sizeof(h->seen) - n, "%s%s", n ? "," : "", what);
}

static void mark_done(run_ctx_t *c, uint64_t ordinal)
{
    ckpt_mark(&c->ckpt, ordinal);
    c->pending_lines++;
    c->prog.done_this_run++;
}

static void emit(run_ctx_t *c, output_t *out, buf_t *line, int formatted)
{
    if (!formatted)
        run_fatal(c, "cannot format a line for %s (out of memory)", out->path);
    else if (output_append(out, line->data, line->len) != 0)
        run_fatal_io(c, "writing", out->path);
}

/* One job's line, formatted in c->line: one buffer for the run rather than
 * a few reallocations and a free per job. */
static void write_line(run_ctx_t *c, const job_t *j, const job_end_t *e, int mark)
{
    buf_t *line = &c->line;
    int ok;

    buf_reset(line);
    if (e->ok) {
        ok = results_success_raw(line, c->seed, j->ordinal, j->custom_id, e->status,
                                 e->request_id, e->body, e->body_len, e->tree, mark) == 0;
        emit(c, &c->files.out_ok, line, ok);
        c->stats.succeeded++;
    } else {
        json_t *tree = (json_t *)e->tree;
        json_t *own = NULL;

        if (!tree && e->body && e->body_len)
            tree = own = json_loadb(e->body, e->body_len, JSON_ALLOW_NUL, NULL);
        ok = results_error_line(line, c->seed, j->ordinal, j->custom_id, e->status,
                                e->request_id, tree, tree ? NULL : e->body,
                                tree ? 0 : e->body_len, e->code, e->message) == 0;
        emit(c, &c->files.out_err, line, ok);
        json_decref(own);
        c->stats.failed++;
    }
    if (line->cap > ((size_t)1 << 20))   /* after a huge reply, not kept */
        buf_release(line);
    mark_done(c, j->ordinal);
}

void finish_job(run_ctx_t *c, slot_t *s, const job_end_t *e)
{
    slot_t *f, *next;

    write_line(c, &s->job, e, e->mark);
    dedup_remove(c, s);
    for (f = s->followers; f; f = next) {
        next = f->next;
        write_line(c, &f->job, e, RESULTS_MARK_COALESCED);
        if (e->ok)
            c->stats.cache_saved = money_add(c->stats.cache_saved, e->cost);
        slot_free(c, f);
    }
    s->followers = NULL;
    slot_free(c, s);
}

void finish_failed(run_ctx_t *c, slot_t *s, const char *code, const char *message)
{
    const slot_hist_t *h = slot_hist_peek(s);
    job_end_t e = {
        .ok = 0, .status = h->last_status,
        .request_id = h->last_request_id[0] ? h->last_request_id : NULL,
        .body = h->last_body, .body_len = h->last_body_len,
        .code = code, .message = message,
    };
    finish_job(c, s, &e);
}

void finish_invalid(run_ctx_t *c, uint64_t ordinal, uint64_t lineno,
                    const char *custom_id, const char *msg)
{
    job_t j = { .ordinal = ordinal };
    job_end_t e = { .ok = 0, .code = "invalid_input", .message = msg };
    char id[40];

    if (!custom_id) {
        snprintf(id, sizeof(id), "line-%llu", (unsigned long long)lineno);
        custom_id = id;
    }
    j.custom_id = (char *)custom_id;
    write_line(c, &j, &e, RESULTS_MARK_NONE);
    c->stats.invalid++;
}

void finish_drop(run_ctx_t *c, slot_t *s)
{
    slot_t *f, *next;

    dedup_remove(c, s);
    for (f = s->followers; f; f = next) {
        next = f->next;
        slot_free(c, f);
    }
    s->followers = NULL;
    slot_free(c, s);
}
