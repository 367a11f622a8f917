/*
 * url: joins a base URL and an API path (see url.h).
 *
 * The base may end in "/", "/v1" or "/v1/"; a "/v1" at the end of the base
 * and at the start of the path is written once.  A query or fragment in the
 * base ("?api-version=..") stays at the end of the result.
 */
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *url_join(const char *base, const char *path)
{
    size_t blen, qlen, plen, total;
    const char *q;
    char *res;
    int slash;

    if (!base || !path)
        return NULL;
    q = base + strcspn(base, "?#");      /* query/fragment, kept at the end */
    qlen = strlen(q);
    blen = (size_t)(q - base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    plen = strlen(path);
    if (blen >= 3 && memcmp(base + blen - 3, "/v1", 3) == 0) {
        if (strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0) {
            path += 3;
            plen -= 3;
        } else if (strncmp(path, "v1/", 3) == 0 || strcmp(path, "v1") == 0) {
            path += 2;
            plen -= 2;
        }
    }
    slash = plen > 0 && path[0] != '/';
    total = blen + (size_t)slash + plen + qlen + 1;
    res = malloc(total);
    if (!res)
        return NULL;
    memcpy(res, base, blen);
    if (slash)
        res[blen] = '/';
    memcpy(res + blen + slash, path, plen);
    memcpy(res + blen + slash + plen, q, qlen);
    res[total - 1] = '\0';
    return res;
}

int url_check_base(const char *base, char *err, size_t errlen)
{
    const char *host, *p;
    size_t hl, sl;

    if (!base || !*base) {
        snprintf(err, errlen, "is empty");
        return -1;
    }
    for (p = base; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            snprintf(err, errlen, "contains a space or a control character");
            return -1;
        }
    }
    if (strncasecmp(base, "https://", 8) == 0) {
        host = base + 8;
    } else if (strncasecmp(base, "http://", 7) == 0) {
        host = base + 7;
    } else {
        sl = strcspn(base, ":/");
        if (base[sl] == ':' && sl > 0 && sl < 16 && base[sl + 1] == '/' && base[sl + 2] == '/')
            snprintf(err, errlen, "uses %.*s://; only http:// and https:// are supported",
                     (int)sl, base);
        else
            snprintf(err, errlen, "needs a scheme: http:// or https:// (such as "
                     "http://localhost:8000)");
        return -1;
    }
    hl = strcspn(host, "/?#");
    if (hl == 0 || host[0] == ':' || host[0] == '@') {
        snprintf(err, errlen, "has no host");
        return -1;
    }
    return 0;
}
