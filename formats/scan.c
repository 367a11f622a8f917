/*
 * scan: one validating pass over the input (see scan.h).
 */
#include <stdlib.h>
#include <string.h>
#include "reader.h"
#include "scan.h"

uint64_t hash64(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    /* splitmix64 finaliser: spreads FNV's weak low bits */
    h ^= h >> 30; h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27; h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;                 /* 0 marks an empty slot */
}

typedef struct idset {
    uint64_t *v;
    size_t    cap, n;
} idset_t;

/* 1 if added, 0 if present, -1 on ENOMEM. */
static int idset_add(idset_t *s, uint64_t h)
{
    size_t i;

    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        uint64_t *nv = calloc(ncap, sizeof(*nv));
        if (!nv)
            return -1;
        for (size_t k = 0; k < s->cap; k++) {
            if (!s->v[k])
                continue;
            for (i = s->v[k] & (ncap - 1); nv[i]; i = (i + 1) & (ncap - 1))
                ;
            nv[i] = s->v[k];
        }
        free(s->v);
        s->v = nv;
        s->cap = ncap;
    }
    for (i = h & (s->cap - 1); s->v[i]; i = (i + 1) & (s->cap - 1))
        if (s->v[i] == h)
            return 0;
    s->v[i] = h;
    s->n++;
    return 1;
}

static scan_model_t *scan_model(scan_result_t *r, const char *model)
{
    scan_model_t *nv;

    for (size_t i = 0; i < r->nmodels; i++)
        if (strcmp(r->models[i].model, model) == 0)
            return &r->models[i];
    nv = realloc(r->models, (r->nmodels + 1) * sizeof(*nv));
    if (!nv)
        return NULL;
    r->models = nv;
    memset(&nv[r->nmodels], 0, sizeof(*nv));
    if (!(nv[r->nmodels].model = strdup(model)))
        return NULL;
    return &r->models[r->nmodels++];
}

void scan_result_release(scan_result_t *r)
{
    for (size_t i = 0; i < r->nmodels; i++)
        free(r->models[i].model);
    free(r->models);
    free(r->bad);
    memset(r, 0, sizeof(*r));
}

static void problem(const scan_opts_t *o, scan_result_t *r, const char *path,
                    uint64_t lineno, const char *msg, int reason)
{
    r->invalid++;
    if (o->skip_invalid) {
        if (r->nbad == r->capbad) {
            size_t ncap = r->capbad ? r->capbad * 2 : 64;
            uint64_t *nv = realloc(r->bad, ncap * sizeof(*nv));
            if (nv) {
                r->bad = nv;
                r->capbad = ncap;
            }
        }
        if (r->nbad < r->capbad)
            r->bad[r->nbad++] = (r->jobs - 1) | ((uint64_t)reason << 56);
    }
    if (o->err && r->invalid <= o->max_report)
        fprintf(o->err, "%s:%llu: %s\n", path, (unsigned long long)lineno, msg);
}

static int account(const scan_opts_t *o, scan_result_t *r, const job_t *j,
                   char *err, size_t errlen)
{
    const price_t *p = o->prices ? prices_lookup(o->prices, j->model) : NULL;
    scan_model_t *m = scan_model(r, j->model);
    money_t res = 0;

    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!p && o->need_prices) {
        snprintf(err, errlen, "model \"%s\" is not in the price table, so its cost "
                 "cannot be bounded under --budget (add it with --prices FILE)", j->model);
        return -1;
    }
    if (p && price_reservation(p, j, &res, err, errlen) != 0) {
        if (o->need_prices)
            return -1;
        p = NULL;
    }
    m->jobs++;
    m->input_bound += j->body_len;
    m->input_expected += j->text_bytes / 4 + 1;
    if (!p) {
        m->priced = 0;
        r->unpriced++;
        return 0;
    }
    m->priced = 1;
    {
        uint64_t out_exp = job_expected_output(p, j);
        uint64_t out_max = j->endpoint == EP_EMBEDDINGS ? 0
                         : (j->max_output ? j->max_output : p->max_output_tokens) * j->n;
        usage_t u = {0};
        u.input = j->text_bytes / 4 + 1;
        u.output = out_exp;
        m->output_bound += out_max;
        m->output_expected += out_exp;
        if (!j->max_output && j->endpoint != EP_EMBEDDINGS)
            m->no_max_tokens++;
        m->worst = money_add(m->worst, res);
        m->expected = money_add(m->expected, price_cost(p, &u));
        r->worst = money_add(r->worst, res);
        r->expected = money_add(r->expected, price_cost(p, &u));
        if (res > r->max_reservation)
            r->max_reservation = res;
    }
    return 0;
}

int scan_input(const char *path, const scan_opts_t *o, scan_result_t *r)
{
    char err[1024], msg[1200];
    idset_t ids = {0};
    reader_t *rd;
    const char *line;
    size_t len;
    uint64_t lineno;
    int rc = 0, got;

    memset(r, 0, sizeof(*r));
    rd = reader_open(path, err, sizeof(err));
    if (!rd) {
        if (o->err)
            fprintf(o->err, "%s\n", err);
        return -1;
    }
    while ((got = reader_next(rd, &line, &len, &lineno)) != READER_EOF) {
        job_t j;
        size_t k;

        if (got == READER_ERR) {
            if (o->err)
                fprintf(o->err, "%s:%llu: %s\n", path, (unsigned long long)lineno + 1,
                        reader_error(rd));
            rc = -1;
            goto out;
        }
        r->lines = lineno;
        if (got == READER_TOOLONG) {
            r->jobs++;
            problem(o, r, path, lineno, "line is longer than 32 MiB", SCAN_BAD_TOOLONG);
            continue;
        }
        for (k = 0; k < len && (line[k] == ' ' || line[k] == '\t'); k++)
            ;
        if (k == len)
            continue;                     /* blank line */
        r->jobs++;
        if (job_parse(line, len, lineno, o->defs, &j, err, sizeof(err)) != 0) {
            problem(o, r, path, lineno, err, SCAN_BAD_PARSE);
            continue;
        }
        if (!j.auto_id) {
            int added = idset_add(&ids, hash64(j.custom_id, strlen(j.custom_id)));
            if (added < 0) {
                job_release(&j);
                rc = -1;
                goto out;
            }
            if (added == 0) {
                snprintf(msg, sizeof(msg), "duplicate custom_id \"%.200s\"", j.custom_id);
                problem(o, r, path, lineno, msg, SCAN_BAD_DUP);
                job_release(&j);
                continue;
            }
        }
        r->dialects |= 1u << j.dialect;
        if (account(o, r, &j, err, sizeof(err)) != 0)
            problem(o, r, path, lineno, err, SCAN_BAD_PRICE);
        job_release(&j);
    }
    if (r->invalid && o->err && r->invalid > o->max_report)
        fprintf(o->err, "%s: ... and %llu more problems\n", path,
                (unsigned long long)(r->invalid - o->max_report));
    if (r->invalid && !o->skip_invalid)
        rc = 2;
out:
    free(ids.v);
    reader_free(rd);
    return rc;
}
