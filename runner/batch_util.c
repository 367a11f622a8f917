/*
 * batch_util: the helpers of the --via batch driver: control calls with the
 * part's key, the commit step (batch state, then checkpoint), the busy
 * bitmap, manifests (part-N.ids), batch prices and per-model part limits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "batch_int.h"

const char *bd_prov(int d) { return d ? "anthropic" : "openai"; }

/* ---- small helpers ------------------------------------------------------ */

int bd_busy_get(const drv_t *d, uint64_t i)
{
    return i < d->nbusy && (d->busy[i >> 6] >> (i & 63)) & 1;
}

void bd_busy_set(drv_t *d, uint64_t i, int on)
{
    if (i >= d->nbusy)
        return;
    if (on)
        d->busy[i >> 6] |= (uint64_t)1 << (i & 63);
    else
        d->busy[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

void bd_part_path(const drv_t *d, int n, const char *ext, char *out, size_t len)
{
    snprintf(out, len, "%s/part-%d.%s", d->spool, n, ext);
}

/* Commit step: the batch state first, then outputs + checkpoint.  The
 * durable money bound is exactly what is reserved (the open parts): money
 * is only ever reserved here, whole parts at a time, before a commit, so no
 * headroom is needed and a crash books nothing that was not at stake. */
int bd_drv_commit(drv_t *d)
{
    run_ctx_t *c = d->c;

    if (c->no_commit)
        return -1;
    if (bstate_save(d->state_path, &d->st) != 0) {
        run_fatal_io(c, "writing batch state", d->state_path);
        return -1;
    }
    return sched_commit(c, 1, 0);
}

int bd_take_signal(drv_t *d)
{
    run_ctx_t *c = d->c;
    int last = 0;

    if (signals_take(&last) == 0)
        return 0;
    if (!c->exit_signal)
        c->exit_signal = last;
    c->stop = STOP_SIGNAL;
    return 1;
}

api_key_t *bd_key_named(drv_t *d, int dialect, const char *name)
{
    for (size_t i = 0; i < d->c->keys.n; i++) {
        api_key_t *k = &d->c->keys.v[i];
        if ((int)k->dialect == dialect && (!name || !*name || strcmp(k->name, name) == 0))
            return k;
    }
    return NULL;
}

/* Request headers for key k: auth, version, and a JSON content type unless
 * the body is multipart. */
static struct curl_slist *key_headers(api_key_t *k, int json)
{
    char auth[4200];
    const char *h[4];
    int n = 0;
    struct curl_slist *l;

    if (keys_auth_header(k, auth, sizeof(auth)))
        return NULL;
    h[n++] = auth;
    if (json)
        h[n++] = "Content-Type: application/json";
    if (k->dialect == DIALECT_ANTHROPIC)
        h[n++] = "anthropic-version: " PROVIDER_ANTHROPIC_VERSION;
    h[n] = NULL;
    l = pool_headers(h);
    memset(auth, 0, sizeof(auth));
    return l;
}

/* One control call for part p's key.  CTL_* ; resp->body holds the answer. */
int bd_call(drv_t *d, api_key_t *k, const char *method, const char *path,
                const char *body, const char *upload, const char *stream, FILE *sink,
                int no_resend, ctl_resp_t *resp)
{
    char *url = strncmp(path, "http", 4) == 0 ? strdup(path)
                : url_join(cli_base_url(k->dialect, d->c->o->base_url), path);
    struct curl_slist *h = key_headers(k, !upload);
    ctl_req_t req = { .method = method, .url = url, .headers = h, .body = body,
                      .body_len = body ? strlen(body) : 0, .upload_path = upload,
                      .stream_path = stream, .sink = sink, .no_resend = no_resend };
    int rc = CTL_FAIL;

    if (url && h)
        rc = ctl_request(&d->ctl, &req, resp);
    else
        snprintf(resp->err, sizeof(resp->err), "out of memory");
    pool_headers_free(h);
    free(url);
    if (resp->body.len)
        redact(d->c, resp->body.data, resp->body.len);
    if (rc == CTL_SIGNAL)
        bd_take_signal(d), d->c->stop = STOP_SIGNAL;
    return rc;
}

json_t *bd_resp_json(const ctl_resp_t *r)
{
    return r->body.len ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
}

/* A control call that did not get a usable answer: exit 5 naming it. */
void bd_call_failed(drv_t *d, const char *what, const bpart_t *p, const ctl_resp_t *r)
{
    if (d->c->stop == STOP_SIGNAL)
        return;
    run_fatal(d->c, "%s for batch part %d (%s %s) failed: %s%s%.300s", what, p->n,
              bd_prov(p->dialect), p->model, r->status ? "" : r->err,
              r->status ? "server said: " : "", r->status ? r->body.data : "");
}

/* ---- manifests ---------------------------------------------------------- */

void bd_manifest_free(bman_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].cid);
    free(v);
}

