/*
 * cache_int: what cache.c shares with cache_cmd.c (the database file and
 * how to open it).  Not a public header.
 */
#ifndef LLMB_CACHE_INT_H
#define LLMB_CACHE_INT_H
#include <stddef.h>
#include <sqlite3.h>

#define CACHE_FILE "llmbatch-cache.sqlite"

/* DIR/llmbatch-cache.sqlite (malloc'd), or NULL. */
char *cache_db_path(const char *dir);
/* Opens (create: also creates and migrates) the database; SQLITE_OK or an
 * error with the reason in why. */
int   cache_db_open(const char *dir, int create, sqlite3 **out, char *why, size_t whylen);
/* Runs a one-integer query. */
int   cache_query_int(sqlite3 *db, const char *sql, sqlite3_int64 *v);

#endif
