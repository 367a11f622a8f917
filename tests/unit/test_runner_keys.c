/*
 * test_runner_keys: the key pool (runner/keys.h).
 *   - keys file parsing: labels, rpm=, tpm=, dialect=, comments, blank and
 *     CRLF lines, the sk-ant- default dialect;
 *   - bad files: file:line errors that never contain a secret;
 *   - the environment fallback;
 *   - fingerprints ("..." + last 4) and auth headers;
 *   - keys_pick: usable keys first, exhausted/invalid skipped, cooling and
 *     paced keys lose to free ones, round-robin among equals, dialects.
 */
#define _GNU_SOURCE
#include "keys.h"
#include "tap.h"
#include <stdlib.h>
#include <unistd.h>

#define S  1000000000LL
#define MS 1000000LL

static char tmpl[] = "/tmp/llmb-keys-XXXXXX";
static char path[512];

static const char *write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
    return path;
}

static api_key_t *find(keys_t *ks, const char *name)
{
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->v[i].name, name) == 0)
            return &ks->v[i];
    return NULL;
}

static void test_parse_ok(void)
{
    keys_t ks;
    char err[512] = "";
    api_key_t *k;

    write_file(
        "# the team's keys\n"
        "\n"
        "sk-proj-AAAAAAAAAAAAAAAA1111 label=alpha rpm=500 tpm=200000\n"
        "   sk-proj-BBBBBBBBBBBBBBBB2222    # no attributes, trailing comment\n"
        "\tsk-ant-api03-CCCCCCCCCCCC3333\ttpm=40000  \n"
        "sk-other-DDDDDDDDDDDDDD4444 dialect=anthropic label=claude-backup\r\n"
        "sk-ant-EEEEEEEEEEEEEEEE5555 dialect=openai rpm=60 # forced\n"
        "# sk-proj-commented-out-9999 label=never\n"
        "   # indented comment\n");
    CHECK_INT(keys_load(&ks, path, err, sizeof(err)), 0);
    CHECK_STR(err, "");
    CHECK_INT(ks.n, 5);

    k = find(&ks, "alpha");
    CHECK(k != NULL);
    if (k) {
        CHECK_STR(k->secret, "sk-proj-AAAAAAAAAAAAAAAA1111");
        CHECK_INT(k->dialect, DIALECT_OPENAI);
        CHECK(k->rl.user_rpm == 500);
        CHECK(k->rl.user_tpm == 200000);
        CHECK_INT(k->state, KEY_OK);
        CHECK_INT(k->requests, 0);
    }
    k = find(&ks, "...2222");
    CHECK(k != NULL);
    if (k) {
        CHECK_STR(k->secret, "sk-proj-BBBBBBBBBBBBBBBB2222");
        CHECK_INT(k->dialect, DIALECT_OPENAI);
        CHECK(k->rl.user_rpm == 0 && k->rl.user_tpm == 0);
    }
    k = find(&ks, "...3333");
    CHECK(k != NULL);
    if (k) {
        CHECK_STR(k->secret, "sk-ant-api03-CCCCCCCCCCCC3333");
        CHECK_INT(k->dialect, DIALECT_ANTHROPIC);   /* sk-ant- prefix */
        CHECK(k->rl.user_tpm == 40000 && k->rl.user_rpm == 0);
    }
    k = find(&ks, "claude-backup");
    CHECK(k != NULL);
    if (k) {
        CHECK_STR(k->secret, "sk-other-DDDDDDDDDDDDDD4444");   /* no \r kept */
        CHECK_INT(k->dialect, DIALECT_ANTHROPIC);
    }
    k = find(&ks, "...5555");
    CHECK(k != NULL);
    if (k) {
        CHECK_INT(k->dialect, DIALECT_OPENAI);      /* dialect= wins */
        CHECK(k->rl.user_rpm == 60);
    }
    CHECK(find(&ks, "never") == NULL);
    CHECK(find(&ks, "...9999") == NULL);
    /* file order is kept */
    if (ks.n == 5) {
        CHECK_STR(ks.v[0].name, "alpha");
        CHECK_STR(ks.v[4].name, "...5555");
    }
    keys_release(&ks);
    CHECK_INT(ks.n, 0);
}

