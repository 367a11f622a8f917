/*
 * fuzz_response: provider_classify (provider.h) for both dialects on one
 * HTTP response built from the input:
 *   bytes 0-1  status = big-endian value % 600 (0 = no response)
 *   then       header lines ("Name: value"), "\n"-separated, up to the
 *              first empty line (at most 16 lines, from the first 4 KiB);
 *              without an empty line there are no headers
 *   the rest   the body
 * Then provider_usage on the parsed body, the retry-after, x-should-retry
 * and request-id helpers, and outcome_release.
 *
 * Invariants: kind is a known outcome; success only for 2xx with a JSON
 * object body; retry_after_ms >= -1 and agrees with
 * provider_retry_after_ms; code and message are one line and carry no
 * unmasked "sk-" key; usage fields are zero when usage is absent.
 */
#include "fuzz_util.h"

#include <jansson.h>

#include "headers.h"
#include "provider.h"
#include "jsonscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS 1764133200000LL   /* 2025-11-26T05:00:00Z */

static int keych(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* No "sk-" at a word start followed by 16 or more key characters. */
static int has_key(const char *s)
{
    const char *p;

    for (p = s; (p = strstr(p, "sk-")) != NULL; p++) {
        size_t n = 3;
        if (p != s && keych(p[-1]))
            continue;
        while (keych(p[n]))
            n++;
        if (n >= 19)
            return 1;
    }
    return 0;
}

static void check_outcome(const outcome_t *o, long status, int64_t ra,
                          const char *body, size_t len)
{
    FUZZ_CHECK(o->kind >= OUT_SUCCESS && o->kind <= OUT_KEY_EXHAUSTED);
    FUZZ_CHECK(o->retry_after_ms == ra);
    FUZZ_CHECK(memchr(o->code, '\0', sizeof o->code) != NULL);
    FUZZ_CHECK(memchr(o->message, '\0', sizeof o->message) != NULL);
    FUZZ_CHECK(strpbrk(o->code, "\r\n") == NULL);
    FUZZ_CHECK(strpbrk(o->message, "\r\n") == NULL);
    if (has_key(o->code) || has_key(o->message))
        fprintf(stderr, "unmasked key: code=%s message=%s\n", o->code, o->message);
    FUZZ_CHECK(!has_key(o->code) && !has_key(o->message));
    if (o->kind == OUT_SUCCESS) {
        FUZZ_CHECK(status >= 200 && status < 300);
        /* a tree, or one valid JSON object (RFC 8259) kept as bytes */
        if (!o->body) {
            jspan_t all = { body, len };
            FUZZ_CHECK(jsonscan_validate_rfc(body, len) == 0);
            FUZZ_CHECK(jsonscan_trim(all).p[0] == '{');
        } else {
            FUZZ_CHECK(json_is_object(o->body));
        }
    } else {
        FUZZ_CHECK(o->code[0] != '\0');
    }
    if (status >= 200 && status < 300)
        FUZZ_CHECK(o->kind == OUT_SUCCESS || o->kind == OUT_RETRY);
    if (o->rate_limited)
        FUZZ_CHECK(status == 429);
    if (!o->usage.present)
        FUZZ_CHECK(o->usage.input == 0 && o->usage.output == 0 &&
                   o->usage.cached_input == 0 && o->usage.cache_write == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    headers_t h;
    outcome_t o;
    usage_t u;
    long status;
    const uint8_t *p, *end, *hdr_end = NULL;
    size_t scan, i;
    int64_t ra;
    int d, sr;
    const char *rid;

    if (size < 2)
        return 0;
    status = (long)(((unsigned)data[0] << 8 | data[1]) % 600);
    p = data + 2;
    end = data + size;
    scan = (size_t)(end - p) < 4096 ? (size_t)(end - p) : 4096;
    headers_init(&h);
    /* the header block ends at "\n\n" (or "\n\r\n"), or at a leading "\n" */
    for (i = 0; i < scan; i++) {
        if (p[i] != '\n')
            continue;
        if (i == 0) {
            hdr_end = p;
            break;
        }
        if (i + 1 < scan && p[i + 1] == '\n') {
            hdr_end = p + i + 1;
            break;
        }
        if (i + 2 < scan && p[i + 1] == '\r' && p[i + 2] == '\n') {
            hdr_end = p + i + 2;
            break;
        }
    }
    if (hdr_end) {
        const uint8_t *q = p;
        int nh = 0;

        while (q < hdr_end && nh < 16) {
            const uint8_t *nl = memchr(q, '\n', (size_t)(hdr_end - q));
            size_t len = nl ? (size_t)(nl - q) : (size_t)(hdr_end - q);

            /* headers_add_line takes the raw line, "\r\n" included */
            FUZZ_CHECK(headers_add_line(&h, (const char *)q,
                                        len + (nl != NULL)) == 0);
            nh++;
            q += len + (nl != NULL);
        }
        p = hdr_end + 1;
    }
    /* (a name may hold NUL bytes from the wire: no check on name[0]) */
    for (i = 0; i < h.n; i++)
        FUZZ_CHECK(h.v[i].name && h.v[i].value &&
                   headers_get(&h, h.v[i].name) != NULL);

    ra = provider_retry_after_ms(&h, NOW_MS);
    FUZZ_CHECK(ra >= -1 && ra <= 3600 * 1000);
    sr = provider_should_retry(&h);
    FUZZ_CHECK(sr >= -1 && sr <= 1);
    rid = provider_request_id(&h);
    (void)rid;

    for (d = DIALECT_OPENAI; d <= DIALECT_ANTHROPIC; d++) {
        provider_classify((dialect_t)d, status, &h, (const char *)p,
                          (size_t)(end - p), NOW_MS, &o);
        check_outcome(&o, status, ra, (const char *)p, (size_t)(end - p));
        if (o.body) {
            int present = provider_usage((dialect_t)d, o.body, &u);
            FUZZ_CHECK(present == 0 || present == 1);
            /* 1: input and output counts, 2: only one of them */
            FUZZ_CHECK(present ? (u.present == 1 || u.present == 2) : u.present == 0);
            if (o.kind == OUT_SUCCESS)
                FUZZ_CHECK(memcmp(&u, &o.usage, sizeof u) == 0);
        }
        outcome_release(&o);
        FUZZ_CHECK(o.body == NULL);
    }
    headers_release(&h);
    return 0;
}
