/*
 * cache: a persistent response cache in DIR/llmbatch-cache.sqlite, shared
 * safely by several runs at once (SQLite WAL, busy_timeout 2000 ms).
 *
 * Key = SHA-256 over  dialect name "\n" url path "\n" canonical JSON of the
 * request body  (see formats/canon.h).  The API key, the base URL and the
 * custom_id are never part of it.  Only successful responses are stored.
 *
 * Writes are batched: cache_put queues the entry in memory (a get on the same
 * handle sees it at once) and cache_flush writes the queue in one short
 * transaction, so no write lock is held between commit points and other runs
 * sharing the directory never wait on us for longer than one flush.  The queue
 * flushes itself early past 512 entries or 16 MB.
 *
 * Errors: any SQLite error other than a timed-out lock disables the cache for
 * the rest of the run.  It prints once on stderr
 *   llmbatch: warning: cache DIR unusable (REASON); continuing without it
 * and every later call is a no-op (get: miss, put/flush: 0).  A lock that
 * outlasts busy_timeout makes a get a miss and drops the queued puts (counted
 * by cache_dropped) without disabling anything.
 *
 * Ownership: the cache_t owns its connection, statements and queue;
 * cache_close frees all of it.  Not thread-safe (one event loop).
 */
#ifndef LLMB_CACHE_H
#define LLMB_CACHE_H
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include "job.h"
#include "money.h"

typedef struct cache_key { unsigned char b[32]; } cache_key_t;

/* SHA-256 over dialect name, "\n", url path, "\n", canonical JSON of the body.
 * 0, or -1 if body is not JSON (the job is then simply not cached). */
int  cache_key_of(dialect_t d, const char *path, const char *body, size_t len,
                  cache_key_t *out);
/* 64 lowercase hex characters and a NUL. */
void cache_key_hex(const cache_key_t *k, char out[65]);

typedef struct cache cache_t;

/* Opens/creates DIR/llmbatch-cache.sqlite (mkdir -p DIR).  On failure returns
 * NULL and puts in err the whole warning sentence (without the "llmbatch:
 * warning: " prefix), e.g. "cache DIR unusable (file is not a database);
 * continuing without it"; the caller prints it once and runs without a cache. */
cache_t *cache_open(const char *dir, char *err, size_t errlen);
/* 1 hit: *body (malloc'd, NUL-terminated JSON text of the response body; the
 * caller frees it), *len (without the NUL), *status, *cost (what the response
 * cost when it was stored); status and cost may be NULL.  0 miss (also when
 * the cache is disabled or busy).  -1 error: the cache has just disabled
 * itself (warned once). */
int  cache_get(cache_t *c, const cache_key_t *k, char **body, size_t *len,
               long *status, money_t *cost);
/* Queues an INSERT OR REPLACE of a successful response; written at the next
 * cache_flush.  The strings are copied.  0 ok (or no-op when disabled), -1
 * error (the cache has just disabled itself). */
int  cache_put(cache_t *c, const cache_key_t *k, const char *model, long status,
               const char *body, size_t len, money_t cost);
/* Adds hits and saved money to the stats counters (deltas, not totals);
 * written at the next cache_flush. */
void cache_count_hits(cache_t *c, uint64_t hits, money_t saved);
/* Writes the queued entries and counters in one transaction.  Call at the
 * runner's commit points.  0 (also when a lock timed out and the batch was
 * dropped), -1 (the cache has just disabled itself). */
int  cache_flush(cache_t *c);
/* 1 while the cache works; 0 once disabled (or for NULL). */
int  cache_usable(const cache_t *c);
/* Entries dropped because another process held the lock past busy_timeout. */
uint64_t cache_dropped(const cache_t *c);
/* Flushes, closes, frees; NULL-safe. */
void cache_close(cache_t *c);

/* `llmbatch cache stats DIR`: entries, bytes on disk, hits to date, USD saved
 * to date, oldest/newest entry.  Returns the exit code: 0, or 2 with a message
 * on err if DIR has no (usable) cache. */
int  cache_cmd_stats(const char *dir, FILE *out, FILE *err);
/* `llmbatch cache prune DIR --older-than AGE`: AGE is a count and a unit,
 * s m h d w (30d, 12h, 90m, 3600s, 2w).  Deletes entries stored before
 * now - AGE, VACUUMs, prints how many were removed.  Exit code 0 / 2. */
int  cache_cmd_prune(const char *dir, const char *age, FILE *out, FILE *err);

#endif
