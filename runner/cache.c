/*
 * cache: the persistent response cache (see cache.h for the contract).
 *
 * Owns: one SQLite connection to DIR/llmbatch-cache.sqlite, three prepared
 * statements (get, put, stats add), and an in-memory queue of entries and
 * counters not yet written.
 *
 * Invariants:
 *  - usable == 0  <=>  db == NULL and the queue is empty; every public call is
 *    then a no-op.  The warning is printed exactly once, when usable drops.
 *  - No transaction is open between calls: cache_flush opens BEGIN IMMEDIATE,
 *    writes the queue, and commits (or rolls back) before returning, so a
 *    crash loses at most the queue and never leaves a torn entry.
 *  - A get looks in the queue (newest first) before the database, so an entry
 *    is visible to its own run as soon as it is put.
 *  - SQLITE_BUSY/LOCKED after busy_timeout never disables: a get misses, a
 *    flush drops its batch (counted in dropped) and keeps the hit counters for
 *    the next flush.
 *
 * Schema (PRAGMA user_version = 1):
 *   entries(key BLOB PRIMARY KEY, model TEXT, status INT, body BLOB,
 *           cost_pp INT, created INT)  -- created: unix seconds
 *   stats(name TEXT PRIMARY KEY, value INT)  -- 'hits', 'saved_pp'
 */
#include <unistd.h>
#include "cache.h"
#include "cache_int.h"
#include "buf.h"
#include "canon.h"
#include "sha256.h"
#include <sqlite3.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define SCHEMA_VERSION      1
#define BUSY_TIMEOUT_MS     2000
#define PENDING_MAX_ENTRIES 512
#define PENDING_MAX_BYTES   ((size_t)16 << 20)

typedef struct pending {
    cache_key_t key;
    char       *model;      /* may be NULL */
    long        status;
    char       *body;       /* NUL-terminated copy */
    size_t      len;
    money_t     cost;
} pending_t;

struct cache {
    sqlite3      *db;
    sqlite3_stmt *st_get, *st_put, *st_add;
    char         *dir;
    int           usable;
    pending_t    *q;
    size_t        nq, capq, qbytes;
    uint64_t      hits;       /* counters not yet written */
    money_t       saved;
    uint64_t      dropped;
};

static const char SCHEMA_SQL[] =
    "CREATE TABLE IF NOT EXISTS entries("
    " key BLOB PRIMARY KEY, model TEXT, status INT, body BLOB,"
    " cost_pp INT, created INT);"
    "CREATE INDEX IF NOT EXISTS entries_created ON entries(created);"
    "CREATE TABLE IF NOT EXISTS stats(name TEXT PRIMARY KEY, value INT);"
    "INSERT OR IGNORE INTO stats(name, value) VALUES('hits', 0), ('saved_pp', 0);"
    "PRAGMA user_version = 1;";

/* ---- keys ---------------------------------------------------------------- */

int cache_key_of(dialect_t d, const char *path, const char *body, size_t len,
                 cache_key_t *out)
{
    json_t *v;
    int rc;

    if (!body || !out)
        return -1;
    v = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!v)
        return -1;
    rc = canon_request_key(dialect_name(d), path, v, out->b);
    json_decref(v);
    return rc;
}

void cache_key_hex(const cache_key_t *k, char out[65])
{
    sha256_hex(k->b, out);
}

/* ---- opening ------------------------------------------------------------- */

