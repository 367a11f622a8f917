/*
 * buf: a growable byte buffer (like git's strbuf, redis's sds without the
 * header trick).  The buffer owns `data`; it is always NUL-terminated when
 * cap > 0, so `data` can be passed to C string functions.  After a failed
 * append (-1, out of memory) the buffer is unchanged.
 */
#ifndef LLMB_BUF_H
#define LLMB_BUF_H
#include <stddef.h>
#include <stdarg.h>

typedef struct buf {
    char  *data;
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT { NULL, 0, 0 }

void buf_init(buf_t *b);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_release(buf_t *b);
/* Keeps the storage, sets len to 0. */
void buf_reset(buf_t *b);
int  buf_reserve(buf_t *b, size_t extra);
int  buf_append(buf_t *b, const void *p, size_t n);
int  buf_puts(buf_t *b, const char *s);
int  buf_putc(buf_t *b, char c);
int  buf_printf(buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int  buf_vprintf(buf_t *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends s as a JSON string literal (with quotes), escaping as RFC 8259
 * requires.  Invalid UTF-8 bytes are replaced by U+FFFD. */
int  buf_json_str(buf_t *b, const char *s, size_t n);
/* Removes the first n bytes. */
void buf_consume(buf_t *b, size_t n);
/* Hands the storage to the caller (who frees it); the buffer becomes empty. */
char *buf_detach(buf_t *b, size_t *len);

#endif
