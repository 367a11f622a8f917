/*
 * timefmt: the time formats servers send, parsed without a clock, a locale
 * or TZ: HTTP-dates (retry-after), RFC 3339 instants (Anthropic rate-limit
 * resets) and Go durations (OpenAI rate-limit resets).  Calendar maths is
 * integer-only on the proleptic Gregorian calendar, UTC.  Stateless.
 */
#include "timefmt.h"

#include <stdint.h>
#include <string.h>

/* ---- calendar ---------------------------------------------------------- */

/* Days since 1970-01-01 of y-m-d (H. Hinnant's days_from_civil). */
static int64_t civil_days_from(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int civil_days_in_month(int64_t y, int m)
{
    static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    if (m < 1 || m > 12)
        return 0;
    return dim[m - 1] + (m == 2 && leap);
}

/* Epoch milliseconds of a UTC date-time; -1 if a field is out of range.
 * A leap second (sec 60) is accepted and counted as :59.999. */
static int64_t civil_epoch_ms(int64_t y, int mon, int d, int h, int mi,
                                     int s, int ms)
{
    if (y < 1970 || y > 9999 || mon < 1 || mon > 12 || d < 1 ||
        d > civil_days_in_month(y, mon) || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || s < 0 || s > 60 || ms < 0 || ms > 999)
        return -1;
    if (s == 60) {
        s = 59;
        ms = 999;
    }
    return ((civil_days_from(y, mon, d) * 24 + h) * 60 + mi) * 60000 +
           (int64_t)s * 1000 + ms;
}

static char tf_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* ---- HTTP-date (RFC 9110 5.6.7) ---------------------------------------- */

static int prov_isdigit(char c)
{
    return c >= '0' && c <= '9';
}

static int prov_isalpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Reads min..max digits; -1 if fewer than min. */
static int prov_num(const char **p, int min, int max)
{
    int v = 0, n = 0;

    while (n < max && prov_isdigit(**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n >= min ? v : -1;
}

/* Skips at least one space. */
static int prov_spaces(const char **p)
{
    if (**p != ' ')
        return -1;
    while (**p == ' ')
        (*p)++;
    return 0;
}

static int prov_month(const char **p)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    char m[3];
    int i;

    for (i = 0; i < 3; i++) {
        if (!prov_isalpha((*p)[i]))
            return -1;
        m[i] = tf_lower((*p)[i]);
    }
    if (prov_isalpha((*p)[3]))
        return -1;
    for (i = 0; i < 12; i++) {
        if (memcmp(names + 3 * i, m, 3) == 0) {
            *p += 3;
            return i + 1;
        }
    }
    return -1;
}

static int prov_hms(const char **p, int *h, int *mi, int *s)
{
    if ((*h = prov_num(p, 2, 2)) < 0 || *(*p)++ != ':' ||
        (*mi = prov_num(p, 2, 2)) < 0 || *(*p)++ != ':' ||
        (*s = prov_num(p, 2, 2)) < 0)
        return -1;
    return 0;
}

static int prov_zone_end(const char *p)
{
    if (prov_spaces(&p) < 0)
        return -1;
    if (strncmp(p, "GMT", 3) != 0 && strncmp(p, "UTC", 3) != 0)
        return -1;
    p += 3;
    while (*p == ' ')
        p++;
    return *p == '\0' ? 0 : -1;
}

int64_t http_date_ms(const char *s)
{
    const char *p = s;
    int y, mon, d, h, mi, sec;

    if (!s)
        return -1;
    while (*p == ' ')
        p++;
    if (!prov_isalpha(*p))
        return -1;
    while (prov_isalpha(*p))
        p++;                        /* weekday, not checked */
    if (*p == ',') {
        p++;
        if (prov_spaces(&p) < 0 || (d = prov_num(&p, 1, 2)) < 0)
            return -1;
        if (*p == '-') {
            /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
            const char *ys;
            p++;
            if ((mon = prov_month(&p)) < 0 || *p++ != '-')
                return -1;
            ys = p;
            if ((y = prov_num(&p, 2, 4)) < 0)
                return -1;
            if (p - ys == 2)
                y += y < 70 ? 2000 : 1900;
            else if (p - ys != 4)
                return -1;
        } else {
            /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
            if (prov_spaces(&p) < 0 || (mon = prov_month(&p)) < 0 ||
                prov_spaces(&p) < 0 || (y = prov_num(&p, 4, 4)) < 0)
                return -1;
        }
        if (prov_spaces(&p) < 0 || prov_hms(&p, &h, &mi, &sec) < 0 ||
            prov_zone_end(p) < 0)
            return -1;
    } else {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        if (prov_spaces(&p) < 0 || (mon = prov_month(&p)) < 0 ||
            prov_spaces(&p) < 0 || (d = prov_num(&p, 1, 2)) < 0 ||
            prov_spaces(&p) < 0 || prov_hms(&p, &h, &mi, &sec) < 0 ||
            prov_spaces(&p) < 0 || (y = prov_num(&p, 4, 4)) < 0)
            return -1;
        while (*p == ' ')
            p++;
        if (*p != '\0')
            return -1;
    }
    return civil_epoch_ms(y, mon, d, h, mi, sec, 0);
}

/* ---- Go durations and RFC 3339 ------------------------------------------ */

#define NS_PER_MS 1000000ULL

static int rl_isdigit(char c)
{
    return c >= '0' && c <= '9';
}

/* Unit suffix at p: nanoseconds per unit and its length, or 0. */
static uint64_t rl_unit(const char *p, size_t *len)
{
    if (strncmp(p, "ns", 2) == 0) { *len = 2; return 1ULL; }
    if (strncmp(p, "us", 2) == 0) { *len = 2; return 1000ULL; }
    if (strncmp(p, "\xc2\xb5s", 3) == 0) { *len = 3; return 1000ULL; } /* µ */
    if (strncmp(p, "\xce\xbcs", 3) == 0) { *len = 3; return 1000ULL; } /* μ */
    if (strncmp(p, "ms", 2) == 0) { *len = 2; return NS_PER_MS; }
    if (*p == 's') { *len = 1; return 1000ULL * NS_PER_MS; }
    if (*p == 'm') { *len = 1; return 60ULL * 1000 * NS_PER_MS; }
    if (*p == 'h') { *len = 1; return 3600ULL * 1000 * NS_PER_MS; }
    return 0;
}

int rl_parse_duration_ms(const char *s, int64_t *ms)
{
    uint64_t total_ns = 0;
    const char *p = s;

    if (!s || !ms)
        return -1;
    if (*p == '+')
        p++;
    if (strcmp(p, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*p == '\0')
        return -1;
    while (*p) {
        uint64_t whole = 0, frac = 0, fscale = 1, unit, part;
        int nd = 0, frac_rest = 0;
        size_t ulen = 0;

        while (rl_isdigit(*p)) {
            if (whole > (UINT64_MAX - 9) / 10)
                return -1;
            whole = whole * 10 + (uint64_t)(*p - '0');
            p++;
            nd++;
        }
        if (*p == '.') {
            p++;
            while (rl_isdigit(*p)) {
                if (fscale < 1000000000ULL) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    fscale *= 10;
                } else if (*p != '0') {
                    frac_rest = 1;      /* below 1e-9 of a unit: round up */
                }
                p++;
                nd++;
            }
        }
        if (nd == 0)
            return -1;
        unit = rl_unit(p, &ulen);
        if (!unit)
            return -1;
        p += ulen;
        if (whole && unit > UINT64_MAX / whole)
            return -1;
        part = whole * unit;
        /* frac/fscale of a unit, in ns, rounded up, without overflow:
         * unit = q*fscale + r  =>  frac*unit/fscale = frac*q + frac*r/fscale */
        {
            uint64_t q = unit / fscale, r = unit % fscale;
            uint64_t fr = frac * q + (frac * r + fscale - 1) / fscale;
            if (frac_rest)
                fr++;
            if (part > UINT64_MAX - fr)
                return -1;
            part += fr;
        }
        if (total_ns > UINT64_MAX - part)
            return -1;
        total_ns += part;
    }
    {
        uint64_t r = total_ns / NS_PER_MS + (total_ns % NS_PER_MS != 0);
        if (r > (uint64_t)INT64_MAX)
            return -1;
        *ms = (int64_t)r;
    }
    return 0;
}

/* Reads exactly n digits at *p; -1 if they are not all digits. */
static int rl_digits(const char **p, int n)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (!rl_isdigit((*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

int rl_parse_rfc3339_ms(const char *s, int64_t *epoch_ms)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, ms = 0, off_min = 0;
    int64_t t;

    if (!s || !epoch_ms)
        return -1;
    if ((y = rl_digits(&p, 4)) < 0 || *p++ != '-' ||
        (mo = rl_digits(&p, 2)) < 0 || *p++ != '-' ||
        (d = rl_digits(&p, 2)) < 0)
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if ((h = rl_digits(&p, 2)) < 0 || *p++ != ':' ||
        (mi = rl_digits(&p, 2)) < 0 || *p++ != ':' ||
        (sec = rl_digits(&p, 2)) < 0)
        return -1;
    if (*p == '.') {
        int nd = 0, rest = 0;
        p++;
        while (rl_isdigit(*p)) {
            if (nd < 3)
                ms = ms * 10 + (*p - '0');
            else if (*p != '0')
                rest = 1;
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (; nd < 3; nd++)
            ms *= 10;
        if (rest)
            ms++;               /* round up: never resume early */
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if ((oh = rl_digits(&p, 2)) < 0 || *p++ != ':' ||
            (om = rl_digits(&p, 2)) < 0 || oh > 23 || om > 59)
            return -1;
        off_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    if (ms == 1000) {
        ms = 999;
    }
    t = civil_epoch_ms(y, mo, d, h, mi, sec, ms);
    if (t < 0)
        return -1;
    *epoch_ms = t - (int64_t)off_min * 60000;
    return 0;
}

