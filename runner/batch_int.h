/*
 * batch_int: the state of the --via batch driver shared by its files (not a
 * public header; see batch.h and runner/README.md):
 *   batch.c          setup (state file, money of open parts), the loop, report
 *   batch_util.c     control calls, commit step, manifests, per-model limits
 *   batch_plan.c     planning the next part (upload file + manifest on disk)
 *   batch_submit.c   upload, intent, create, adopt/resubmit, cancel
 *   batch_collect.c  poll, download, one line and one settlement per row
 */
#ifndef LLMB_BATCH_INT_H
#define LLMB_BATCH_INT_H
#include "batch.h"
#include "batch_state.h"
#include "batchfmt.h"
#include "cli.h"
#include "clock.h"
#include "ctl.h"
#include "provider.h"
#include "run_int.h"
#include "url.h"

typedef struct bman {
    uint64_t ord;
    money_t  r;
    char    *cid;
    int      seen;
} bman_t;

/* What a model's parts may hold after a token-limit failure (learned). */
typedef struct blimit {
    int      dialect;
    char     model[128];
    uint64_t max_jobs;
} blimit_t;

typedef struct drv {
    run_ctx_t *c;
    ctl_t      ctl;
    bstate_t   st;
    char       state_path[4200], spool[4200];
    uint64_t  *busy;
    uint64_t   nbusy;             /* bits */
    int        exhausted;         /* no job left to plan */
    int        money_wait;        /* the next job waits for open parts to settle */
    int        tokens_wait;       /* ... for open parts of its model to finish */
    int64_t    plan_not_before_ms;
    blimit_t   lim[16];
    int        nlim;
    int        fallback;          /* --fallback live: a batch left rows unrun */
} drv_t;

const char *bd_prov(int dialect);
uint64_t bd_size_limit(int dialect);
uint64_t bd_count_limit(drv_t *d, int dialect, const char *model);
uint64_t bd_enqueued(const drv_t *d, int dialect, const char *model);
int bd_busy_get(const drv_t *d, uint64_t i);
void bd_busy_set(drv_t *d, uint64_t i, int on);
void bd_part_path(const drv_t *d, int n, const char *ext, char *out, size_t len);
int bd_drv_commit(drv_t *d);
int bd_take_signal(drv_t *d);
api_key_t *bd_key_named(drv_t *d, int dialect, const char *name);
int bd_call(drv_t *d, api_key_t *k, const char *method, const char *path, const char *body, const char *upload, const char *stream, FILE *sink, int no_resend, ctl_resp_t *resp);
json_t *bd_resp_json(const ctl_resp_t *r);
void bd_call_failed(drv_t *d, const char *what, const bpart_t *p, const ctl_resp_t *r);
void bd_manifest_free(bman_t *v, size_t n);
int bd_manifest_load(drv_t *d, const bpart_t *p, bman_t **out, size_t *nout);
bman_t *bd_manifest_find(bman_t *v, size_t n, uint64_t ord);
const price_t *bd_batch_price(drv_t *d, const char *model, int dialect, price_t *tmp);
blimit_t *bd_learned(drv_t *d, int dialect, const char *model, int add);
void bd_busy_part(drv_t *d, const bpart_t *p, int on);
bpart_t *bd_plan_part(drv_t *d);
int bd_settle_intent(drv_t *d, bpart_t *p, api_key_t *k);
int bd_submit_part(drv_t *d, bpart_t *p);
void bd_cancel_part(drv_t *d, bpart_t *p);
int bd_poll_part(drv_t *d, bpart_t *p);

#endif
