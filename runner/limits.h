/*
 * limits: fits --concurrency to the process's open-file limit.
 *
 * Every HTTP/1.1 transfer in flight holds one socket, so a run at
 * concurrency C needs about C descriptors plus a fixed margin for the
 * input, results, errors, report, checkpoint and lock files, the SQLite
 * cache (database, journal, WAL), the signal pipe, the epoll set and
 * libcurl's own descriptors (its wake-up pair, threaded DNS look-ups,
 * a connection closing while its replacement opens).  Over HTTP/2 far fewer
 * sockets are used, but the server decides that, so the estimate assumes
 * HTTP/1.1.  The soft RLIMIT_NOFILE is raised to the hard limit first; only
 * when the hard limit is still too small is the concurrency lowered.
 */
#ifndef LLMB_LIMITS_H
#define LLMB_LIMITS_H
#include <stddef.h>
#include <stdint.h>

/* Descriptors kept free for everything that is not a transfer's socket. */
#define LIMITS_FD_MARGIN 64

/* Descriptors a run at `concurrency` needs: one socket per transfer, an
 * eighth more for connections being replaced, and LIMITS_FD_MARGIN. */
uint64_t limits_fds_needed(int concurrency);

/* The largest concurrency (at least 1, at most `wanted`) whose
 * limits_fds_needed() fits in `nofile` descriptors. */
int limits_concurrency_for(uint64_t nofile, int wanted);

/* Raises the soft open-file limit to the hard limit (capped by the
 * kernel's fs.nr_open when the hard limit is unlimited) and sets *granted
 * to the concurrency that fits.  Returns 0 when `wanted` fits; 1 when it
 * was lowered, with a one-line warning (no "llmbatch:" prefix) in warn. */
int limits_fit_concurrency(int wanted, int *granted, char *warn, size_t warnlen);

#endif
