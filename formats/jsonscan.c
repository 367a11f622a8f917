/*
 * jsonscan: allocation-free JSON validation and member lookup (see
 * jsonscan.h).  An iterative validator with an explicit depth counter (no
 * recursion), and a skipper that relies on validated input.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "jsonscan.h"

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Validates a UTF-8 sequence starting at p (a byte >= 0x80); returns its
 * length or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];

    if (c >= 0xc2 && c <= 0xdf)
        return end - p >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (end - p < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && p[1] < 0xa0) return 0;          /* overlong */
        if (c == 0xed && p[1] > 0x9f) return 0;          /* surrogates */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (end - p < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
            (p[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && p[1] < 0x90) return 0;          /* overlong */
        if (c == 0xf4 && p[1] > 0x8f) return 0;          /* > U+10FFFF */
        return 4;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_u4(const char *p, const char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

/* p at the opening quote; returns the position after the closing quote.
 * *nul is set when the string holds \u0000. */
static const char *scan_string(const char *p, const char *end, int *nul)
{
    p++;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= end)
                return NULL;
            switch (*p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                p++;
                break;
            case 'u': {
                unsigned u, lo;
                if (read_u4(p + 1, end, &u))
                    return NULL;
                p += 5;
                if (u >= 0xd800 && u <= 0xdbff) {
                    /* a high surrogate must be followed by a low one */
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                        read_u4(p + 2, end, &lo) || lo < 0xdc00 || lo > 0xdfff)
                        return NULL;
                    p += 6;
                } else if (u >= 0xdc00 && u <= 0xdfff) {
                    return NULL;
                }
                /* \u0000 is valid JSON; jansson takes it with JSON_ALLOW_NUL,
                 * which every parse of a reply or an input line passes,
                 * but not in an object key (see scan_key) */
                if (u == 0)
                    *nul = 1;
                break;
            }
            default:
                return NULL;
            }
        } else if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)p, (const unsigned char *)end);
            if (!n)
                return NULL;
            p += n;
        } else {
            p++;
        }
    }
    return NULL;
}

/* For jsonscan_validate, numbers jansson cannot hold are refused, so that
 * whatever it accepts, the full parser accepts too: integers outside
 * int64, reals that overflow a double.  jsonscan_validate_rfc takes any. */
static int number_fits(const char *s, size_t n, int is_real)
{
    char small[128], *buf = small;
    double d;
    int ok;

    if (!is_real) {
        const char *digits = s[0] == '-' ? s + 1 : s;
        size_t nd = n - (size_t)(digits - s);
        if (nd < 19)
            return 1;
        if (nd > 19)
            return 0;
        return memcmp(digits, s[0] == '-' ? "9223372036854775808"
                                          : "9223372036854775807", 19) <= 0;
    }
    if (n >= sizeof small && !(buf = malloc(n + 1)))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    d = strtod(buf, NULL);
    ok = !isinf(d);
    if (buf != small)
        free(buf);
    return ok;
}

static const char *scan_number(const char *p, const char *end, int any_number)
{
    const char *start = p;
    int is_real = 0;

    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        is_real = 1;
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_real = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    return any_number || number_fits(start, (size_t)(p - start), is_real) ? p : NULL;
}

static const char *scan_literal(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

/* A member's key and its colon, from p (whitespace allowed before each).
 * A key holding \u0000 is refused when strict: jansson refuses it even with
 * JSON_ALLOW_NUL ("NUL byte in object key not supported"). */
static const char *scan_key(const char *p, const char *end, int strict)
{
    int nul = 0;

    p = skip_ws(p, end);
    if (p >= end || *p != '"' || !(p = scan_string(p, end, &nul)) || (strict && nul))
        return NULL;
    p = skip_ws(p, end);
    if (p >= end || *p != ':')
        return NULL;
    return p + 1;
}

static int validate(const char *text, size_t len, int any_number)
{
    /* stack of container kinds: 1 object, 2 array */
    unsigned char stack[JSONSCAN_MAX_DEPTH];
    const char *p = text, *end = text + len;
    int depth = 0, nul = 0;   /* a NUL in a value string is no matter */
    enum { VALUE, AFTER_VALUE, KEY_OR_END, VALUE_OR_END } want = VALUE;

    if (!text)
        return -1;
    for (;;) {
        p = skip_ws(p, end);
        switch (want) {
        case KEY_OR_END:
            if (p < end && *p == '}') {
                p++;
                depth--;
                want = AFTER_VALUE;
                break;
            }
            if (!(p = scan_key(p, end, !any_number)))
                return -1;
            want = VALUE;
            break;
        case VALUE_OR_END:
            if (p < end && *p == ']') {
                p++;
                depth--;
                want = AFTER_VALUE;
                break;
            }
            /* fall through */
        case VALUE:
            if (p >= end)
                return -1;
            switch (*p) {
            case '{':
            case '[':
                if (depth >= JSONSCAN_MAX_DEPTH)
                    return -1;
                stack[depth++] = *p == '{' ? 1 : 2;
                want = *p == '{' ? KEY_OR_END : VALUE_OR_END;
                p++;
                continue;
            case '"':
                p = scan_string(p, end, &nul);
                break;
            case 't':
                p = scan_literal(p, end, "true");
                break;
            case 'f':
                p = scan_literal(p, end, "false");
                break;
            case 'n':
                p = scan_literal(p, end, "null");
                break;
            default:
                p = scan_number(p, end, any_number);
                break;
            }
            if (!p)
                return -1;
            want = AFTER_VALUE;
            break;
        case AFTER_VALUE:
            if (depth == 0)
                return skip_ws(p, end) == end ? 0 : -1;
            if (p >= end)
                return -1;
            if (*p == ',') {
                p++;
                if (stack[depth - 1] == 1 && !(p = scan_key(p, end, !any_number)))
                    return -1;
                want = VALUE;
            } else if (*p == '}' && stack[depth - 1] == 1) {
                p++;
                depth--;
            } else if (*p == ']' && stack[depth - 1] == 2) {
                p++;
                depth--;
            } else {
                return -1;
            }
            break;
        }
    }
}

int jsonscan_validate(const char *text, size_t len)
{
    return validate(text, len, 0);
}

int jsonscan_validate_rfc(const char *text, size_t len)
{
    return validate(text, len, 1);
}

size_t jsonscan_compact(const char *text, size_t len, char *out)
{
    size_t i, o = 0;
    int in_str = 0;

    for (i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            out[o++] = c;
            if (c == '\\' && i + 1 < len)
                out[o++] = text[++i];
            else if (c == '"')
                in_str = 0;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            in_str = c == '"';
            out[o++] = c;
        }
    }
    return o;
}

