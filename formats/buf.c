/*
 * buf: growable byte buffer (see buf.h).
 *
 * Owns `data`.  Invariants: len < cap whenever cap > 0, and data[len] == 0,
 * so the contents are always a C string.  Every append either succeeds
 * completely or leaves the buffer as it was (len and contents unchanged).
 */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_release(buf_t *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->cap > 0)
        b->data[0] = '\0';
}

int buf_reserve(buf_t *b, size_t extra)
{
    size_t need, ncap;
    char *p;

    if (extra > SIZE_MAX - b->len - 1)
        return -1;
    need = b->len + extra + 1;       /* + the terminating NUL */
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) {
            ncap = need;
            break;
        }
        ncap *= 2;
    }
    p = realloc(b->data, ncap);
    if (!p)
        return -1;
    if (b->cap == 0)
        p[0] = '\0';
    b->data = p;
    b->cap = ncap;
    return 0;
}

int buf_append(buf_t *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(buf_t *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -1;
    if (buf_reserve(b, (size_t)n) < 0)
        return -1;
    va_copy(ap2, ap);
    n = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->data[b->len] = '\0';
        return -1;
    }
    b->len += (size_t)n;
    return 0;
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/*
 * Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there
 * are not valid UTF-8; then *bad is the length of the maximal invalid
 * subpart (at least 1), which is replaced by a single U+FFFD as Unicode
 * recommends.  Overlong forms, surrogates and values above U+10FFFF are
 * invalid.
 */
static size_t buf_utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t need, i;

    *bad = 1;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;           /* overlong */
        else if (c == 0xED)
            hi = 0x9F;           /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;           /* overlong */
        else if (c == 0xF4)
            hi = 0x8F;           /* > U+10FFFF */
    } else {
        return 0;
    }
    for (i = 1; i < need; i++) {
        if (i >= n)
            break;
        if (s[i] < lo || s[i] > hi)
            break;
        lo = 0x80;
        hi = 0xBF;
    }
    if (i == need)
        return need;
    *bad = i;
    return 0;
}

int buf_json_str(buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t old = b->len, i = 0, run, seq, bad;

    if (buf_reserve(b, n + 2) < 0)
        return -1;
    if (buf_putc(b, '"') < 0)
        goto err;
    while (i < n) {
        /* copy the longest run that needs no escaping in one go */
        run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 &&
               p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            if (buf_append(b, p + i, run - i) < 0)
                goto err;
            i = run;
            continue;
        }
        if (p[i] >= 0x80) {
            seq = buf_utf8_seq(p + i, n - i, &bad);
            if (seq > 0) {
                if (buf_append(b, p + i, seq) < 0)
                    goto err;
                i += seq;
            } else {
                if (buf_append(b, "\xEF\xBF\xBD", 3) < 0)
                    goto err;
                i += bad;
            }
            continue;
        }
        {
            char esc[6] = { '\\', 0, 0, 0, 0, 0 };
            size_t elen = 2;

            switch (p[i]) {
            case '"':  esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            default:
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[p[i] >> 4];
                esc[5] = hex[p[i] & 0xF];
                elen = 6;
                break;
            }
            if (buf_append(b, esc, elen) < 0)
                goto err;
            i++;
        }
    }
    if (buf_putc(b, '"') < 0)
        goto err;
    return 0;

err:
    b->len = old;
    if (b->cap > 0)
        b->data[old] = '\0';
    return -1;
}

void buf_consume(buf_t *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *buf_detach(buf_t *b, size_t *len)
{
    char *p = b->data;

    if (!p) {
        p = malloc(1);
        if (!p)
            return NULL;
        p[0] = '\0';
    }
    if (len)
        *len = b->len;
    buf_init(b);
    return p;
}
