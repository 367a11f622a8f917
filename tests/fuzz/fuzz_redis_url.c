/*
 * fuzz_redis_url: redis_url_parse and redis_url_mask on the input as one
 * NUL-terminated string.
 *
 * Invariants: parse returns 0 or -1 and always leaves a message on -1; on
 * success the port is 1..65535, the db >= 0, and a unix socket path is
 * absolute.  The mask, checked against what carries a secret rather than
 * against how the mask finds it:
 *   - a URL that parses with a password masks the same whatever the
 *     password's bytes (each replaced by 'Q'): the output does not depend
 *     on them;
 *   - for any input, each secret-bearing piece that is at least 6 bytes,
 *     holds no '*' (the mask's own mark) and occurs once in the input is
 *     absent from the output: the text between the first ':' (or the start
 *     of the authority) and the last '@'; without an '@', a port that is
 *     not a number; each query value but a number after db=, and a bare
 *     query item; the fragment.
 * "Occurs once" keeps a user name or host that happens to contain the
 * password from being a false alarm; '*' keeps a join with "***" from one.
 */
#include "fuzz_util.h"

#include "redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char masked[4 * 1024 + 64];

/* p[0..n) must not show in masked when it is a checkable secret. */
static void hidden(const char *s, const char *p, size_t n)
{
    char piece[1100];
    const char *first;

    if (n < 6 || n >= sizeof(piece) || memchr(p, '*', n))
        return;
    memcpy(piece, p, n);
    piece[n] = 0;
    first = strstr(s, piece);
    if (!first || strstr(first + 1, piece))
        return;                          /* not once: cannot tell */
    FUZZ_CHECK(!strstr(masked, piece));
}

static void check_pieces(const char *s)
{
    const char *auth = strstr(s, "://"), *at, *colon, *q, *frag, *p;
    size_t alen;

    auth = auth ? auth + 3 : s;
    if (strchr(s, '@') && strchr(s, '@') < auth)
        auth = s;                        /* "user:pw@redis://h": no scheme */
    at = strrchr(auth, '@');
    if (at) {
        colon = memchr(auth, ':', (size_t)(at - auth));
        p = colon ? colon + 1 : auth;
        hidden(s, p, (size_t)(at - p));
    } else {
        alen = strcspn(auth, "/?#");
        colon = memchr(auth, ':', alen);
        if (colon && *auth != '[') {
            size_t plen = alen - (size_t)(colon + 1 - auth);
            if (strspn(colon + 1, "0123456789") < plen)    /* not a number */
                hidden(s, colon + 1, plen);
        }
    }
    frag = strchr(at ? at : auth, '#');
    if (frag)
        hidden(s, frag + 1, strlen(frag + 1));
    else
        frag = s + strlen(s);
    q = memchr(at ? at : auth, '?', (size_t)(frag - (at ? at : auth)));
    for (p = q ? q + 1 : frag; p < frag;) {
        size_t n = strcspn(p, "&"), k = strcspn(p, "=");
        if (n > (size_t)(frag - p))
            n = (size_t)(frag - p);
        if (k < n && !(k == 2 && !strncmp(p, "db", 2) &&
                       strspn(p + 3, "0123456789") == n - 3))
            hidden(s, p + k + 1, n - k - 1);
        else if (k >= n)
            hidden(s, p, n);
        p += n + 1;
    }
}

/* A parsed URL with a password: the mask is the same with other bytes in
 * the password's place. */
static void check_independent(const char *s)
{
    char *s2, m2[sizeof(masked)], err[512];
    const char *rest = s + 8, *slash, *at = NULL, *colon, *p;
    redis_url_t u;

    slash = rest + strcspn(rest, "/");
    for (p = rest; p < slash; p++)
        if (*p == '@')
            at = p;
    if (!at)
        return;
    colon = memchr(rest, ':', (size_t)(at - rest));
    p = colon ? colon + 1 : rest;
    if (!(s2 = strdup(s)))
        return;
    memset(s2 + (p - s), 'Q', (size_t)(at - p));
    if (redis_url_parse(s2, &u, err, sizeof(err)) == 0) {
        redis_url_mask(s2, m2, sizeof(m2));
        FUZZ_CHECK(strcmp(masked, m2) == 0);
    }
    free(s2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s, err[512];
    redis_url_t u;
    int rc;

    if (size > 1024)
        return 0;
    s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    err[0] = 0;
    rc = redis_url_parse(s, &u, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc) {
        FUZZ_CHECK(err[0] != 0);
    } else {
        FUZZ_CHECK(u.is_unix ? u.path[0] == '/' : u.port >= 1 && u.port <= 65535);
        FUZZ_CHECK(u.db >= 0);
    }
    /* "=x" becomes "=***": at most 4 bytes of output per byte of input */
    redis_url_mask(s, masked, sizeof(masked));
    FUZZ_CHECK(strlen(masked) < sizeof(masked));
    check_pieces(s);
    if (rc == 0 && u.has_pass && !u.is_unix)
        check_independent(s);
    free(s);
    return 0;
}
