/*
 * test_money: exact parsing, formatting and saturating arithmetic of
 * picodollar amounts (formats/money.c).
 */
#include "tap.h"
#include "money.h"

static money_t parse_ok(const char *s)
{
    money_t m = -42;
    CHECK(money_parse_usd(s, &m) == 0);
    return m;
}

static int parse_fails(const char *s)
{
    money_t m = 7;
    int r = money_parse_usd(s, &m);
    return r == -1 && m == 7;
}

static const char *fmt(money_t m, int decimals)
{
    static char out[64];
    money_format(m, decimals, out, sizeof(out));
    return out;
}

int main(void)
{
    money_t m;
    char small[6];

    /* parsing */
    CHECK_INT(parse_ok("12"), 12 * MONEY_PER_USD);
    CHECK_INT(parse_ok("0.5"), MONEY_PER_USD / 2);
    CHECK_INT(parse_ok("0.1"), 100000000000LL);
    CHECK_INT(parse_ok("12.345678901234"), 12345678901234LL);
    CHECK_INT(parse_ok("0.000000000001"), 1);
    CHECK_INT(parse_ok("0.0000000000019"), 1);     /* 13th decimal rounds down */
    CHECK_INT(parse_ok(".5"), MONEY_PER_USD / 2);
    CHECK_INT(parse_ok("5."), 5 * MONEY_PER_USD);
    CHECK_INT(parse_ok("0"), 0);
    CHECK_INT(parse_ok("9223372.036854775807"), MONEY_MAX);
    CHECK(parse_fails("9223372.036854775808"));   /* one past the max */
    CHECK(parse_fails("99999999999999999999999"));
    CHECK(parse_fails(""));
    CHECK(parse_fails("."));
    CHECK(parse_fails("-1"));
    CHECK(parse_fails("+1"));
    CHECK(parse_fails("1e2"));
    CHECK(parse_fails("1.2.3"));
    CHECK(parse_fails(" 1"));
    CHECK(parse_fails("1 "));
    CHECK(parse_fails("abc"));
    CHECK(parse_fails("$5"));
    CHECK(money_parse_usd(NULL, &m) == -1);

    /* from a JSON price per 1M tokens */
    CHECK(money_from_double_per_mtok(2.5, &m) == 0);
    CHECK_INT(m, 2500000);
    CHECK(money_from_double_per_mtok(0.075, &m) == 0);
    CHECK_INT(m, 75000);
    CHECK(money_from_double_per_mtok(0.005, &m) == 0);
    CHECK_INT(m, 5000);
    CHECK(money_from_double_per_mtok(0, &m) == 0);
    CHECK_INT(m, 0);
    CHECK(money_from_double_per_mtok(-1, &m) == -1);
    CHECK(money_from_double_per_mtok(1e20, &m) == -1);
    CHECK(money_from_double_per_mtok(0.0 / 0.0, &m) == -1);

    /* formatting, rounding half up */
    CHECK_STR(fmt(12345678901234LL, 6), "12.345679");
    CHECK_STR(fmt(12345678901234LL, 12), "12.345678901234");
    CHECK_STR(fmt(MONEY_PER_USD / 2, 0), "1");
    CHECK_STR(fmt(MONEY_PER_USD / 2 - 1, 0), "0");
    CHECK_STR(fmt(5000000000LL, 2), "0.01");       /* 0.005 -> 0.01 */
    CHECK_STR(fmt(4999999999LL, 2), "0.00");
    CHECK_STR(fmt(0, 2), "0.00");
    CHECK_STR(fmt(0, 0), "0");
    CHECK_STR(fmt(1, 12), "0.000000000001");
    CHECK_STR(fmt(-1500000000000LL, 2), "-1.50");
    CHECK_STR(fmt(-5000000000LL, 2), "-0.01");     /* half away from zero */
    CHECK_STR(fmt(-1, 2), "0.00");                 /* no "-0.00" */
    CHECK_STR(fmt(MONEY_MAX, 12), "9223372.036854775807");
    CHECK_STR(fmt(MONEY_MAX, 2), "9223372.04");
    CHECK_STR(fmt(INT64_MIN, 2), "-9223372.04");
    CHECK_STR(fmt(3 * MONEY_PER_USD, 20), "3.000000000000");  /* clamped to 12 */
    money_format(123 * MONEY_PER_USD, 6, small, sizeof(small));
    CHECK_STR(small, "123.0");                     /* truncated, terminated */

    /* saturating arithmetic */
    CHECK_INT(money_add(1, 2), 3);
    CHECK_INT(money_add(MONEY_MAX, 1), MONEY_MAX);
    CHECK_INT(money_add(MONEY_MAX - 5, 10), MONEY_MAX);
    CHECK_INT(money_add(INT64_MIN, -1), INT64_MIN);
    CHECK_INT(money_add(-5, 3), -2);
    CHECK_INT(money_mul(1000, 2500000), 2500000000LL);
    CHECK_INT(money_mul(0, MONEY_MAX), 0);
    CHECK_INT(money_mul(UINT64_MAX, 1), MONEY_MAX);
    CHECK_INT(money_mul(4000000000ULL, 4000000000LL), MONEY_MAX);
    CHECK_INT(money_mul(3, 0), 0);

    /* to double, for output only */
    CHECK(money_to_usd(MONEY_PER_USD / 4) == 0.25);
    CHECK(money_to_usd(-3 * MONEY_PER_USD) == -3.0);
    CHECK(money_to_usd(1234567 * MONEY_PER_USD + 500000000000LL) == 1234567.5);
    return tap_done();
}
