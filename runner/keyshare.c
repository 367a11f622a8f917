/*
 * keyshare: each API key's state shared through the run's ledger (--ledger),
 * named by the key's fingerprint (keys_shared_name), never by the key.
 *
 * Once a second (and once right after the ledger is opened) every key's
 * local state is merged into the ledger's (rledger_key_update: exhausted and
 * invalid are sticky, the latest announced limits win, the lowest AIMD
 * factor and learned rate win, the latest cooling wins) and the merge is
 * applied back here, so a key one process found exhausted, invalid or
 * rate-limited is treated so by every process of the ledger.  Only
 * tightening is applied back: nothing here ever loosens a key's local
 * limits.
 *
 * It also names each key's shared pacer (lsh_keys_init): admission then
 * starts a request on a key only on a slot of "key:<fp>:rpm" at the key's
 * current rate, so processes sharing a key share its limit instead of each
 * pacing at the whole of it.
 */
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "ledger_shared.h"
#include "run_int.h"

#define KEYSHARE_INTERVAL_NS 1000000000LL

static void apply(api_key_t *k, const rledger_key_t *m)
{
    rl_key_t *rl = &k->rl;

    if ((int)k->state < m->state && (m->state == KEY_EXHAUSTED || m->state == KEY_INVALID)) {
        k->state = (key_state_t)m->state;
        snprintf(k->reason, sizeof(k->reason), "%s (seen by another process of the ledger)",
                 m->reason[0] ? m->reason : key_state_name(k->state));
    }
    if (m->cooling_until_ns > rl->cooling_until_ns)
        rl->cooling_until_ns = m->cooling_until_ns;
    if (m->factor > 0 && m->factor < rl->factor)
        rl->factor = m->factor < RL_MIN_FACTOR ? RL_MIN_FACTOR : m->factor;
    if (!rl->server_rpm && m->server_rpm > 0)
        rl->server_rpm = m->server_rpm;
    if (!rl->server_tpm && m->server_tpm > 0)
        rl->server_tpm = m->server_tpm;
}

/* Names the keys' shared pacers (once). */
static int name_keys(run_ctx_t *c, ledger_shared_t *sh)
{
    char (*fp)[24] = calloc(c->keys.n, sizeof(*fp));
    const char **v = calloc(c->keys.n, sizeof(*v));
    int rc = -1;

    if (fp && v) {
        for (size_t i = 0; i < c->keys.n; i++) {
            keys_shared_name(&c->keys.v[i], fp[i], sizeof(fp[i]));
            v[i] = fp[i];
        }
        rc = lsh_keys_init(sh, c->keys.n, v);
    }
    free(fp);
    free(v);
    return rc;
}

int keyshare_sync(run_ctx_t *c, int force, char *err, size_t errlen)
{
    ledger_shared_t *sh = c->ledger.sh;
    int64_t now_ns = clock_mono_ns();

    if (!sh || sh->lost || (!force && now_ns - sh->keys_synced_ns < KEYSHARE_INTERVAL_NS))
        return 0;
    sh->keys_synced_ns = now_ns;
    if (!sh->keys && c->keys.n && name_keys(c, sh) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < c->keys.n; i++) {
        api_key_t *k = &c->keys.v[i];
        rledger_key_t in, merged;
        char fp[24];

        memset(&in, 0, sizeof(in));
        in.server_rpm = k->rl.server_rpm;
        in.server_tpm = k->rl.server_tpm;
        in.factor = k->rl.factor > 0 ? k->rl.factor : 1;
        in.learned_rpm = k->rl.learned_rpm;
        in.learned_step = k->rl.learned_step;
        in.cooling_until_ns = k->rl.cooling_until_ns > now_ns ? k->rl.cooling_until_ns : 0;
        in.state = k->state == KEY_EXHAUSTED || k->state == KEY_INVALID ? (int)k->state : KEY_OK;
        snprintf(in.reason, sizeof(in.reason), "%s", in.state ? k->reason : "");
        keys_shared_name(k, fp, sizeof(fp));
        if (rledger_key_update(sh->r, fp, &in, &merged) != 0) {
            sh->lost = 1;
            snprintf(err, errlen, "shared ledger: %s", rledger_error(sh->r));
            return -1;
        }
        apply(k, &merged);
    }
    return 0;
}
