/* Unit tests for runner/pool: the receive buffer shrinks with concurrency
 * so that their total stays bounded, and never below its floor; a pool set
 * up for plain http:// (no CA paths) refuses an https:// transfer rather
 * than send it without its trust settings; the fixed header lines. */
#include <string.h>
#include "tap.h"
#include "pool.h"

static void test_plain_http_refuses_https(void)
{
    pool_opts_t po = { 5000, 5000, NULL, 0, 8, 1 };
    pool_t p;

    CHECK_INT(pool_init(&p, &po), 0);
    CHECK_INT(pool_start(&p, "https://127.0.0.1:9/v1/chat/completions", NULL, "{}", 2, NULL), -1);
    CHECK_INT(p.inflight, 0);
    pool_release(&p);
}

static void test_fixed_headers(void)
{
    const char *h[] = { "Content-Type: application/json", NULL };
    struct curl_slist *l = pool_headers(h), *i;
    int ua = 0, ae = 0, expect = 0, n = 0;

    CHECK(l != NULL);
    for (i = l; i; i = i->next, n++) {
        ua += !strncmp(i->data, "User-Agent: llmbatch/", 21);
        ae += !strncmp(i->data, "Accept-Encoding: ", 17) && strstr(i->data, "gzip") &&
              i->data[strlen(i->data) - 1] != ',';
        expect += !strcmp(i->data, "Expect:");
    }
    CHECK_INT(n, 4);
    CHECK_INT(ua, 1);
    CHECK_INT(ae, 1);
    CHECK_INT(expect, 1);
    CHECK_STR(l->data, "Content-Type: application/json");
    pool_headers_free(l);
}

int main(void)
{
    test_plain_http_refuses_https();
    test_fixed_headers();
    CHECK_INT(pool_recv_buffer(64), 0);            /* libcurl's 16 KiB */
    CHECK_INT(pool_recv_buffer(256), 0);
    CHECK_INT(pool_recv_buffer(512), 8192);
    CHECK_INT(pool_recv_buffer(1024), 4096);
    CHECK_INT(pool_recv_buffer(4096), 1024);
    CHECK_INT(pool_recv_buffer(16384), POOL_RECV_BUFFER_MIN);
    CHECK_INT(pool_recv_buffer(0), 0);
    for (long c = 513; c <= 16384; c += 97)
        CHECK(pool_recv_buffer(c) * c <= POOL_RECV_BUFFERS_TOTAL ||
              pool_recv_buffer(c) == POOL_RECV_BUFFER_MIN);
    return tap_done();
}
