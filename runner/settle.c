/*
 * settle: the one place an attempt's reservation is settled (invariants 1
 * and 3).  Every ended attempt -- success, retry, final failure, key
 * problem, abort -- calls settle_attempt() once, with how the provider may
 * have billed it:
 *
 *   SETTLE_HOW_USAGE   a 2xx: its usage priced; the whole reservation when
 *                      the usage is missing, or has no output count (except
 *                      embeddings, which have none), or the model is
 *                      unpriced (cost 0, reported as unpriced);
 *   SETTLE_HOW_BILLED  the attempt may have reached the meter (request
 *                      bytes sent, then a timeout, a reset, a 5xx, a broken
 *                      2xx): charged its reservation;
 *   SETTLE_HOW_FREE    it did not (429, 4xx, connection refused): released.
 *
 * The cost lands in the ledger and in the per-model and per-key breakdowns,
 * so they add up to the total.
 */
#include "run_int.h"

money_t settle_attempt(run_ctx_t *c, slot_t *s, int how, const usage_t *u)
{
    money_t cost = 0;
    int kind = SETTLE_RELEASE, priced = s->price != NULL;
    const char *key_name = s->key ? s->key->name : NULL;

    switch (how) {
    case SETTLE_HOW_USAGE:
        if (!priced) {
            kind = SETTLE_REAL;
        } else if (u && (u->present == 1 ||
                         (u->present == 2 && s->job.endpoint == EP_EMBEDDINGS))) {
            cost = price_cost(s->price, u);
            kind = SETTLE_REAL;
        } else {
            cost = s->reservation;
            kind = SETTLE_ESTIMATED;
        }
        break;
    case SETTLE_HOW_BILLED:
        cost = s->reservation;
        kind = SETTLE_POSSIBLY_BILLED;
        break;
    default:
        break;
    }
    if (s->reserved)
        ledger_settle(&c->ledger, s->reservation, cost, kind);
    s->reserved = 0;
    if (how == SETTLE_HOW_USAGE) {
        static const usage_t none;
        const usage_t *use = u ? u : &none;
        stats_account(&c->stats, s->job.model, key_name, use, cost, priced, 1);
        c->prog.tokens_this_run += use->input + use->cached_input + use->cache_write +
                                   use->output;
    } else if (how == SETTLE_HOW_BILLED) {
        stats_account(&c->stats, s->job.model, key_name, NULL, cost, priced, 0);
    }
    if (s->key)
        s->key->cost = money_add(s->key->cost, cost);
    return cost;
}
