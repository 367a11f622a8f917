/* Unit tests for formats/url.c: joining base URLs and API paths. */
#include "url.h"
#include "tap.h"

#include <stdlib.h>

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

int main(void)
{
    size_t i;
    char *s;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s = url_join(cases[i].base, cases[i].path);
        CHECK_STR(s, cases[i].want);
        free(s);
    }
    CHECK(url_join(NULL, "/v1/x") == NULL);
    CHECK(url_join("http://h", NULL) == NULL);
    return tap_done();
}
