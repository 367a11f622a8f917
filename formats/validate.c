/*
 * validate: one validating pass over the input (see validate.h).  Owns, for
 * the duration of scan_input, the Bloom chain, the candidate digest set and
 * (second pass only) the digest -> first-line map.
 */
#include <stdlib.h>
#include <string.h>
#include "hash.h"
#include "reader.h"
#include "validate.h"

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

/*
 * Duplicate custom_ids in bounded memory: a scalable Bloom filter (a chain
 * of filters, each twice the size of the one before, ~10 bits per id, 7
 * probes) answers "maybe seen" for ~1% of new ids; those digests go to a
 * small candidate set, and only if there are candidates does a second pass
 * count them exactly (by 64-bit digest) and report the repeats with the line
 * of the first occurrence.  About 1.3 bytes per id instead of 16.
 */
#define BLOOM_FIRST_BITS ((uint64_t)1 << 20)
#define BLOOM_K 7

typedef struct bloom {
    uint64_t *bits;
    uint64_t  nbits, n, cap;     /* cap = ids before the next filter */
} bloom_t;

typedef struct bloomchain {
    bloom_t v[40];
    int     n;
} bloomchain_t;

static int bloom_probe(const bloom_t *b, uint64_t h, int set)
{
    uint64_t h2 = (h >> 32) | (h << 32), found = 1;
    for (int i = 0; i < BLOOM_K; i++) {
        uint64_t bit = (h + (uint64_t)i * (h2 | 1)) & (b->nbits - 1);
        uint64_t mask = (uint64_t)1 << (bit & 63);
        if (set)
            b->bits[bit >> 6] |= mask;
        else if (!(b->bits[bit >> 6] & mask))
            found = 0;
    }
    return (int)found;
}

/* 1 if the id may have been seen (then it is added anyway), 0 if new,
 * -1 on ENOMEM. */
static int bloom_add(bloomchain_t *c, uint64_t h)
{
    bloom_t *last;
    int maybe = 0;

    for (int i = 0; i < c->n && !maybe; i++)
        maybe = bloom_probe(&c->v[i], h, 0);
    last = c->n ? &c->v[c->n - 1] : NULL;
    if (!last || last->n >= last->cap) {
        uint64_t nbits = last ? last->nbits * 2 : BLOOM_FIRST_BITS;
        if (c->n == 40)
            return -1;
        last = &c->v[c->n];
        last->bits = calloc(nbits / 64, sizeof(uint64_t));
        if (!last->bits)
            return -1;
        last->nbits = nbits;
        last->cap = nbits / 10;
        last->n = 0;
        c->n++;
    }
    bloom_probe(last, h, 1);
    last->n++;
    return maybe;
}

static void bloom_free(bloomchain_t *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->v[i].bits);
    c->n = 0;
}

/* digest -> first line, for the candidates' exact count; the line's top
 * bit (SEEN_AUTO) marks an id generated for a line without custom_id */
#define SEEN_AUTO ((uint64_t)1 << 63)

typedef struct seenmap {
    uint64_t *key, *line;
    size_t    cap, n;
} seenmap_t;

static int idset_has(const idset_t *s, uint64_t h)
{
    if (!s->cap)
        return 0;
    for (size_t i = h & (s->cap - 1); s->v[i]; i = (i + 1) & (s->cap - 1))
        if (s->v[i] == h)
            return 1;
    return 0;
}

/* Returns the first line of h if seen (0 if new, then records lineno);
 * UINT64_MAX on ENOMEM. */
static uint64_t seen_first(seenmap_t *m, uint64_t h, uint64_t lineno)
{
    size_t i;

    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 256;
        uint64_t *nk = calloc(ncap, sizeof(*nk)), *nl = calloc(ncap, sizeof(*nl));
        if (!nk || !nl) {
            free(nk);
            free(nl);
            return UINT64_MAX;
        }
        for (size_t k = 0; k < m->cap; k++) {
            if (!m->key[k])
                continue;
            for (i = m->key[k] & (ncap - 1); nk[i]; i = (i + 1) & (ncap - 1))
                ;
            nk[i] = m->key[k];
            nl[i] = m->line[k];
        }
        free(m->key);
        free(m->line);
        m->key = nk;
        m->line = nl;
        m->cap = ncap;
    }
    for (i = h & (m->cap - 1); m->key[i]; i = (i + 1) & (m->cap - 1))
        if (m->key[i] == h)
            return m->line[i];
    m->key[i] = h;
    m->line[i] = lineno;
    m->n++;
    return 0;
}

