/*
 * runstats: brings the run's counters (stats_t, which the checkpoint and
 * the report carry) up to date with the ledger and the keys.  Called at
 * every commit point and before the report.
 */
#include "clock.h"
#include "run_int.h"

void run_sync_stats(run_ctx_t *c)
{
    int64_t now_ns = clock_mono_ns();
    const budget_t *b = &c->ledger.budget;

    c->stats.spent = budget_spent(b);
    c->stats.possibly_billed = money_add(c->base_possibly_billed, b->possibly_billed);
    c->stats.estimated = money_add(c->base_estimated, b->estimated);
    for (size_t i = 0; i < c->keys.n; i++) {
        api_key_t *k = &c->keys.v[i];
        key_stats_t *ks = stats_key(&c->stats, k->name);
        if (ks)
            snprintf(ks->state, sizeof(ks->state), "%s", key_state_name(keys_state(k, now_ns)));
    }
}