/* Loads text; expects failure with "path:line" and no secret in err. */
static void expect_bad(const char *text, unsigned line, const char *secret1,
                       const char *secret2)
{
    keys_t ks;
    char err[512] = "";
    char want[600];
    int rc;

    write_file(text);
    rc = keys_load(&ks, path, err, sizeof(err));
    CHECK_INT(rc, -1);
    if (rc == 0)
        keys_release(&ks);
    snprintf(want, sizeof(want), "%s:%u:", path, line);
    if (!strstr(err, want)) {
        tap_fail++;
        fprintf(stderr, "FAIL: error for line %u lacks \"%s\": %s\n", line, want, err);
    } else {
        tap_pass++;
    }
    if ((secret1 && strstr(err, secret1)) || (secret2 && strstr(err, secret2))) {
        tap_fail++;
        fprintf(stderr, "FAIL: error message leaks a key: %s\n", err);
    } else {
        tap_pass++;
    }
    /* nor any recognisable part of it beyond the fingerprint */
    if (secret1 && strstr(err, "SECRETPART")) {
        tap_fail++;
        fprintf(stderr, "FAIL: error message leaks part of a key: %s\n", err);
    } else {
        tap_pass++;
    }
}

static void test_parse_bad(void)
{
    const char *k1 = "sk-proj-SECRETPART00000001aaaa";
    const char *k2 = "sk-proj-SECRETPART00000002bbbb";
    char text[1024];

    snprintf(text, sizeof(text), "# ok\n%s\n%s rpm=abc\n", k1, k2);
    expect_bad(text, 3, k1, k2);
    snprintf(text, sizeof(text), "%s rpm=0\n", k1);
    expect_bad(text, 1, k1, NULL);
    snprintf(text, sizeof(text), "%s tpm=-5\n", k1);
    expect_bad(text, 1, k1, NULL);
    snprintf(text, sizeof(text), "%s tpm=12x\n", k1);
    expect_bad(text, 1, k1, NULL);
    snprintf(text, sizeof(text), "%s rpm=\n", k1);
    expect_bad(text, 1, k1, NULL);
    snprintf(text, sizeof(text), "\n\n%s colour=blue\n", k1);
    expect_bad(text, 3, k1, NULL);
    snprintf(text, sizeof(text), "%s dialect=gemini\n", k1);
    expect_bad(text, 1, k1, NULL);
    /* two keys pasted on one line: the second is not an attribute, and the
     * message must not echo it */
    snprintf(text, sizeof(text), "%s label=a\n%s %s\n", k1, k2, k1);
    expect_bad(text, 2, k1, k2);
    /* a key=value typo that carries the secret after '=' */
    snprintf(text, sizeof(text), "lable=%s %s\n", k2, k1);
    expect_bad(text, 1, k1, k2);
    snprintf(text, sizeof(text), "%s label=x rpm=%s\n", k1, k2);
    expect_bad(text, 1, k1, k2);
    /* a key with a non-ASCII character */
    snprintf(text, sizeof(text), "%s\nsk-proj-SECRETPART\xc3\xa9" "0003cccc\n", k1);
    expect_bad(text, 2, k1, "0003cccc");

    /* no keys at all / a missing file: an error, not an empty pool */
    {
        keys_t ks;
        char err[512] = "";
        write_file("# nothing here\n\n   \n");
        CHECK_INT(keys_load(&ks, path, err, sizeof(err)), -1);
        CHECK(strstr(err, path) != NULL);
        err[0] = '\0';
        CHECK_INT(keys_load(&ks, "/nonexistent/llmb/keys.txt", err, sizeof(err)), -1);
        CHECK(strstr(err, "/nonexistent/llmb/keys.txt") != NULL);
    }
}

