/*
 * keys: loading, choosing and tracking API keys (see keys.h).  The secrets
 * are read from a file or the environment and only ever copied into request
 * headers; error messages name the file and line, never the key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include "canon.h"
#include "keys.h"
#include "ledger_redis.h"

void key_fingerprint(const char *secret, char *out, size_t outlen)
{
    size_t n = strlen(secret);
    /* four characters of a short key would give away too much of it */
    snprintf(out, outlen, "...%s", n >= 16 ? secret + n - 4 : "");
}

static int parse_num_attr(const char *v, double *out)
{
    char *end;
    unsigned long long x;

    errno = 0;
    x = strtoull(v, &end, 10);
    if (errno || end == v || *end || x == 0 || x > 1000000000000ULL)
        return -1;
    *out = (double)x;
    return 0;
}

static int keys_add(keys_t *ks, const char *secret, const char *label,
                    double rpm, double tpm, int dialect)
{
    api_key_t *nv, *k;

    nv = realloc(ks->v, (ks->n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    ks->v = nv;
    k = &ks->v[ks->n];
    memset(k, 0, sizeof(*k));
    k->secret = strdup(secret);
    if (!k->secret)
        return -1;
    if (label && *label)
        snprintf(k->name, sizeof(k->name), "%s", label);
    else
        key_fingerprint(secret, k->name, sizeof(k->name));
    if (dialect >= 0)
        k->dialect = (dialect_t)dialect;
    else
        k->dialect = strncmp(secret, "sk-ant-", 7) == 0 ? DIALECT_ANTHROPIC
                                                          : DIALECT_OPENAI;
    rl_key_init(&k->rl, rpm, tpm);
    ks->n++;
    return 0;
}

static int valid_secret(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* Splits off the next blank-separated word of *p (in place), or NULL. */
static char *next_word(char **p)
{
    char *s = *p, *w;

    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    if (!*s) {
        *p = s;
        return NULL;
    }
    w = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
        s++;
    if (*s)
        *s++ = '\0';
    *p = s;
    return w;
}

static int keys_load_file(keys_t *ks, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    unsigned lineno = 0;
    int rc = -1;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    {
        /* as ssh does for private keys: warn, do not refuse */
        struct stat st;
        if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
            fprintf(stderr, "llmbatch: warning: %s holds API keys but other users may "
                    "access it (mode %04o); make it private with: chmod 600 %s\n", path,
                    (unsigned)(st.st_mode & 07777), path);
    }
    while ((got = getline(&line, &cap, f)) != -1) {
        char *cur = line, *tok, *secret, *hash;
        const char *label = NULL;
        double rpm = 0, tpm = 0;
        int dialect = -1, dup = 0;

        lineno++;
        /* a UTF-8 byte order mark (as some editors write) is not part of a key */
        if (lineno == 1 && got >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
            cur = line + 3;
        if ((hash = strchr(line, '#')) != NULL)
            *hash = '\0';
        secret = next_word(&cur);
        if (!secret)
            continue;
        if (!valid_secret(secret)) {
            snprintf(err, errlen, "%s:%u: the key has control or non-ASCII characters",
                     path, lineno);
            goto out;
        }
        while ((tok = next_word(&cur)) != NULL) {
            if (strncmp(tok, "label=", 6) == 0) {
                label = tok + 6;
            } else if (strncmp(tok, "rpm=", 4) == 0) {
                if (parse_num_attr(tok + 4, &rpm)) {
                    snprintf(err, errlen, "%s:%u: rpm= needs a positive integer", path, lineno);
                    goto out;
                }
            } else if (strncmp(tok, "tpm=", 4) == 0) {
                if (parse_num_attr(tok + 4, &tpm)) {
                    snprintf(err, errlen, "%s:%u: tpm= needs a positive integer", path, lineno);
                    goto out;
                }
            } else if (strcmp(tok, "dialect=openai") == 0) {
                dialect = DIALECT_OPENAI;
            } else if (strcmp(tok, "dialect=anthropic") == 0) {
                dialect = DIALECT_ANTHROPIC;
            } else {
                snprintf(err, errlen, "%s:%u: unknown attribute (expected label=, rpm=, tpm=, dialect=)",
                         path, lineno);
                goto out;
            }
        }
        for (size_t i = 0; i < ks->n && !dup; i++)
            dup = strcmp(ks->v[i].secret, secret) == 0;
        if (dup) {
            /* listed twice it would count twice against its rpm=/tpm= */
            fprintf(stderr, "llmbatch: warning: %s:%u: the same key as an earlier line; it "
                    "is used once, with the attributes of its first line\n", path, lineno);
            continue;
        }
        if (keys_add(ks, secret, label, rpm, tpm, dialect)) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto out;
    }
    if (ks->n == 0) {
        snprintf(err, errlen, "%s: no keys in the file", path);
        goto out;
    }
    rc = 0;
out:
    /* the line buffer held a secret: wipe it */
    if (line)
        memset(line, 0, cap);
    free(line);
    fclose(f);
    return rc;
}

/* Two keys with the same label, or the same last four characters, would
 * be one series in the metrics and one entry in the report's by_key: the
 * later ones get "#N" (N: their position among the keys). */
static void keys_unique_names(keys_t *ks)
{
    for (size_t i = 1; i < ks->n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ks->v[i].name, ks->v[j].name) == 0) {
                char tmp[sizeof(ks->v[i].name)];
                snprintf(tmp, sizeof(tmp), "%.60s#%zu", ks->v[i].name, i + 1);
                memcpy(ks->v[i].name, tmp, sizeof(tmp));
                break;
            }
        }
    }
}

int keys_load(keys_t *ks, const char *path, char *err, size_t errlen)
{
    const char *e;

    *ks = (keys_t){0};
    if (path) {
        if (keys_load_file(ks, path, err, errlen) == 0) {
            keys_unique_names(ks);
            return 0;
        }
        keys_release(ks);           /* a failed load leaves nothing behind */
        return -1;
    }
    if ((e = getenv("OPENAI_API_KEY")) && *e) {
        if (!valid_secret(e) || keys_add(ks, e, NULL, 0, 0, DIALECT_OPENAI)) {
            snprintf(err, errlen, "OPENAI_API_KEY is not a valid key");
            return -1;
        }
    }
    if ((e = getenv("ANTHROPIC_API_KEY")) && *e) {
        if (!valid_secret(e) || keys_add(ks, e, NULL, 0, 0, DIALECT_ANTHROPIC)) {
            snprintf(err, errlen, "ANTHROPIC_API_KEY is not a valid key");
            keys_release(ks);
            return -1;
        }
    }
    keys_unique_names(ks);
    return 0;
}

void keys_release(keys_t *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        if (ks->v[i].secret) {
            memset(ks->v[i].secret, 0, strlen(ks->v[i].secret));
            free(ks->v[i].secret);
        }
    }
    free(ks->v);
    *ks = (keys_t){0};
}

