/*
 * money: all amounts are integers in picodollars (1e-12 USD), so that
 * token x price products are exact.  A price of P USD per 1M tokens is
 * exactly P*1e6 picodollars per token, so cost = tokens * price_pp.
 * int64 holds up to about 9.2 million USD.
 */
#ifndef LLMB_MONEY_H
#define LLMB_MONEY_H
#include <stdint.h>
#include <stddef.h>

typedef int64_t money_t;

#define MONEY_PER_USD 1000000000000LL
#define MONEY_MAX INT64_MAX

/* Parses a decimal USD amount such as "12", "0.5", "1e2"-free "12.345" exactly.
 * Returns 0 on success, -1 on a malformed or out-of-range value. */
int money_parse_usd(const char *s, money_t *out);
/* The largest price money_from_double_per_mtok takes (USD per 1M tokens):
 * 9.2e12 USD/Mtok is 9.2e18 picodollars per token, just under INT64_MAX. */
#define MONEY_MAX_USD_PER_MTOK 9.2e12
/* Converts a JSON real (USD per 1M tokens) into picodollars per token,
 * rounding to the nearest integer.  -1 if negative, not finite or over
 * MONEY_MAX_USD_PER_MTOK. */
int money_from_double_per_mtok(double usd_per_mtok, money_t *out);
/* Formats as USD with `decimals` decimals (rounded half up), e.g. "1.234567". */
void money_format(money_t m, int decimals, char *out, size_t outlen);
/* Like money_format with up to 12 decimals, but without trailing zeros
 * beyond min_decimals: 0.001 -> "0.001", 25 -> "25.00". */
void money_format_min(money_t m, int min_decimals, char *out, size_t outlen);
/* Saturating helpers: never overflow, clamp to MONEY_MAX. */
money_t money_add(money_t a, money_t b);
money_t money_mul(uint64_t tokens, money_t price_per_token);
/* As a double in USD, for JSON output only (never accumulated). */
double money_to_usd(money_t m);

#endif
