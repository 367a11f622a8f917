/*
 * lineid: custom_id / id extraction for joins (see lineid.h).
 *
 * The fast path scans the JSON text with jsonscan (no tree); anything it
 * cannot decide (escaped keys, duplicate keys, escaped values, text it
 * refuses) falls back to jansson, so the answer is always what jansson (and
 * so the run) sees.
 */
#include "lineid.h"
#include "jsonscan.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>

int lineid_blank(const char *line, size_t len)
{
    size_t k;

    for (k = 0; k < len && (line[k] == ' ' || line[k] == '\t'); k++)
        ;
    return k == len;
}

uint64_t lineid_hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

/* Decodes a JSON string value span into out.  1 ok, 0 not a string, -1 OOM. */
static int lineid_string(jspan_t v, buf_t *out)
{
    jspan_t s;
    json_t *j;
    int rc;

    v = jsonscan_trim(v);
    rc = jsonscan_plain_string(v, &s);
    if (rc < 0)
        return 0;
    if (rc == 1)
        return buf_append(out, s.p, s.n) < 0 ? -1 : 1;
    j = json_loadb(v.p, v.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!json_is_string(j)) {
        json_decref(j);
        return 0;
    }
    rc = buf_append(out, json_string_value(j), json_string_length(j)) < 0 ? -1 : 1;
    json_decref(j);
    return rc;
}

/* The members of a validated object, through jansson (slow path).
 * Sets bit 0 of *found for custom_id, bit 1 for id (strings only);
 * *cid_nonstring when custom_id exists but is not a string. */
static int lineid_slow(const char *line, size_t len, buf_t *cid, buf_t *bid,
                       unsigned *found, int *cid_nonstring)
{
    json_t *root = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL), *v;
    int rc = 0;

    if (!root)
        return -2;
    if (!json_is_object(root)) {
        json_decref(root);
        return -3;
    }
    v = json_object_get(root, "custom_id");
    if (json_is_string(v)) {
        if (buf_append(cid, json_string_value(v), json_string_length(v)) < 0)
            rc = -1;
        *found |= 1;
    } else if (v) {
        *cid_nonstring = 1;
    }
    v = json_object_get(root, "id");
    if (bid && json_is_string(v)) {
        if (buf_append(bid, json_string_value(v), json_string_length(v)) < 0)
            rc = -1;
        *found |= 2;
    }
    json_decref(root);
    return rc;
}

/* Common core: 0 ok, -1 OOM, -2 not JSON, -3 not an object. */
static int lineid_scan(const char *line, size_t len, buf_t *cid, buf_t *bid,
                       unsigned *found, int *cid_nonstring)
{
    static const char *const keys[] = { "custom_id", "id" };
    jspan_t obj = { line, len }, vals[2];
    unsigned f = 0;
    int n, r;

    *found = 0;
    *cid_nonstring = 0;
    /* jansson has the last word: it is lenient in corners (a NUL byte in
     * some places) that jsonscan refuses, and the run parses with it */
    if (jsonscan_validate(line, len) != 0)
        return lineid_slow(line, len, cid, bid, found, cid_nonstring);
    n = jsonscan_members(obj, keys, bid ? 2 : 1, vals, &f);
    if (n == -1)
        return -3;
    if (n == -2)
        return lineid_slow(line, len, cid, bid, found, cid_nonstring);
    if (f & 1) {
        r = lineid_string(vals[0], cid);
        if (r < 0)
            return -1;
        if (r)
            *found |= 1;
        else
            *cid_nonstring = 1;
    }
    if (bid && (f & 2)) {
        r = lineid_string(vals[1], bid);
        if (r < 0)
            return -1;
        if (r)
            *found |= 2;
    }
    return 0;
}

int lineid_input(const char *line, size_t len, uint64_t lineno, buf_t *id)
{
    unsigned found;
    int nonstring, rc;

    buf_reset(id);
    rc = lineid_scan(line, len, id, NULL, &found, &nonstring);
    if (rc == -1)
        return -1;
    if (rc == 0 && (found & 1) && id->len > 0)
        return 0;
    buf_reset(id);
    return buf_printf(id, "line-%" PRIu64, lineno) < 0 ? -1 : 0;
}

int lineid_output(const char *line, size_t len, buf_t *cid, buf_t *bid,
                  char *err, size_t errlen)
{
    unsigned found;
    int nonstring, rc;

    buf_reset(cid);
    buf_reset(bid);
    rc = lineid_scan(line, len, cid, bid, &found, &nonstring);
    if (rc == -1) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (rc == -2) {
        snprintf(err, errlen, "not valid JSON");
        return -1;
    }
    if (rc == -3) {
        snprintf(err, errlen, "not a JSON object");
        return -1;
    }
    if (nonstring) {
        snprintf(err, errlen, "\"custom_id\" is not a string");
        return -1;
    }
    if (!(found & 1)) {
        snprintf(err, errlen, "no \"custom_id\"");
        return -1;
    }
    if (!(found & 2))
        buf_reset(bid);
    return 0;
}
