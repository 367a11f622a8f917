/*
 * headers: an append-only list of (name, value) pairs for one HTTP response.
 *
 * Owns every string.  Names are lower-cased on entry so lookups are plain
 * string compares; values are trimmed of surrounding blanks (and the CRLF
 * curl hands us).  Duplicates are kept: headers_get returns the last one,
 * which is what a proxy-appended header should win over.
 */
#include "headers.h"

#include <stdlib.h>
#include <string.h>

void headers_init(headers_t *h)
{
    h->v = NULL;
    h->n = 0;
    h->cap = 0;
    h->bytes = 0;
}

void headers_clear(headers_t *h)
{
    size_t i;

    for (i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    h->n = 0;
    h->bytes = 0;
}

void headers_release(headers_t *h)
{
    headers_clear(h);
    free(h->v);
    headers_init(h);
}

static int hdr_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char hdr_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Appends copies of name[0..nlen) (lower-cased) and value[0..vlen). */
static int hdr_push(headers_t *h, const char *name, size_t nlen,
                    const char *value, size_t vlen)
{
    char *n = NULL, *v = NULL;
    size_t i;

    if (h->n >= HEADERS_MAX_COUNT || nlen + vlen > HEADERS_MAX_BYTES - h->bytes)
        return HEADERS_TOO_LARGE;
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 16;
        header_t *nv = realloc(h->v, ncap * sizeof(*nv));
        if (!nv)
            return -1;
        h->v = nv;
        h->cap = ncap;
    }
    n = malloc(nlen + 1);
    v = malloc(vlen + 1);
    if (!n || !v)
        goto err;
    for (i = 0; i < nlen; i++)
        n[i] = hdr_lower(name[i]);
    n[nlen] = '\0';
    if (vlen)
        memcpy(v, value, vlen);
    v[vlen] = '\0';
    h->v[h->n].name = n;
    h->v[h->n].value = v;
    h->n++;
    h->bytes += nlen + vlen;
    return 0;
err:
    free(n);
    free(v);
    return -1;
}

int headers_add_line(headers_t *h, const char *line, size_t len)
{
    const char *colon, *ns, *ne, *vs, *ve;

    if (!line)
        return 0;
    colon = memchr(line, ':', len);
    if (!colon)
        return 0;
    ns = line;
    ne = colon;
    while (ns < ne && hdr_is_blank(*ns))
        ns++;
    while (ne > ns && hdr_is_blank(ne[-1]))
        ne--;
    if (ns == ne)
        return 0;
    /* A status line such as "HTTP/1.1 200 OK" has no colon, but be sure
     * a malformed one with a colon is not taken for a header either. */
    if (memchr(ns, ' ', (size_t)(ne - ns)) || memchr(ns, '\t', (size_t)(ne - ns)))
        return 0;
    vs = colon + 1;
    ve = line + len;
    while (vs < ve && hdr_is_blank(*vs))
        vs++;
    while (ve > vs && hdr_is_blank(ve[-1]))
        ve--;
    return hdr_push(h, ns, (size_t)(ne - ns), vs, (size_t)(ve - vs));
}

int headers_add(headers_t *h, const char *name, const char *value)
{
    const char *vs, *ve;

    if (!name || !*name)
        return -1;
    if (!value)
        value = "";
    vs = value;
    ve = value + strlen(value);
    while (vs < ve && hdr_is_blank(*vs))
        vs++;
    while (ve > vs && hdr_is_blank(ve[-1]))
        ve--;
    return hdr_push(h, name, strlen(name), vs, (size_t)(ve - vs));
}

const char *headers_get(const headers_t *h, const char *lname)
{
    size_t i;

    if (!h || !lname)
        return NULL;
    for (i = h->n; i > 0; i--) {
        const char *a = h->v[i - 1].name, *b = lname;
        while (*a && hdr_lower(*b) == *a) {
            a++;
            b++;
        }
        if (*a == '\0' && *b == '\0')
            return h->v[i - 1].value;
    }
    return NULL;
}

const char *headers_too_large_reason(const char *e)
{
    if (!e)
        return NULL;
    /* curl: "Rejected N bytes header (max is M)!" (one line over 100 KB),
     * "Too large response headers: N > M" (the block, newer versions) */
    if ((strncmp(e, "Rejected ", 9) == 0 && strstr(e, " bytes header")) ||
        strncmp(e, "Too large response headers", 26) == 0)
        return HEADERS_TOO_LARGE_MSG;
    return NULL;
}
