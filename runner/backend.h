/*
 * backend: how admitted jobs reach a provider.  The scheduler (sched.c)
 * and admission (admit.c) talk to a backend only through this table, so a
 * second one (the providers' batch APIs) can sit beside the live pool.
 *
 *   live   runner/live.c: one HTTP attempt per transfer over curl multi;
 *          each finished attempt is classified, settled (settle.c) and
 *          either retried through admission or ended (finish.c).
 *
 * A backend never writes output lines or settles money by itself: it calls
 * settle_attempt() and finish_job() (run_int.h), which own those rules.
 */
#ifndef LLMB_BACKEND_H
#define LLMB_BACKEND_H

struct run_ctx;
struct slot;
struct api_key;

typedef struct backend {
    const char *name;
    /* Sends s with key k now; admission already took its reservation and
     * its pacing.  0, or -1 when it could not even be handed over (the
     * caller undoes the reservation and retries later). */
    int  (*start)(struct run_ctx *c, struct slot *s, struct api_key *k);
    /* Drives the work in flight without blocking and reports every attempt
     * that ended. */
    void (*perform)(struct run_ctx *c);
    /* The loop's one wait point: blocks until activity, `fd` readable, or
     * timeout_ms. */
    void (*wait)(struct run_ctx *c, int timeout_ms, int fd);
    /* Abandons everything in flight; the jobs stay pending and their
     * reservations settle as possibly billed. */
    void (*abort_all)(struct run_ctx *c);
    /* Attempts in flight now. */
    int  (*inflight)(const struct run_ctx *c);
} backend_t;

#endif
