/* Unit tests for formats/url.c: joining base URLs and API paths. */
#include "url.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *base, *path, *want;
} cases[] = {
    { "http://h:8000", "/v1/chat/completions", "http://h:8000/v1/chat/completions" },
    { "http://h:8000/", "/v1/chat/completions", "http://h:8000/v1/chat/completions" },
    { "http://h:8000/v1", "/v1/chat/completions", "http://h:8000/v1/chat/completions" },
    { "http://h:8000/v1/", "/v1/chat/completions", "http://h:8000/v1/chat/completions" },
    { "http://h:8000//", "/v1/embeddings", "http://h:8000/v1/embeddings" },
    { "https://gw.example/openai/v1", "/v1/chat/completions",
      "https://gw.example/openai/v1/chat/completions" },
    { "https://gw.example/openai/v1/", "/v1/messages",
      "https://gw.example/openai/v1/messages" },
    { "https://gw.example/proxy", "/v1/responses",
      "https://gw.example/proxy/v1/responses" },
    { "https://gw.example/proxy/", "/v1/responses",
      "https://gw.example/proxy/v1/responses" },
    { "https://gw.example/v1beta", "/v1/responses",
      "https://gw.example/v1beta/v1/responses" },
    { "http://h:8000/v1", "v1/completions", "http://h:8000/v1/completions" },
    { "http://h:8000", "v1/completions", "http://h:8000/v1/completions" },
    { "https://az.example/openai?api-version=2024-10-21", "/v1/chat/completions",
      "https://az.example/openai/v1/chat/completions?api-version=2024-10-21" },
    { "https://az.example/v1/?k=v", "/v1/chat/completions",
      "https://az.example/v1/chat/completions?k=v" },
    { "http://h:8000/v1", "", "http://h:8000/v1" },
};

/* url_check_base: what a typo in --base-url looks like. */
static void check_base_urls(void)
{
    static const struct { const char *u; const char *why; } bad[] = {
        { "", "is empty" },
        { "ftp://h/v1", "uses ftp://" },
        { "localhost:8000", "needs a scheme" },
        { "h:8000/v1", "needs a scheme" },
        { "http://", "has no host" },
        { "https://:443/v1", "has no host" },
        { "http:///v1", "has no host" },
        { "http://a b/v1", "space or a control" },
        { "http://h\t/v1", "space or a control" },
    };
    static const char *good[] = {
        "http://h:8000", "HTTPS://api.example/v1", "http://127.0.0.1:1/v1?x=y",
        "https://user@gw.example/openai",
    };
    char err[200];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(url_check_base(bad[i].u, err, sizeof err) == -1);
        CHECK(strstr(err, bad[i].why) != NULL);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(url_check_base(good[i], err, sizeof err) == 0);
}

int main(void)
{
    size_t i;
    char *s;

    check_base_urls();
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s = url_join(cases[i].base, cases[i].path);
        CHECK_STR(s, cases[i].want);
        free(s);
    }
    CHECK(url_join(NULL, "/v1/x") == NULL);
    CHECK(url_join("http://h", NULL) == NULL);
    return tap_done();
}
