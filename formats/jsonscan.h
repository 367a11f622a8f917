/*
 * jsonscan: allocation-free scanning of JSON text, for the hot paths where
 * building a jansson tree per request would dominate the CPU: validating a
 * reply or an input line, and finding a few members in it.
 *
 * jsonscan_validate() accepts exactly RFC 8259 JSON with strict UTF-8 (no
 * overlong forms, no surrogates, nothing above U+10FFFF), no raw control
 * characters in strings, nesting up to JSONSCAN_MAX_DEPTH, and optional
 * surrounding whitespace; \u0000 is accepted (jansson takes it with
 * JSON_ALLOW_NUL, which every parse of a reply or input line passes).
 * jsonscan_validate refuses numbers a 64-bit integer or a double cannot
 * hold, so what it accepts, jansson accepts too; jsonscan_validate_rfc
 * takes any number the grammar allows (replies are valid JSON even when
 * jansson cannot hold one of their numbers).  The other functions assume
 * validated input.
 * Spans point into the caller's text; nothing is copied.
 */
#ifndef LLMB_JSONSCAN_H
#define LLMB_JSONSCAN_H
#include <stddef.h>
#include <stdint.h>

#define JSONSCAN_MAX_DEPTH 512

typedef struct jspan {
    const char *p;
    size_t      n;
} jspan_t;

/* 0 if text is one valid JSON value that jansson can parse, else -1. */
int jsonscan_validate(const char *text, size_t len);
/* 0 if text is one valid RFC 8259 JSON value (numbers of any size), else -1. */
int jsonscan_validate_rfc(const char *text, size_t len);
/* Copies validated JSON text to out without the whitespace between tokens
 * (strings are copied as they are); out must hold len bytes.  Returns the
 * length written.  The result is one line. */
size_t jsonscan_compact(const char *text, size_t len, char *out);
/* The value of member `key` of the object `obj` (a validated span that
 * starts, after whitespace, with '{').  Keys are compared byte for byte
 * with the raw key text.  1 found, 0 not found, -1 when it cannot say: not
 * an object, the key occurs twice, or some key is written with escapes. */
int jsonscan_member(jspan_t obj, const char *key, jspan_t *val);
/* The same for several keys in one pass (at most 32): vals[i] is set and
 * bit i of *found when keys[i] is a member.  The number found, -1 if obj
 * is not an object, -2 if one of the keys occurs twice or any key is
 * written with escapes (JSON readers differ on which one counts). */
int jsonscan_members(jspan_t obj, const char *const *keys, size_t nkeys, jspan_t *vals,
                     unsigned *found);
/* The span without surrounding whitespace. */
jspan_t jsonscan_trim(jspan_t v);
/* If v is a string without escapes: its contents (without quotes), 1.
 * 0 if it is a string with escapes, -1 if it is not a string. */
int jsonscan_plain_string(jspan_t v, jspan_t *out);
/* If v is a non-negative integer literal that fits in 63 bits: 1 and *out.
 * 0 otherwise. */
int jsonscan_uint(jspan_t v, uint64_t *out);
/* Sum of the decoded UTF-8 lengths of every string value inside v (object
 * keys are not counted). */
uint64_t jsonscan_string_bytes(jspan_t v);

#endif