int bd_manifest_load(drv_t *d, const bpart_t *p, bman_t **out, size_t *nout)
{
    char path[4300], *line = NULL;
    size_t cap = 0, n = 0, vcap = 0;
    bman_t *v = NULL;
    ssize_t len;
    FILE *f;

    bd_part_path(d, p->n, "ids", path, sizeof(path));
    if (!(f = fopen(path, "r"))) {
        run_fatal_io(d->c, "reading batch manifest", path);
        return -1;
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        unsigned long long ord;
        long long r;
        int off = 0;
        json_t *cid;
        if (sscanf(line, "%llu %lld %n", &ord, &r, &off) < 2 || off <= 0 ||
            !(cid = json_loads(line + off, JSON_DECODE_ANY, NULL)) || !json_is_string(cid)) {
            run_fatal(d->c, "%s: damaged line %zu", path, n + 1);
            goto fail;
        }
        if (n == vcap) {
            bman_t *nv = realloc(v, (vcap = vcap ? vcap * 2 : 1024) * sizeof(*v));
            if (!nv) {
                json_decref(cid);
                run_fatal(d->c, "out of memory");
                goto fail;
            }
            v = nv;
        }
        v[n] = (bman_t){ ord, r, strdup(json_string_value(cid)), 0 };
        json_decref(cid);
        if (!v[n++].cid) {
            run_fatal(d->c, "out of memory");
            goto fail;
        }
    }
    free(line);
    fclose(f);
    *out = v;
    *nout = n;
    return 0;
fail:
    free(line);
    fclose(f);
    bd_manifest_free(v, n);
    return -1;
}

bman_t *bd_manifest_find(bman_t *v, size_t n, uint64_t ord)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid].ord == ord)
            return &v[mid];
        if (v[mid].ord < ord)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- planning a part ---------------------------------------------------- */

const price_t *bd_batch_price(drv_t *d, const char *model, int dialect, price_t *tmp)
{
    const price_t *lp = d->c->prices ? prices_lookup(d->c->prices, model) : NULL;
    if (!lp)
        return NULL;
    price_batch(d->c->prices, lp, (dialect_t)dialect, tmp);
    return tmp;
}

uint64_t bd_size_limit(int dialect)
{
    return dialect ? 250000000ull : 190000000ull;   /* under 256 MB / 200 MB */
}

blimit_t *bd_learned(drv_t *d, int dialect, const char *model, int add)
{
    for (int i = 0; i < d->nlim; i++)
        if (d->lim[i].dialect == dialect && strcmp(d->lim[i].model, model) == 0)
            return &d->lim[i];
    if (!add || d->nlim == (int)(sizeof(d->lim) / sizeof(d->lim[0])))
        return NULL;
    d->lim[d->nlim] = (blimit_t){ .dialect = dialect, .max_jobs = UINT64_MAX };
    snprintf(d->lim[d->nlim].model, sizeof(d->lim[0].model), "%s", model);
    return &d->lim[d->nlim++];
}

uint64_t bd_count_limit(drv_t *d, int dialect, const char *model)
{
    uint64_t m = dialect ? 100000 : 50000, b = d->c->o->batch_size;
    blimit_t *l = bd_learned(d, dialect, model, 0);
    if (b && b < m)
        m = b;
    return l && l->max_jobs < m ? l->max_jobs : m;
}

/* Prompt tokens already enqueued in the open parts of this model. */
uint64_t bd_enqueued(const drv_t *d, int dialect, const char *model)
{
    uint64_t t = 0;
    for (size_t i = 0; i < d->st.n; i++) {
        const bpart_t *p = &d->st.v[i];
        if ((p->state == BP_INTENT || p->state == BP_SUBMITTED) && p->dialect == dialect &&
            strcmp(p->model, model) == 0)
            t += p->tokens;
    }
    return t;
}

/* Writes the next part's upload file and manifest.  Returns the part
 * (state BP_PLANNED) or NULL: nothing left (d->exhausted), the money is
 * short (d->money_wait or c->stop), or an error (c->stop). */
void bd_busy_part(drv_t *d, const bpart_t *p, int on)
{
    bman_t *v;
    size_t n;

    if (bd_manifest_load(d, p, &v, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (on || !ckpt_done(&d->c->ckpt, v[i].ord))
            bd_busy_set(d, v[i].ord, on);
    bd_manifest_free(v, n);
}