static int cmp_bad(const void *a, const void *b)
{
    uint64_t x = SCAN_BAD_ORD(*(const uint64_t *)a), y = SCAN_BAD_ORD(*(const uint64_t *)b);
    return x < y ? -1 : x > y;
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

/* Second pass: exact count of the candidate digests. */
static int scan_dups(const char *fpath, const char *path, const scan_opts_t *o,
                     scan_result_t *r, const idset_t *cand)
{
    char err[1024], msg[1300];
    seenmap_t seen = {0};
    reader_t *rd = reader_open(fpath, err, sizeof(err));
    const char *line;
    size_t len;
    uint64_t lineno, ordinal, njobs = r->jobs;
    int got, rc = 0;

    if (!rd)
        return -1;
    while ((got = reader_next_job(rd, &line, &len, &lineno)) != READER_EOF) {
        job_t j;
        uint64_t h, first;

        if (got == READER_ERR) {
            rc = -1;
            break;
        }
        ordinal = reader_jobs(rd);
        if (got != READER_LINE ||
            job_parse(line, len, lineno, o->defs, &j, err, sizeof(err)) != 0)
            continue;
        /* generated ids ("line-N") count too: an explicit custom_id
         * "line-7" elsewhere would make two result lines with one id */
        h = hash64(j.custom_id, strlen(j.custom_id));
        if (idset_has(cand, h)) {
            first = seen_first(&seen, h, lineno | (j.auto_id ? SEEN_AUTO : 0));
            if (first == UINT64_MAX) {
                job_release(&j);
                rc = -1;
                break;
            }
            if (first && j.auto_id)
                snprintf(msg, sizeof(msg), "duplicate custom_id \"%.200s\": this line has no "
                         "custom_id and is given that id, which line %llu already uses",
                         j.custom_id, (unsigned long long)(first & ~SEEN_AUTO));
            else if (first && (first & SEEN_AUTO))
                snprintf(msg, sizeof(msg), "duplicate custom_id \"%.200s\" (first at line %llu, "
                         "which has no custom_id and is given that id)",
                         j.custom_id, (unsigned long long)(first & ~SEEN_AUTO));
            else if (first)
                snprintf(msg, sizeof(msg), "duplicate custom_id \"%.200s\" (first at line %llu)",
                         j.custom_id, (unsigned long long)first);
            if (first) {
                r->jobs = ordinal;          /* problem() records jobs - 1 */
                problem(o, r, path, lineno, msg, SCAN_BAD_DUP);
            }
        }
        job_release(&j);
    }
    r->jobs = njobs;
    free(seen.key);
    free(seen.line);
    reader_free(rd);
    return rc;
}

int scan_input(const char *fpath, const scan_opts_t *opts, scan_result_t *r)
{
    const char *path = opts->name ? opts->name : fpath;
    scan_opts_t so = *opts, *o = &so;
    job_defaults_t defs = opts->defs ? *opts->defs : (job_defaults_t){ NULL, 0, -1, 0 };
    char err[1024];
    idset_t cand = {0};
    bloomchain_t bloom = {0};
    reader_t *rd;
    const char *line;
    size_t len;
    uint64_t lineno;
    int rc = 0, got;

    defs.flags &= ~(unsigned)(JOB_WANT_KEY | JOB_RAW_KEY);
    if (!o->exact_bodies)
        defs.flags |= JOB_NO_BODY;
    if (o->fast && !o->exact_bodies)
        defs.flags |= JOB_FAST;
    so.defs = &defs;
    memset(r, 0, sizeof(*r));
    rd = reader_open(fpath, err, sizeof(err));
    if (!rd) {
        if (o->err)
            fprintf(o->err, "%s\n", err);
        return -1;
    }
    while ((got = reader_next_job(rd, &line, &len, &lineno)) != READER_EOF) {
        job_t j;

        if (got == READER_ERR) {
            if (o->err)
                fprintf(o->err, "%s:%llu: %s\n", path, (unsigned long long)lineno + 1,
                        reader_error(rd));
            rc = -1;
            goto out;
        }
        r->lines = reader_lines(rd);
        r->jobs = reader_jobs(rd);
        if (got == READER_TOOLONG) {
            problem(o, r, path, lineno, "line is longer than 32 MiB", SCAN_BAD_TOOLONG);
            continue;
        }
        if (job_parse(line, len, lineno, o->defs, &j, err, sizeof(err)) != 0) {
            problem(o, r, path, lineno, err, SCAN_BAD_PARSE);
            continue;
        }
        {
            uint64_t h = hash64(j.custom_id, strlen(j.custom_id));
            int maybe = bloom_add(&bloom, h);
            if (maybe < 0 || (maybe && idset_add(&cand, h) < 0)) {
                job_release(&j);
                if (o->err)
                    fprintf(o->err, "%s: out of memory\n", path);
                rc = -1;
                goto out;
            }
        }
        r->dialects |= 1u << j.dialect;
        if (account(o, r, &j, err, sizeof(err)) != 0)
            problem(o, r, path, lineno, err, SCAN_BAD_PRICE);
        job_release(&j);
    }
    r->lines = reader_lines(rd);          /* trailing blank lines too */
    bloom_free(&bloom);
    if (cand.n && scan_dups(fpath, path, o, r, &cand) != 0) {
        if (o->err)
            fprintf(o->err, "%s: cannot re-read the input to check duplicate custom_ids\n", path);
        rc = -1;
        goto out;
    }
    if (r->nbad > 1)
        qsort(r->bad, r->nbad, sizeof(*r->bad), cmp_bad);
    if (r->invalid && o->err && r->invalid > o->max_report)
        fprintf(o->err, "%s: ... and %llu more problems\n", path,
                (unsigned long long)(r->invalid - o->max_report));
    if (r->invalid && !o->skip_invalid)
        rc = 2;
out:
    bloom_free(&bloom);
    free(cand.v);
    reader_free(rd);
    return rc;
}
