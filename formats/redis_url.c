/*
 * redis_url: parse redis:// and unix:// connection strings (see redis_url.h).
 * Every message quotes the URL masked; the parsed password lives only in
 * redis_url_t.pass.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "redis_url.h"

#define TLS_REFUSAL "TLS to Redis needs hiredis >= 1.0 with SSL; Debian's 0.14 has none: " \
                    "use a local stunnel or redis:// on a trusted network"

/* Appends n bytes of s to out[*o], truncating at outlen - 1. */
static void put(char *out, size_t outlen, size_t *o, const char *s, size_t n)
{
    while (n-- && *o + 1 < outlen)
        out[(*o)++] = *s++;
    out[*o] = 0;
}

/* The query of a mistyped URL ("?password=..."): keys shown, values other
 * than a number after db= hidden, and an item without '=' hidden whole. */
static void put_query(char *out, size_t outlen, size_t *o, const char *q, const char *end)
{
    while (q < end) {
        size_t n = strcspn(q, "&"), k;

        if (n > (size_t)(end - q))
            n = (size_t)(end - q);
        k = strcspn(q, "=");
        if (k < n) {
            int show = k == 2 && !strncmp(q, "db", 2) &&
                       strspn(q + 3, "0123456789") == n - 3;
            put(out, outlen, o, q, k + 1);
            put(out, outlen, o, show ? q + k + 1 : "***", show ? n - k - 1 : 3);
        } else if (n) {
            put(out, outlen, o, "***", 3);
        }
        q += n;
        if (q < end && *q == '&')
            put(out, outlen, o, q++, 1);
    }
}

/* Where the authority starts: after the first "://", unless an '@' comes
 * before it ("user:pw@redis://host" is no scheme but a userinfo). */
static const char *authority(const char *url)
{
    const char *p = strstr(url, "://"), *at = strchr(url, '@');

    return p && !(at && at < p) ? p + 3 : url;
}

void redis_url_mask(const char *url, char *out, size_t outlen)
{
    const char *auth, *at, *colon, *p, *q, *frag;
    size_t o = 0;

    if (!outlen)
        return;
    out[0] = 0;
    if (!url) {
        put(out, outlen, &o, "(none)", 6);
        return;
    }
    auth = authority(url);
    /* The userinfo ends at the last '@' anywhere: a mistyped password may
     * hold '/', '?' or '#', which would end a well-formed authority. */
    at = strrchr(auth, '@');
    if (at) {
        colon = memchr(auth, ':', (size_t)(at - auth));
        /* the user name is shown only when it is plainly one */
        if (colon && strcspn(auth, "/?#") < (size_t)(colon - auth))
            colon = NULL;
        /* "redis://secret@host": a lone userinfo part is a password */
        put(out, outlen, &o, url, (size_t)((colon ? colon + 1 : auth) - url));
        put(out, outlen, &o, "***", 3);
        p = at;
    } else {
        /* "redis://default:secret", the '@host' forgotten: a port that is
         * not a number is hidden */
        size_t alen = strcspn(auth, "/?#");
        const char *hostend = auth;

        if (*auth == '[') {
            const char *rb = memchr(auth, ']', alen);
            hostend = rb ? rb : auth + alen;
        }
        colon = memchr(hostend, ':', alen - (size_t)(hostend - auth));
        if (colon && strspn(colon + 1, "0123456789") < (size_t)(auth + alen - colon - 1)) {
            put(out, outlen, &o, url, (size_t)(colon + 1 - url));
            put(out, outlen, &o, "***", 3);
            p = auth + alen;
        } else {
            p = url;
        }
    }
    frag = strchr(p, '#');
    if (!frag)
        frag = p + strlen(p);
    q = memchr(p, '?', (size_t)(frag - p));
    put(out, outlen, &o, p, (size_t)((q ? q : frag) - p));
    if (q) {
        put(out, outlen, &o, "?", 1);
        put_query(out, outlen, &o, q + 1, frag);
    }
    if (*frag)
        put(out, outlen, &o, "#***", 4);
}

static int fail(char *err, size_t errlen, const char *url, const char *what)
{
    char m[512];

    redis_url_mask(url, m, sizeof(m));
    snprintf(err, errlen, "bad Redis URL '%s': %s (expected redis://[user:pass@]host[:port][/db] "
             "or unix:///path)", m, what);
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out; -1 on a bad escape, a NUL or overflow. */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n)
                return -1;
            h = hexval(s[i + 1]);
            l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        }
        if (c == 0 || o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return 0;
}