key_state_t keys_state(const api_key_t *k, int64_t now_ns)
{
    if (k->state == KEY_EXHAUSTED || k->state == KEY_INVALID)
        return k->state;
    if (k->rl.cooling_until_ns > now_ns)
        return KEY_COOLING;
    return KEY_OK;
}

const char *key_state_name(key_state_t s)
{
    switch (s) {
    case KEY_OK:        return "ok";
    case KEY_COOLING:   return "cooling";
    case KEY_EXHAUSTED: return "exhausted";
    case KEY_INVALID:   return "invalid";
    }
    return "?";
}

int keys_any_usable(const keys_t *ks, dialect_t d)
{
    for (size_t i = 0; i < ks->n; i++)
        if (ks->v[i].dialect == d && ks->v[i].state != KEY_EXHAUSTED &&
            ks->v[i].state != KEY_INVALID)
            return 1;
    return 0;
}

api_key_t *keys_pick(keys_t *ks, dialect_t d, int64_t now_ns, int64_t *wait_ns)
{
    api_key_t *best = NULL;
    int64_t best_wait = 0;

    for (size_t i = 0; i < ks->n; i++) {
        size_t idx = (ks->rr + i) % ks->n;
        api_key_t *k = &ks->v[idx];
        int64_t w;

        if (k->dialect != d || k->state == KEY_EXHAUSTED || k->state == KEY_INVALID)
            continue;
        w = rl_key_wait_ns(&k->rl, now_ns);
        if (!w && !rl_key_window_open(&k->rl, k->inflight))
            w = KEYS_WINDOW_WAIT_NS;        /* a reply will open the window */
        if (!best || w < best_wait ||
            (w == best_wait && w == 0 && k->inflight < best->inflight)) {
            best = k;
            best_wait = w;
        }
    }
    if (best) {
        ks->rr = (size_t)(best - ks->v) + 1;
        *wait_ns = best_wait;
    }
    return best;
}

int keys_auth_header(const api_key_t *k, char *out, size_t outlen)
{
    int n;

    if (k->dialect == DIALECT_ANTHROPIC)
        n = snprintf(out, outlen, "x-api-key: %s", k->secret);
    else
        n = snprintf(out, outlen, "Authorization: Bearer %s", k->secret);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

void keys_redact(const keys_t *ks, char *buf, size_t len)
{
    for (size_t i = 0; ks && i < ks->n; i++) {
        const char *k = ks->v[i].secret;
        size_t kl = k ? strlen(k) : 0;
        char *p = buf, *end = buf + len;

        while (kl && p < end && (p = memmem(p, (size_t)(end - p), k, kl)) != NULL) {
            memset(p, '*', kl);
            p += kl;
        }
    }
}

void keys_shared_name(const api_key_t *k, char *out, size_t outlen)
{
    rledger_key_fingerprint(k->secret, out, outlen);
}

/* Masks loaded keys in the decoded strings of v; the number masked. */
static int redact_tree(const keys_t *ks, json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;
    int n = 0;

    switch (json_typeof(v)) {
    case JSON_STRING: {
        size_t len = json_string_length(v);
        char *copy = malloc(len + 1);
        if (!copy)
            return 0;
        memcpy(copy, json_string_value(v), len + 1);
        keys_redact(ks, copy, len);
        if (memcmp(copy, json_string_value(v), len) != 0) {
            json_string_setn_nocheck(v, copy, len);
            n++;
        }
        free(copy);
        break;
    }
    case JSON_ARRAY:
        json_array_foreach(v, i, x)
            n += redact_tree(ks, x);
        break;
    case JSON_OBJECT:
        json_object_foreach(v, k, x)
            n += redact_tree(ks, x);
        break;
    default:
        break;
    }
    return n;
}

int keys_redact_json(const keys_t *ks, const char *buf, size_t len, char **out,
                     size_t *outlen)
{
    json_t *j;
    int n;

    *out = NULL;
    *outlen = 0;
    if (!ks || !ks->n || !len || !memmem(buf, len, "\\u", 2))
        return 0;
    if (!(j = json_loadb(buf, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL)))
        return 0;
    n = redact_tree(ks, j);
    if (n > 0) {
        *out = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY |
                             JSON_REAL_PRECISION(json_real_precision(j)));
        if (!*out) {
            json_decref(j);
            return -1;
        }
        *outlen = strlen(*out);
    }
    json_decref(j);
    return n > 0;
}
