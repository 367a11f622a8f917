/*
 * redis_url: parsing of the --redis / LLMBATCH_REDIS_URL connection string.
 *
 *   redis://[[user]:pass@]host[:port][/db]     (defaults 127.0.0.1, 6379, 0)
 *   redis://[user:pass@][::1]:6380/2           (IPv6 literal in brackets)
 *   unix:///path/to/redis.sock[?db=N]          (a local socket)
 *
 * user and pass may be percent-encoded.  rediss:// (TLS) is refused: Debian's
 * hiredis 0.14 has no TLS.  Bytes only: no sockets here.
 *
 * The password never appears in a message: every error quotes the URL
 * through redis_url_mask(), which replaces everything after the user name in
 * the userinfo part with "***", and the values of a query other than db=.
 */
#ifndef LLMB_REDIS_URL_H
#define LLMB_REDIS_URL_H
#include <stddef.h>

typedef struct redis_url {
    int  is_unix;          /* 1: path is a socket, host/port unused */
    char host[256];        /* without brackets for IPv6 */
    int  port;
    char path[256];        /* unix socket */
    char user[128];        /* "" = none (AUTH with the password only) */
    char pass[256];        /* "" = no AUTH; never print */
    int  has_pass;
    int  db;               /* SELECT db when > 0 */
} redis_url_t;

/* Parses url into *out.  Returns 0, or -1 with a message naming the problem
 * (with the password masked) in err. */
int  redis_url_parse(const char *url, redis_url_t *out, char *err, size_t errlen);
/* Writes url with the password replaced by "***".  Also for malformed input:
 * whatever follows "scheme://" up to the last '@' anywhere (a mistyped
 * password may hold '/', '?' or '#'), keeping a user name before the first
 * ':' only if no '/', '?' or '#' comes before it; and each query value but
 * db's ("?password=..."). */
void redis_url_mask(const char *url, char *out, size_t outlen);
/* A printable description without secrets: "127.0.0.1:6379/0" or
 * "unix:/path/sock/0". */
void redis_url_describe(const redis_url_t *u, char *out, size_t outlen);

#endif