static void test_env(void)
{
    keys_t ks;
    char err[256] = "";

    setenv("OPENAI_API_KEY", "sk-env-openai-000000009f9f", 1);
    unsetenv("ANTHROPIC_API_KEY");
    CHECK_INT(keys_load(&ks, NULL, err, sizeof(err)), 0);
    CHECK_INT(ks.n, 1);
    if (ks.n == 1) {
        CHECK_STR(ks.v[0].name, "...9f9f");
        CHECK_INT(ks.v[0].dialect, DIALECT_OPENAI);
    }
    keys_release(&ks);

    setenv("ANTHROPIC_API_KEY", "sk-ant-env-0000000077e7", 1);
    CHECK_INT(keys_load(&ks, NULL, err, sizeof(err)), 0);
    CHECK_INT(ks.n, 2);
    {
        api_key_t *a = find(&ks, "...77e7");
        CHECK(a != NULL && a->dialect == DIALECT_ANTHROPIC);
    }
    keys_release(&ks);

    /* a key with a newline pasted into the variable: refused, not echoed */
    setenv("OPENAI_API_KEY", "sk-env-SECRETPART\n0000", 1);
    unsetenv("ANTHROPIC_API_KEY");
    err[0] = '\0';
    CHECK_INT(keys_load(&ks, NULL, err, sizeof(err)), -1);
    CHECK(strstr(err, "SECRETPART") == NULL);
    CHECK(err[0] != '\0');
    unsetenv("OPENAI_API_KEY");
}

static void test_fingerprint_and_auth(void)
{
    char out[64];
    keys_t ks;
    char err[256];
    char hdr[256];

    key_fingerprint("sk-proj-abcdefghijklmnop1a2b", out, sizeof(out));
    CHECK_STR(out, "...1a2b");
    /* a key shorter than 16 characters shows none of itself */
    key_fingerprint("wxyz", out, sizeof(out));
    CHECK_STR(out, "...");
    key_fingerprint("0123456789abcde", out, sizeof(out));
    CHECK_STR(out, "...");
    key_fingerprint("0123456789abcdef", out, sizeof(out));
    CHECK_STR(out, "...cdef");
    /* shorter than 4: never print the whole secret */
    key_fingerprint("abc", out, sizeof(out));
    CHECK(strstr(out, "abc") == NULL);
    CHECK(strncmp(out, "...", 3) == 0);

    write_file("sk-proj-auth0000000000001234\nsk-ant-auth00000000000005678 label=claude\n");
    CHECK_INT(keys_load(&ks, path, err, sizeof(err)), 0);
    CHECK_INT(ks.n, 2);
    if (ks.n == 2) {
        CHECK_INT(keys_auth_header(&ks.v[0], hdr, sizeof(hdr)), 0);
        CHECK_STR(hdr, "Authorization: Bearer sk-proj-auth0000000000001234");
        CHECK_INT(keys_auth_header(&ks.v[1], hdr, sizeof(hdr)), 0);
        CHECK_STR(hdr, "x-api-key: sk-ant-auth00000000000005678");
        /* too small a buffer: an error, never a truncated header */
        CHECK_INT(keys_auth_header(&ks.v[0], hdr, 20), -1);
        /* names are safe to print */
        CHECK(strstr(ks.v[0].name, "auth") == NULL);
        CHECK_STR(ks.v[1].name, "claude");
    }
    keys_release(&ks);
}

