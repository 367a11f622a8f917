/*
 * fuzz_redis_url: redis_url_parse and redis_url_mask on the input as one
 * NUL-terminated string.
 *
 * Invariants: parse returns 0 or -1 and always leaves a message on -1; on
 * success the port is 1..65535, the db >= 0, and a unix socket path is
 * absolute.  The mask, for every input, well-formed or not, whose output
 * is not truncated: the text between the first ':' of the userinfo (or
 * "://" when the userinfo has no ':') and the last '@' is gone, replaced by
 * "***", with the rest shown as it is; every query value but db's is
 * "***".  Stated by position, not by searching for the password, so a
 * password that happens to equal the user name or the host is no false
 * alarm, and one that differs in escaping is no blind spot.
 */
#include "fuzz_util.h"

#include "redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 if each "key=value" of a masked query q shows "***" as the value, but
 * db's. */
static int query_masked(const char *q)
{
    while (*q) {
        size_t n = strcspn(q, "&"), k = strcspn(q, "=&");

        if (k < n && !(k == 2 && !strncmp(q, "db", 2)) &&
            !(n == k + 4 && !strncmp(q + k, "=***", 4)))
            return 0;
        q += n;
        if (*q == '&')
            q++;
    }
    return 1;
}

/* 1 if m is tail shown as it is up to a '?', then its query masked. */
static int tail_shown(const char *m, const char *tail)
{
    size_t tl = strcspn(tail, "?");

    if (strncmp(m, tail, tl) || m[tl] != tail[tl])
        return 0;
    return !m[tl] || query_masked(m + tl + 1);
}

/* masked (not truncated) hides the userinfo's secret part of s. */
static void check_mask(const char *s, const char *masked)
{
    const char *p = strstr(s, "://"), *auth = p ? p + 3 : s;
    const char *at = strrchr(auth, '@'), *colon, *secret;
    size_t k;
    int ok = 0;

    if (!at) {
        FUZZ_CHECK(tail_shown(masked, s));
        return;
    }
    colon = memchr(auth, ':', (size_t)(at - auth));
    secret = colon ? colon + 1 : auth;
    /* masked = s[0..k) "***" tail, for some k no later than the secret */
    for (k = 0; k <= (size_t)(secret - s) && !ok; k++)
        ok = !strncmp(masked, s, k) && !strncmp(masked + k, "***", 3) &&
             tail_shown(masked + k + 3, at);
    FUZZ_CHECK(ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s, err[512], masked[4 * 1024 + 64];
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
    /* "=x" becomes "=***": at most 3 bytes of output per byte of input */
    redis_url_mask(s, masked, sizeof(masked));
    FUZZ_CHECK(strlen(masked) < sizeof(masked));
    check_mask(s, masked);
    free(s);
    return 0;
}