static int is_busy(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* mkdir -p: creates every missing component; fails if the result is not a
 * directory. */
static int mkdir_p(const char *dir, char *why, size_t whylen)
{
    char *p = NULL, *s;
    struct stat sb;
    size_t n = strlen(dir);
    int rc = -1;

    if (n == 0) {
        snprintf(why, whylen, "empty directory name");
        return -1;
    }
    p = malloc(n + 1);
    if (!p) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    memcpy(p, dir, n + 1);
    for (s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                snprintf(why, whylen, "mkdir %s: %s", p, strerror(errno));
                goto out;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(why, whylen, "%s is not a directory", dir);
        goto out;
    }
    rc = 0;
out:
    free(p);
    return rc;
}

char *cache_db_path(const char *dir)
{
    buf_t b = BUF_INIT;

    if (buf_printf(&b, "%s/%s", dir, CACHE_FILE) != 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* Runs a single-row pragma/query and returns its first column as an integer
 * in *v (or leaves it when there is no row).  Returns the sqlite code. */
int cache_query_int(sqlite3 *db, const char *sql, sqlite3_int64 *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc;
}

/* Opens the database with our settings and makes sure the schema exists.
 * create == 0: the file must already exist (checked by the caller).
 * Returns 0, or -1 with a reason in why. */
int cache_db_open(const char *dir, int create, sqlite3 **out, char *why, size_t whylen)
{
    sqlite3 *db = NULL;
    char *path = NULL;
    sqlite3_int64 ver = 0;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int rc, in_txn = 0;

    *out = NULL;
    if (create) {
        flags |= SQLITE_OPEN_CREATE;
        if (mkdir_p(dir, why, whylen) != 0)
            goto err;
    }
    path = cache_db_path(dir);
    if (!path) {
        snprintf(why, whylen, "out of memory");
        goto err;
    }
    rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(why, whylen, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto err;
    }
    if (sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        goto sqlerr;
    /* The first statements read the header: a garbage file fails here with
     * SQLITE_NOTADB ("file is not a database"). */
    if (cache_query_int(db, "PRAGMA journal_mode = WAL", &ver) != SQLITE_OK)
        goto sqlerr;
    if (sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
        goto sqlerr;
    ver = 0;
    if (cache_query_int(db, "PRAGMA user_version", &ver) != SQLITE_OK)
        goto sqlerr;
    if (ver == 0) {
        /* Two runs may create the same cache at once: the write lock decides
         * who does it; the other sees the version already set. */
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            goto sqlerr;
        in_txn = 1;
        if (cache_query_int(db, "PRAGMA user_version", &ver) != SQLITE_OK)
            goto sqlerr;
        if (ver == 0 && sqlite3_exec(db, SCHEMA_SQL, NULL, NULL, NULL) != SQLITE_OK)
            goto sqlerr;
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            goto sqlerr;
        in_txn = 0;
        ver = SCHEMA_VERSION;
    }
    if (ver != SCHEMA_VERSION) {
        snprintf(why, whylen, "schema version %lld, this llmbatch knows %d",
                 (long long)ver, SCHEMA_VERSION);
        goto err;
    }
    free(path);
    *out = db;
    return 0;
sqlerr:
    snprintf(why, whylen, "%s", sqlite3_errmsg(db));
err:
    if (in_txn)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close_v2(db);
    free(path);
    return -1;
}

static void release_db(cache_t *c)
{
    sqlite3_finalize(c->st_get);
    sqlite3_finalize(c->st_put);
    sqlite3_finalize(c->st_add);
    c->st_get = c->st_put = c->st_add = NULL;
    sqlite3_close_v2(c->db);
    c->db = NULL;
}

static void pending_clear(cache_t *c)
{
    size_t i;

    for (i = 0; i < c->nq; i++) {
        free(c->q[i].model);
        free(c->q[i].body);
    }
    c->nq = 0;
    c->qbytes = 0;
}

/* Turns the cache off for the rest of the run; warns once. */
static void cache_disable(cache_t *c, const char *what, const char *reason)
{
    if (!c->usable)
        return;
    fprintf(stderr, "llmbatch: warning: cache %s unusable (%s: %s); continuing without it\n",
            c->dir, what, reason ? reason : (c->db ? sqlite3_errmsg(c->db) : "unknown error"));
    c->usable = 0;
    release_db(c);
    pending_clear(c);
}

cache_t *cache_open(const char *dir, char *err, size_t errlen)
{
    char why[512];
    cache_t *c = NULL;
    size_t dlen;

    why[0] = '\0';
    if (!dir) {
        snprintf(err, errlen, "cache (null) unusable (no directory); continuing without it");
        return NULL;
    }
    c = calloc(1, sizeof *c);
    dlen = strlen(dir);
    if (!c || !(c->dir = malloc(dlen + 1))) {
        snprintf(why, sizeof why, "out of memory");
        goto err;
    }
    memcpy(c->dir, dir, dlen + 1);
    /* Another run opening the same cache at this moment can hold the lock
     * that switching to WAL or creating the schema needs, and SQLite does
     * not always wait on its busy handler there: try again for up to 2 s
     * (this is start-up, before any request is sent). */
    for (int tries = 0;; tries++) {
        if (cache_db_open(dir, 1, &c->db, why, sizeof why) == 0)
            break;
        if (tries >= 40 || (!strstr(why, "locked") && !strstr(why, "busy")))
            goto err;
        usleep(50 * 1000);
    }
    if (sqlite3_prepare_v3(c->db,
            "SELECT status, body, cost_pp FROM entries WHERE key = ?1",
            -1, SQLITE_PREPARE_PERSISTENT, &c->st_get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(c->db,
            "INSERT OR REPLACE INTO entries(key, model, status, body, cost_pp, created)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            -1, SQLITE_PREPARE_PERSISTENT, &c->st_put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(c->db,
            "UPDATE stats SET value = value + ?1 WHERE name = ?2",
            -1, SQLITE_PREPARE_PERSISTENT, &c->st_add, NULL) != SQLITE_OK) {
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(c->db));
        goto err;
    }
    c->usable = 1;
    return c;
err:
    snprintf(err, errlen, "cache %s unusable (%s); continuing without it", dir, why);
    if (c) {
        release_db(c);
        free(c->dir);
        free(c);
    }
    return NULL;
}

/* ---- get / put / flush --------------------------------------------------- */

static char *dup_bytes(const void *p, size_t n)
{
    char *s = malloc(n + 1);

    if (!s)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

int cache_get(cache_t *c, const cache_key_t *k, char **body, size_t *len,
              long *status, money_t *cost)
{
    const void *p;
    size_t i, n;
    int rc;

    *body = NULL;
    *len = 0;
    if (!c || !c->usable || !k)
        return 0;
    for (i = c->nq; i-- > 0; ) {
        const pending_t *e = &c->q[i];
        if (memcmp(e->key.b, k->b, sizeof k->b) != 0)
            continue;
        if (!(*body = dup_bytes(e->body, e->len)))
            return 0;               /* out of memory: a miss costs money, not data */
        *len = e->len;
        if (status)
            *status = e->status;
        if (cost)
            *cost = e->cost;
        return 1;
    }
    rc = sqlite3_bind_blob(c->st_get, 1, k->b, (int)sizeof k->b, SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        cache_disable(c, "read", NULL);
        return -1;
    }
    rc = sqlite3_step(c->st_get);
    if (rc == SQLITE_ROW) {
        int nb = sqlite3_column_bytes(c->st_get, 1);
        p = sqlite3_column_blob(c->st_get, 1);
        n = nb > 0 ? (size_t)nb : 0;
        if (n > 0 && !p) {
            cache_disable(c, "read", NULL);
            return -1;
        }
        if (!(*body = dup_bytes(p, n))) {
            sqlite3_reset(c->st_get);
            return 0;
        }
        *len = n;
        if (status)
            *status = (long)sqlite3_column_int64(c->st_get, 0);
        if (cost)
            *cost = (money_t)sqlite3_column_int64(c->st_get, 2);
        sqlite3_reset(c->st_get);
        return 1;
    }
    if (rc == SQLITE_DONE || is_busy(rc)) {
        sqlite3_reset(c->st_get);
        return 0;
    }
    cache_disable(c, "read", NULL);
    return -1;
}

int cache_put(cache_t *c, const cache_key_t *k, const char *model, long status,
              const char *body, size_t len, money_t cost)
{
    pending_t *e;

    if (!c || !c->usable)
        return 0;
    if (!k || !body)
        return 0;
    if (c->nq == c->capq) {
        size_t ncap = c->capq ? c->capq * 2 : 16;
        pending_t *nq = realloc(c->q, ncap * sizeof *nq);
        if (!nq) {
            cache_disable(c, "queue", "out of memory");
            return -1;
        }
        c->q = nq;
        c->capq = ncap;
    }
    e = &c->q[c->nq];
    e->key = *k;
    e->status = status;
    e->len = len;
    e->cost = cost;
    e->model = NULL;
    e->body = dup_bytes(body, len);
    if (model && e->body)
        e->model = dup_bytes(model, strlen(model));
    if (!e->body || (model && !e->model)) {
        free(e->body);
        free(e->model);
        cache_disable(c, "queue", "out of memory");
        return -1;
    }
    c->nq++;
    c->qbytes += len;
    if (c->nq >= PENDING_MAX_ENTRIES || c->qbytes >= PENDING_MAX_BYTES)
        return cache_flush(c);
    return 0;
}

void cache_count_hits(cache_t *c, uint64_t hits, money_t saved)
{
    if (!c || !c->usable)
        return;
    c->hits += hits;
    c->saved = money_add(c->saved, saved);
}

/* Binds and runs one put; returns the sqlite code of the step. */
static int write_entry(cache_t *c, const pending_t *e, sqlite3_int64 now)
{
    sqlite3_stmt *st = c->st_put;
    int rc;

    if ((rc = sqlite3_bind_blob(st, 1, e->key.b, (int)sizeof e->key.b, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = (e->model ? sqlite3_bind_text(st, 2, e->model, -1, SQLITE_STATIC)
                        : sqlite3_bind_null(st, 2))) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 3, e->status)) != SQLITE_OK ||
        (rc = sqlite3_bind_blob64(st, 4, e->body, e->len, SQLITE_STATIC)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 5, e->cost)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 6, now)) != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int write_stat(cache_t *c, const char *name, sqlite3_int64 delta)
{
    sqlite3_stmt *st = c->st_add;
    int rc;

    if ((rc = sqlite3_bind_int64(st, 1, delta)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC)) != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int cache_flush(cache_t *c)
{
    sqlite3_int64 now = (sqlite3_int64)time(NULL);
    uint64_t hits;
    size_t i;
    int rc, in_txn = 0;

    if (!c || !c->usable)
        return 0;
    if (c->nq == 0 && c->hits == 0 && c->saved == 0)
        return 0;
    rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    in_txn = 1;
    for (i = 0; i < c->nq; i++)
        if ((rc = write_entry(c, &c->q[i], now)) != SQLITE_OK)
            goto fail;
    hits = c->hits > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : c->hits;
    if (hits && (rc = write_stat(c, "hits", (sqlite3_int64)hits)) != SQLITE_OK)
        goto fail;
    if (c->saved && (rc = write_stat(c, "saved_pp", c->saved)) != SQLITE_OK)
        goto fail;
    rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    pending_clear(c);
    c->hits = 0;
    c->saved = 0;
    return 0;
fail:
    if (is_busy(rc)) {
        /* Another run held the lock past busy_timeout: drop this batch (a
         * cache may forget), keep the counters for next time. */
        if (in_txn)
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        c->dropped += c->nq;
        pending_clear(c);
        return 0;
    }
    cache_disable(c, "write", NULL);   /* closing the connection rolls back */
    return -1;
}

int cache_usable(const cache_t *c)
{
    return c && c->usable;
}

uint64_t cache_dropped(const cache_t *c)
{
    return c ? c->dropped : 0;
}

void cache_close(cache_t *c)
{
    if (!c)
        return;
    cache_flush(c);
    release_db(c);
    pending_clear(c);
    free(c->q);
    free(c->dir);
    free(c);
}
