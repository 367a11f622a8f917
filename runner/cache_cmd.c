/*
 * cache_cmd: `llmbatch cache stats DIR` and `llmbatch cache prune DIR
 * --older-than AGE` (see cache.h), apart from the run's cache.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sqlite3.h>
#include "buf.h"
#include "cache.h"
#include "cache_int.h"
#include "run.h"

/* ---- commands ------------------------------------------------------------ */

/* Opens an existing cache for a command; prints the reason and returns -1 if
 * there is none or it is unusable. */
static int cmd_open(const char *dir, sqlite3 **db, FILE *err)
{
    char why[512];
    char *path = cache_db_path(dir);
    struct stat sb;

    *db = NULL;
    if (!path) {
        fprintf(err, "llmbatch: out of memory\n");
        return -1;
    }
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fprintf(err, "llmbatch: no cache in %s (no %s)\n", dir, CACHE_FILE);
        free(path);
        return -1;
    }
    free(path);
    if (cache_db_open(dir, 0, db, why, sizeof why) != 0) {
        fprintf(err, "llmbatch: cache %s unusable (%s)\n", dir, why);
        return -1;
    }
    return 0;
}

static void format_time(sqlite3_int64 t, int present, char *out, size_t outlen)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (!present || !gmtime_r(&tt, &tm) ||
        strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, outlen, "-");
}

static long long file_size(const char *dir, const char *suffix)
{
    buf_t b = BUF_INIT;
    struct stat sb;
    long long n = 0;

    if (buf_printf(&b, "%s/%s%s", dir, CACHE_FILE, suffix) == 0 &&
        stat(b.data, &sb) == 0)
        n = (long long)sb.st_size;
    buf_release(&b);
    return n;
}

int cache_cmd_stats(const char *dir, FILE *out, FILE *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    sqlite3_int64 entries = 0, body_bytes = 0, oldest = 0, newest = 0;
    sqlite3_int64 hits = 0, saved = 0;
    int have_times = 0, code = RUN_EXIT_USAGE, rc;
    char money[64], t_old[32], t_new[32];

    if (cmd_open(dir, &db, err) != 0)
        return RUN_EXIT_USAGE;
    rc = sqlite3_prepare_v2(db,
        "SELECT count(*), coalesce(sum(length(body)), 0), min(created), max(created)"
        " FROM entries", -1, &st, NULL);
    if (rc != SQLITE_OK || (rc = sqlite3_step(st)) != SQLITE_ROW)
        goto sqlerr;
    entries = sqlite3_column_int64(st, 0);
    body_bytes = sqlite3_column_int64(st, 1);
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
        have_times = 1;
        oldest = sqlite3_column_int64(st, 2);
        newest = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = cache_query_int(db, "SELECT value FROM stats WHERE name = 'hits'", &hits)) != SQLITE_OK ||
        (rc = cache_query_int(db, "SELECT value FROM stats WHERE name = 'saved_pp'", &saved)) != SQLITE_OK)
        goto sqlerr;
    money_format((money_t)saved, 6, money, sizeof money);
    format_time(oldest, have_times, t_old, sizeof t_old);
    format_time(newest, have_times, t_new, sizeof t_new);
    fprintf(out, "cache:          %s/%s\n", dir, CACHE_FILE);
    fprintf(out, "entries:        %lld\n", (long long)entries);
    fprintf(out, "body bytes:     %lld\n", (long long)body_bytes);
    fprintf(out, "bytes on disk:  %lld\n", file_size(dir, "") + file_size(dir, "-wal"));
    fprintf(out, "hits to date:   %lld\n", (long long)hits);
    fprintf(out, "saved to date:  $%s\n", money);
    fprintf(out, "oldest entry:   %s\n", t_old);
    fprintf(out, "newest entry:   %s\n", t_new);
    code = RUN_EXIT_OK;
    goto out;
sqlerr:
    fprintf(err, "llmbatch: cache %s unusable (%s)\n", dir, sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    return code;
}

/* "30d" -> seconds.  A count (decimal digits) and one unit of s m h d w. */
static int parse_age(const char *s, sqlite3_int64 *secs)
{
    uint64_t v = 0, mul;
    const char *p = s;

    if (!s || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    switch (*p) {
    case 's': mul = 1; break;
    case 'm': mul = 60; break;
    case 'h': mul = 3600; break;
    case 'd': mul = 86400; break;
    case 'w': mul = 604800; break;
    default: return -1;
    }
    if (p[1] != '\0' || v > (uint64_t)INT64_MAX / mul)
        return -1;
    *secs = (sqlite3_int64)(v * mul);
    return 0;
}

int cache_cmd_prune(const char *dir, const char *age, FILE *out, FILE *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    sqlite3_int64 secs, left = 0;
    int removed, code = RUN_EXIT_USAGE, rc;

    if (parse_age(age, &secs) != 0) {
        fprintf(err, "llmbatch: bad --older-than '%s' (a count and a unit: 30d, 12h, 90m, 3600s, 2w)\n",
                age ? age : "");
        return RUN_EXIT_USAGE;
    }
    if (cmd_open(dir, &db, err) != 0)
        return RUN_EXIT_USAGE;
    rc = sqlite3_prepare_v2(db, "DELETE FROM entries WHERE created < ?1", -1, &st, NULL);
    if (rc != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL) - secs)) != SQLITE_OK ||
        (rc = sqlite3_step(st)) != SQLITE_DONE)
        goto sqlerr;
    removed = sqlite3_changes(db);
    sqlite3_finalize(st);
    st = NULL;
    if (cache_query_int(db, "SELECT count(*) FROM entries", &left) != SQLITE_OK)
        goto sqlerr;
    /* VACUUM gives the space back; it cannot while another run is writing.
     * The deletion is committed either way, so that is only a note. */
    if (sqlite3_exec(db, "VACUUM", NULL, NULL, NULL) != SQLITE_OK)
        fprintf(err, "llmbatch: note: cache %s not compacted (%s)\n", dir, sqlite3_errmsg(db));
    else
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    fprintf(out, "removed %d entr%s older than %s (%lld left)\n",
            removed, removed == 1 ? "y" : "ies", age, (long long)left);
    code = RUN_EXIT_OK;
    goto out;
sqlerr:
    fprintf(err, "llmbatch: cache %s unusable (%s)\n", dir, sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    return code;
}
