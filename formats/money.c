/*
 * money: exact integer arithmetic on picodollars.
 *
 * Every amount is an int64 count of 1e-12 USD.  Parsing and formatting are
 * done digit by digit (no floating point) so that "0.1" is exactly
 * 100000000000 and printing never drifts.  money_add / money_mul saturate
 * instead of overflowing: a clamped reservation is still an upper bound,
 * which is what the spend cap needs.
 */
#include <string.h>
#include "money.h"

#include <math.h>
#include <stdio.h>

#define MONEY_DECIMALS 12

int money_parse_usd(const char *s, money_t *out)
{
    uint64_t whole = 0, frac = 0;
    int ndigits = 0, nfrac = 0;
    const char *p = s;

    if (!s || !out)
        return -1;
    while (*p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p - '0');
        if (whole > (UINT64_MAX - d) / 10)
            return -1;
        whole = whole * 10 + d;
        ndigits++;
        p++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            /* Beyond 12 decimals the digits are below a picodollar:
             * accepted and rounded down. */
            if (nfrac < MONEY_DECIMALS) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                nfrac++;
            }
            ndigits++;
            p++;
        }
    }
    if (ndigits == 0 || *p != '\0')
        return -1;
    for (; nfrac < MONEY_DECIMALS; nfrac++)
        frac *= 10;
    if (whole > (uint64_t)(MONEY_MAX - (money_t)frac) / (uint64_t)MONEY_PER_USD)
        return -1;
    *out = (money_t)whole * MONEY_PER_USD + (money_t)frac;
    return 0;
}

int money_from_double_per_mtok(double usd_per_mtok, money_t *out)
{
    /* P USD per 1M tokens = P * 1e12 / 1e6 = P * 1e6 picodollars per token. */
    double pp;

    if (!out || !isfinite(usd_per_mtok) || usd_per_mtok < 0)
        return -1;
    pp = nearbyint(usd_per_mtok * 1e6);
    if (!(pp < MONEY_MAX_USD_PER_MTOK * 1e6))
        return -1;
    *out = (money_t)pp;
    return 0;
}

void money_format(money_t m, int decimals, char *out, size_t outlen)
{
    uint64_t mag, whole, frac, div = 1, half;
    int neg = m < 0;
    int i;

    if (!out || outlen == 0)
        return;
    if (decimals < 0)
        decimals = 0;
    if (decimals > MONEY_DECIMALS)
        decimals = MONEY_DECIMALS;
    mag = neg ? (uint64_t)0 - (uint64_t)m : (uint64_t)m;
    for (i = decimals; i < MONEY_DECIMALS; i++)
        div *= 10;
    /* Round the magnitude half up (so negatives round half away from 0);
     * mag <= 2^63 and half < 2^40, so the sum cannot wrap. */
    half = div / 2;
    if (div > 1)
        mag = (mag + half) / div;
    {
        uint64_t scale = 1;
        for (i = 0; i < decimals; i++)
            scale *= 10;
        whole = mag / scale;
        frac = mag % scale;
    }
    if (mag == 0)
        neg = 0;
    if (decimals == 0)
        snprintf(out, outlen, "%s%llu", neg ? "-" : "",
                 (unsigned long long)whole);
    else
        snprintf(out, outlen, "%s%llu.%0*llu", neg ? "-" : "",
                 (unsigned long long)whole, decimals, (unsigned long long)frac);
}

money_t money_add(money_t a, money_t b)
{
    money_t r;

    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? MONEY_MAX : INT64_MIN;
    return r;
}

money_t money_mul(uint64_t tokens, money_t price_per_token)
{
    money_t r;

    if (tokens == 0 || price_per_token == 0)
        return 0;
    if (tokens > (uint64_t)INT64_MAX)
        return price_per_token > 0 ? MONEY_MAX : INT64_MIN;
    if (__builtin_mul_overflow((money_t)tokens, price_per_token, &r))
        return price_per_token > 0 ? MONEY_MAX : INT64_MIN;
    return r;
}

double money_to_usd(money_t m)
{
    /* Split so that the whole-dollar part is exact in the double. */
    return (double)(m / MONEY_PER_USD) +
           (double)(m % MONEY_PER_USD) / (double)MONEY_PER_USD;
}

void money_format_min(money_t m, int min_decimals, char *out, size_t outlen)
{
    char *dot, *end;

    money_format(m, MONEY_DECIMALS, out, outlen);
    dot = strchr(out, '.');
    if (!dot)
        return;
    end = out + strlen(out);
    while (end > dot + 1 + min_decimals && end[-1] == '0')
        *--end = '\0';
    if (end == dot + 1)
        *dot = '\0';
}