static int parse_int(const char *s, size_t n, long min, long max, int *out)
{
    char buf[16], *end;
    long v;

    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (buf[0] < '0' || buf[0] > '9')
        return -1;
    errno = 0;
    v = strtol(buf, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_userinfo(const char *url, const char *s, size_t n, redis_url_t *u,
                          char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', n);

    if (!colon) {          /* "redis://pass@host" as redis-cli reads it */
        if (pct_decode(s, n, u->pass, sizeof(u->pass)))
            return fail(err, errlen, url, "bad percent-escape or too long password");
        u->has_pass = 1;
        return 0;
    }
    if (pct_decode(s, (size_t)(colon - s), u->user, sizeof(u->user)))
        return fail(err, errlen, url, "bad percent-escape or too long user name");
    if (pct_decode(colon + 1, n - (size_t)(colon - s) - 1, u->pass, sizeof(u->pass)))
        return fail(err, errlen, url, "bad percent-escape or too long password");
    u->has_pass = 1;
    return 0;
}

static int parse_unix(const char *url, const char *rest, redis_url_t *u, char *err, size_t errlen)
{
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);

    if (n == 0 || rest[0] != '/')
        return fail(err, errlen, url, "a unix socket needs an absolute path (unix:///path)");
    if (n >= sizeof(u->path))
        return fail(err, errlen, url, "socket path too long");
    memcpy(u->path, rest, n);
    u->path[n] = 0;
    u->is_unix = 1;
    if (q) {
        if (strncmp(q, "?db=", 4) || parse_int(q + 4, strlen(q + 4), 0, 1000000, &u->db))
            return fail(err, errlen, url, "the only query allowed is ?db=N");
    }
    return 0;
}

int redis_url_parse(const char *url, redis_url_t *u, char *err, size_t errlen)
{
    const char *rest, *slash, *at = NULL, *p, *hp, *hend, *portp = NULL;
    size_t hl;

    memset(u, 0, sizeof(*u));
    snprintf(u->host, sizeof(u->host), "127.0.0.1");
    u->port = 6379;
    if (!url || !*url)
        return fail(err, errlen, url ? url : "", "empty");
    if (!strncmp(url, "rediss://", 9)) {
        char m[512];
        redis_url_mask(url, m, sizeof(m));
        snprintf(err, errlen, "'%s': " TLS_REFUSAL, m);
        return -1;
    }
    if (!strncmp(url, "unix://", 7))
        return parse_unix(url, url + 7, u, err, errlen);
    if (strncmp(url, "redis://", 8))
        return fail(err, errlen, url, "unknown scheme");
    for (p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return fail(err, errlen, url, "spaces or control characters");
    rest = url + 8;
    slash = strchr(rest, '/');
    if (!slash)
        slash = rest + strlen(rest);
    for (p = rest; p < slash; p++)
        if (*p == '@')
            at = p;
    if (at && parse_userinfo(url, rest, (size_t)(at - rest), u, err, errlen))
        return -1;
    hp = at ? at + 1 : rest;
    if (hp < slash && *hp == '[') {
        hend = memchr(hp, ']', (size_t)(slash - hp));
        if (!hend || hend == hp + 1)
            return fail(err, errlen, url, "unclosed or empty IPv6 literal");
        hl = (size_t)(hend - hp - 1);
        if (hl >= sizeof(u->host))
            return fail(err, errlen, url, "host too long");
        memcpy(u->host, hp + 1, hl);
        u->host[hl] = 0;
        if (hend + 1 < slash) {
            if (hend[1] != ':')
                return fail(err, errlen, url, "junk after the IPv6 literal");
            portp = hend + 2;
        }
    } else {
        const char *colon = memchr(hp, ':', (size_t)(slash - hp));
        hend = colon ? colon : slash;
        hl = (size_t)(hend - hp);
        if (hl >= sizeof(u->host))
            return fail(err, errlen, url, "host too long");
        if (hl) {
            for (p = hp; p < hend; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
                    return fail(err, errlen, url, "bad character in the host name");
            memcpy(u->host, hp, hl);
            u->host[hl] = 0;
        }
        if (colon)
            portp = colon + 1;
    }
    if (portp && parse_int(portp, (size_t)(slash - portp), 1, 65535, &u->port))
        return fail(err, errlen, url, "the port must be a number from 1 to 65535");
    if (*slash && slash[1]) {
        if (parse_int(slash + 1, strlen(slash + 1), 0, 1000000, &u->db))
            return fail(err, errlen, url, "the path must be a database number");
    }
    return 0;
}

void redis_url_describe(const redis_url_t *u, char *out, size_t outlen)
{
    if (u->is_unix)
        snprintf(out, outlen, "unix:%s/%d", u->path, u->db);
    else if (strchr(u->host, ':'))
        snprintf(out, outlen, "[%s]:%d/%d", u->host, u->port, u->db);
    else
        snprintf(out, outlen, "%s:%d/%d", u->host, u->port, u->db);
}
