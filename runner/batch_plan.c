/*
 * batch_plan: the next part -- jobs neither done nor in an open part, of
 * one (provider, model, endpoint), up to the size, byte, token and money
 * limits -- written to part-N.jsonl and its manifest part-N.ids.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "batch_int.h"

bpart_t *bd_plan_part(drv_t *d)
{
    run_ctx_t *c = d->c;
    const run_opts_t *o = c->o;
    job_defaults_t defs = c->adm.defs;
    char path[4300], mpath[4300], err[1024];
    FILE *f = NULL, *m = NULL;
    reader_t *rd = NULL;
    bpart_t *p = NULL;
    buf_t line = BUF_INIT;
    uint64_t ord = 0, bytes = 0, lim = 0, tok_room = UINT64_MAX;
    money_t cum = 0;
    const char *l;
    size_t len;
    uint64_t lineno;
    int got;

    defs.flags = 0;
    d->money_wait = 0;
    d->tokens_wait = 0;
    if (!(rd = reader_open(c->files.input_path, err, sizeof(err)))) {
        run_fatal(c, "%s", err);
        return NULL;
    }
    while ((got = reader_next(rd, &l, &len, &lineno)) != READER_EOF) {
        job_t j;
        price_t tmp;
        const price_t *bp;
        money_t r = 0;
        size_t k;

        if (got == READER_ERR) {
            run_fatal(c, "%s: %s", o->input, reader_error(rd));
            goto out;
        }
        if (got == READER_LINE) {
            for (k = 0; k < len && (l[k] == ' ' || l[k] == '\t' || l[k] == '\r'); k++)
                ;
            if (k == len)
                continue;
        }
        ord++;
        if (ckpt_done(&c->ckpt, ord - 1) || bd_busy_get(d, ord - 1))
            continue;
        if (got == READER_TOOLONG) {
            finish_invalid(c, ord - 1, lineno, NULL, "line is longer than 32 MiB");
            continue;
        }
        if (job_parse(l, len, lineno, &defs, &j, err, sizeof(err)) != 0) {
            if (!o->skip_invalid) {
                run_fatal(c, "%s:%llu: %s (the input changed during the run)", o->input,
                          (unsigned long long)lineno, err);
                goto out;
            }
            finish_invalid(c, ord - 1, lineno, NULL, err);
            continue;
        }
        j.ordinal = ord - 1;
        if (p && ((int)j.dialect != p->dialect || strcmp(j.model, p->model) != 0 ||
                  strcmp(j.path, p->endpoint) != 0)) {
            job_release(&j);
            continue;
        }
        if ((bp = bd_batch_price(d, j.model, j.dialect, &tmp)) &&
            price_reservation(bp, &j, &r, err, sizeof(err)) != 0)
            r = 0;
        if (c->ledger.budget.capped && (!bp || ledger_money(&c->ledger, money_add(cum, r)) != LEDGER_GO)) {
            job_release(&j);
            if (!p || p->jobs == 0)
                d->money_wait = 1;
            break;
        }
        buf_reset(&line);
        if (batchfmt_request(&line, &j) != 0) {
            job_release(&j);
            run_fatal(c, "out of memory");
            goto out;
        }
        if (!p) {
            if (!(p = bstate_add(&d->st))) {
                job_release(&j);
                run_fatal(c, "out of memory");
                goto out;
            }
            p->state = BP_PLANNED;
            p->dialect = j.dialect;
            snprintf(p->model, sizeof(p->model), "%s", j.model);
            snprintf(p->endpoint, sizeof(p->endpoint), "%s", j.path);
            lim = bd_count_limit(d, p->dialect, p->model);
            if (o->max_enqueued_tokens) {
                uint64_t used = bd_enqueued(d, p->dialect, p->model);
                tok_room = used < o->max_enqueued_tokens ? o->max_enqueued_tokens - used : 0;
                if (used && (j.body_len + 3) / 4 > tok_room) {
                    /* wait for open parts of this model to finish */
                    job_release(&j);
                    d->st.n--;
                    p = NULL;
                    d->money_wait = 0;
                    d->tokens_wait = 1;
                    break;
                }
            }
            bd_part_path(d, p->n, "jsonl", path, sizeof(path));
            bd_part_path(d, p->n, "ids", mpath, sizeof(mpath));
            if (!(f = fopen(path, "w")) || !(m = fopen(mpath, "w"))) {
                job_release(&j);
                run_fatal_io(c, "creating", path);
                goto out;
            }
            if (p->dialect == DIALECT_ANTHROPIC)
                fputs("{\"requests\":[\n", f);
        } else if (bytes + line.len + 8 > bd_size_limit(p->dialect) ||
                   p->tokens + (j.body_len + 3) / 4 > tok_room) {
            job_release(&j);
            break;
        }
        if (p->dialect == DIALECT_ANTHROPIC && p->jobs)
            fputs(",\n", f);
        fwrite(line.data, 1, line.len, f);
        if (p->dialect != DIALECT_ANTHROPIC)
            fputc('\n', f);
        bytes += line.len + 2;
        buf_reset(&line);
        buf_json_str(&line, j.custom_id, strlen(j.custom_id));
        fprintf(m, "%llu %lld %s\n", (unsigned long long)j.ordinal, (long long)r, line.data);
        cum = money_add(cum, r);
        p->jobs++;
        p->tokens += (j.body_len + 3) / 4;
        job_release(&j);
        if (p->jobs >= lim)
            break;
    }
    if (!p && !d->money_wait && !d->tokens_wait && !c->stop)
        d->exhausted = 1;
out:
    if (f && p && p->dialect == DIALECT_ANTHROPIC)
        fputs("\n]}\n", f);
    if ((f && (fflush(f) || ferror(f) || fsync(fileno(f)))) ||
        (m && (fflush(m) || ferror(m) || fsync(fileno(m)))))
        run_fatal_io(c, "writing", path);
    if (f)
        fclose(f);
    if (m)
        fclose(m);
    reader_free(rd);
    buf_release(&line);
    if (p) {
        p->reserve = cum;
        if (c->stop) {
            d->st.n--;          /* the last one added: never written */
            return NULL;
        }
    }
    return p;
}
