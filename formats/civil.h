/*
 * civil: calendar arithmetic shared by the HTTP-date and RFC 3339 parsers
 * (formats/provider.c, formats/ratelimit_hdr.c).  Private to formats/.
 * Pure integer maths on the proleptic Gregorian calendar, UTC only: no
 * mktime, no TZ, no locale.
 */
#ifndef LLMB_CIVIL_H
#define LLMB_CIVIL_H
#include <stdint.h>

/* Days since 1970-01-01 of y-m-d (H. Hinnant's days_from_civil). */
static inline int64_t civil_days_from(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static inline int civil_days_in_month(int64_t y, int m)
{
    static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    if (m < 1 || m > 12)
        return 0;
    return dim[m - 1] + (m == 2 && leap);
}

/* Epoch milliseconds of a UTC date-time; -1 if a field is out of range.
 * A leap second (sec 60) is accepted and counted as :59.999. */
static inline int64_t civil_epoch_ms(int64_t y, int mon, int d, int h, int mi,
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

#endif