static void test_pick(void)
{
    keys_t ks;
    char err[256];
    int64_t wait = -1, now = 100 * S;
    api_key_t *k, *a, *b, *c, *ant;
    int count[3] = {0, 0, 0};

    write_file("sk-a-000000000000000000aaaa label=a\n"
               "sk-b-000000000000000000bbbb label=b\n"
               "sk-c-000000000000000000cccc label=c\n"
               "sk-ant-d-0000000000000dddd label=ant\n");
    CHECK_INT(keys_load(&ks, path, err, sizeof(err)), 0);
    CHECK_INT(ks.n, 4);
    if (ks.n != 4)
        return;
    a = find(&ks, "a");
    b = find(&ks, "b");
    c = find(&ks, "c");
    ant = find(&ks, "ant");

    /* all free: round-robin spreads picks evenly; never the anthropic key */
    for (int i = 0; i < 30; i++) {
        k = keys_pick(&ks, DIALECT_OPENAI, now, &wait);
        CHECK(k != NULL && k != ant);
        CHECK_INT(wait, 0);
        if (k)
            count[k == a ? 0 : k == b ? 1 : 2]++;
    }
    CHECK_INT(count[0], 10);
    CHECK_INT(count[1], 10);
    CHECK_INT(count[2], 10);
    k = keys_pick(&ks, DIALECT_ANTHROPIC, now, &wait);
    CHECK(k == ant);
    CHECK_INT(wait, 0);

    /* exhausted and invalid keys are skipped */
    a->state = KEY_EXHAUSTED;
    c->state = KEY_INVALID;
    for (int i = 0; i < 6; i++) {
        k = keys_pick(&ks, DIALECT_OPENAI, now, &wait);
        CHECK(k == b);
    }
    CHECK_INT(keys_any_usable(&ks, DIALECT_OPENAI), 1);
    CHECK_INT(keys_state(a, now), KEY_EXHAUSTED);
    CHECK_STR(key_state_name(keys_state(a, now)), "exhausted");
    CHECK_STR(key_state_name(keys_state(c, now)), "invalid");

    /* cooling: a key paused by the server loses to a free one, and is
     * reported as cooling until the time passes */
    a->state = KEY_OK;
    c->state = KEY_OK;
    b->rl.cooling_until_ns = now + 5 * S;
    CHECK_INT(keys_state(b, now), KEY_COOLING);
    CHECK_STR(key_state_name(KEY_COOLING), "cooling");
    CHECK_STR(key_state_name(KEY_OK), "ok");
    for (int i = 0; i < 6; i++) {
        k = keys_pick(&ks, DIALECT_OPENAI, now, &wait);
        CHECK(k == a || k == c);
        CHECK_INT(wait, 0);
    }
    CHECK_INT(keys_state(b, now + 6 * S), KEY_OK);

    /* a key that must wait for its pace loses to one that can start now */
    b->rl.cooling_until_ns = 0;
    a->state = KEY_EXHAUSTED;
    rl_key_init(&c->rl, 60, 0);
    c->rl.req.per_min = 60;          /* as if applied: one a second */
    rl_key_take(&c->rl, now, 1);
    for (int i = 0; i < 4; i++) {
        k = keys_pick(&ks, DIALECT_OPENAI, now + 10 * MS, &wait);
        CHECK(k == b);
        CHECK_INT(wait, 0);
    }

    /* only waiting keys: the soonest, with its wait */
    b->rl.cooling_until_ns = now + 3 * S;
    k = keys_pick(&ks, DIALECT_OPENAI, now + 10 * MS, &wait);
    CHECK(k == c);
    CHECK(wait > 0 && wait <= 1 * S);

    /* every key of the dialect exhausted or invalid: NULL */
    b->state = KEY_INVALID;
    c->state = KEY_EXHAUSTED;
    wait = 12345;
    k = keys_pick(&ks, DIALECT_OPENAI, now, &wait);
    CHECK(k == NULL);
    CHECK_INT(keys_any_usable(&ks, DIALECT_OPENAI), 0);
    /* the other dialect is unaffected */
    CHECK_INT(keys_any_usable(&ks, DIALECT_ANTHROPIC), 1);
    CHECK(keys_pick(&ks, DIALECT_ANTHROPIC, now, &wait) == ant);
    keys_release(&ks);

    /* fewest in flight breaks ties */
    write_file("sk-a-000000000000000000aaaa label=a\n"
               "sk-b-000000000000000000bbbb label=b\n");
    CHECK_INT(keys_load(&ks, path, err, sizeof(err)), 0);
    if (ks.n == 2) {
        ks.v[0].inflight = 5;
        ks.v[1].inflight = 0;
        ks.rr = 0;
        k = keys_pick(&ks, DIALECT_OPENAI, now, &wait);
        CHECK(k == &ks.v[1]);
    }
    keys_release(&ks);

    /* no keys of a dialect at all */
    write_file("sk-a-000000000000000000aaaa\n");
    CHECK_INT(keys_load(&ks, path, err, sizeof(err)), 0);
    CHECK(keys_pick(&ks, DIALECT_ANTHROPIC, now, &wait) == NULL);
    CHECK_INT(keys_any_usable(&ks, DIALECT_ANTHROPIC), 0);
    keys_release(&ks);
}

int main(void)
{
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/keys.txt", dir);
    test_parse_ok();
    test_parse_bad();
    test_env();
    test_fingerprint_and_auth();
    test_pick();
    unlink(path);
    rmdir(dir);
    return tap_done();
}