/* p at the opening quote of a string in validated text: after its closing
 * quote (no validation, only escapes matter). */
static const char *skip_string(const char *p, const char *end)
{
    p++;
    while (p < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        const char *b;
        if (!q)
            return NULL;
        /* the quote is escaped if an odd number of backslashes precede it */
        for (b = q; b > p && b[-1] == '\\'; b--)
            ;
        if (((q - b) & 1) == 0)
            return q + 1;
        p = q + 1;
    }
    return NULL;
}

/* Skips one value of validated JSON at p (after whitespace). */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;

    p = skip_ws(p, end);
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' &&
               *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        return p;
    }
    while (p < end) {
        char c = *p;
        if (c == '"') {
            if (!(p = skip_string(p, end)))
                return NULL;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']') {
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

jspan_t jsonscan_trim(jspan_t v)
{
    const char *end = v.p + v.n;
    v.p = skip_ws(v.p, end);
    while (end > v.p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
                         end[-1] == '\r'))
        end--;
    v.n = (size_t)(end - v.p);
    return v;
}

int jsonscan_members(jspan_t obj, const char *const *keys, size_t nkeys, jspan_t *vals,
                     unsigned *found)
{
    const char *p = obj.p, *end = obj.p + obj.n;

    *found = 0;
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return 0;
    while (p < end) {
        const char *ks = p, *ke, *vs, *ve;
        size_t kl;
        if (*p != '"' || !(ke = skip_string(p, end)))
            return -1;
        p = skip_ws(ke, end);
        if (p >= end || *p != ':')
            return -1;
        vs = skip_ws(p + 1, end);
        if (!(ve = skip_value(vs, end)))
            return -1;
        kl = (size_t)(ke - ks) - 2;
        if (memchr(ks + 1, '\\', kl))
            return -2;                  /* an escaped key may equal a wanted one */
        for (size_t i = 0; i < nkeys && i < 32; i++) {
            if (strlen(keys[i]) == kl && memcmp(ks + 1, keys[i], kl) == 0) {
                if (*found & (1u << i))
                    return -2;          /* a repeated key: readers disagree */
                vals[i].p = vs;
                vals[i].n = (size_t)(ve - vs);
                *found |= 1u << i;
                break;
            }
        }
        p = skip_ws(ve, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
        else
            break;
    }
    return (int)__builtin_popcount(*found);
}

int jsonscan_member(jspan_t obj, const char *key, jspan_t *val)
{
    unsigned found;
    int r = jsonscan_members(obj, &key, 1, val, &found);
    return r < 0 ? -1 : (found & 1) != 0;
}

int jsonscan_plain_string(jspan_t v, jspan_t *out)
{
    v = jsonscan_trim(v);
    if (v.n < 2 || v.p[0] != '"' || v.p[v.n - 1] != '"')
        return -1;
    if (memchr(v.p + 1, '\\', v.n - 2))
        return 0;
    out->p = v.p + 1;
    out->n = v.n - 2;
    return 1;
}

int jsonscan_uint(jspan_t v, uint64_t *out)
{
    uint64_t x = 0;

    v = jsonscan_trim(v);
    if (v.n == 0 || v.n > 18)
        return 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return 0;
        x = x * 10 + (uint64_t)(v.p[i] - '0');
    }
    if (v.n > 1 && v.p[0] == '0')
        return 0;
    *out = x;
    return 1;
}

/* Decoded UTF-8 length of the string whose contents are [p, end). */
static uint64_t decoded_len(const char *p, const char *end)
{
    uint64_t n = 0;

    while (p < end) {
        const char *b = memchr(p, '\\', (size_t)(end - p));
        if (!b)
            return n + (uint64_t)(end - p);
        n += (uint64_t)(b - p);
        if (b + 1 < end && b[1] == 'u' && end - b >= 6) {
            unsigned u = 0;
            read_u4(b + 2, end, &u);
            if (u >= 0xd800 && u <= 0xdbff) {
                n += 4;                 /* a surrogate pair: one 4-byte character */
                p = b + 12 <= end ? b + 12 : end;
                continue;
            }
            n += u < 0x80 ? 1 : u < 0x800 ? 2 : 3;
            p = b + 6;
        } else {
            n += 1;
            p = b + 2;
        }
    }
    return n;
}

uint64_t jsonscan_string_bytes(jspan_t v)
{
    const char *p = v.p, *end = v.p + v.n, *e;
    uint64_t n = 0;

    while (p < end) {
        if (*p == '"') {
            const char *q;
            if (!(e = skip_string(p, end)))
                break;
            q = skip_ws(e, end);
            if (q >= end || *q != ':')          /* a value, not a key */
                n += decoded_len(p + 1, e - 1);
            p = e;
        } else {
            p++;
        }
    }
    return n;
}
