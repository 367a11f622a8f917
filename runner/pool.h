/*
 * pool: the connection pool, one libcurl multi handle.
 *
 * One xfer_t per request in flight, linked to its easy handle with
 * CURLOPT_PRIVATE; easy handles are recycled through a free list so their
 * connection state and buffers are reused.  Connections are kept alive and
 * shared by the multi handle; HTTP/2 is negotiated over TLS and multiplexed
 * (CURLOPT_PIPEWAIT is set for https:// URLs only: over plain HTTP/1.1 it
 * would hold every other transfer back until the first reply).
 * The pool never queues: the scheduler starts a transfer only when a slot is
 * free, so --timeout bounds the request's own time, never its wait.
 *
 * pool_wait() is the program's one blocking point (curl_multi_poll).
 */
#ifndef LLMB_POOL_H
#define LLMB_POOL_H
#include <stdint.h>
#include <stddef.h>
#include <curl/curl.h>
#include "buf.h"
#include "headers.h"

#define POOL_MAX_BODY ((size_t)64 << 20)
/* libcurl allocates one receive buffer per easy handle, 16 KiB by default:
 * 64 MiB at concurrency 4096, most of the run's memory.  Their total is
 * kept near POOL_RECV_BUFFERS_TOTAL: 16 KiB each up to concurrency 512,
 * then smaller, down to POOL_RECV_BUFFER_MIN (a reply larger than the
 * buffer only takes more reads). */
#define POOL_RECV_BUFFERS_TOTAL (8L << 20)
#define POOL_RECV_BUFFER_MIN    2048L

typedef struct pool_opts {
    long        timeout_ms;          /* whole request, 0 = none */
    long        connect_timeout_ms;
    const char *cacert;
    int         insecure;
    long        max_host_connections;
} pool_opts_t;

typedef struct xfer {
    CURL              *easy;
    buf_t              body;
    headers_t          headers;
    char               errbuf[CURL_ERROR_SIZE];
    void              *user;
    int64_t            started_ms;
    int                too_big;
    int                hdr_too_big;   /* headers_add_line refused the header block */
    int                sends;         /* times curl started sending it */
    struct xfer       *next_free;   /* free list */
    struct xfer       *prev, *next;  /* in-flight list */
} xfer_t;

typedef struct xfer_result {
    CURLcode    code;
    long        status;        /* 0 if no response */
    int         reached;       /* the request may have reached the server */
    int         timed_out;
    int         resend_blocked; /* curl wanted to resend on a new connection */
    int64_t     elapsed_ms;
    const headers_t *headers;
    const char *body;
    size_t      body_len;
    const char *error;         /* transport error text, or NULL */
} xfer_result_t;

typedef void (*pool_done_fn)(void *ctx, void *user, const xfer_result_t *r);

typedef struct pool {
    CURLM      *multi;
    pool_opts_t opts;
    xfer_t     *free_list;
    xfer_t     *active;
    int         inflight;
    long        recv_buffer;   /* CURLOPT_BUFFERSIZE, 0 = libcurl's default */
    char        user_agent[64];
} pool_t;

/* opts.max_host_connections is the run's concurrency: it also sizes the
 * receive buffers (pool_recv_buffer).  0 or -1. */
int  pool_init(pool_t *p, const pool_opts_t *o);
/* The CURLOPT_BUFFERSIZE used at `concurrency`, 0 for libcurl's default. */
long pool_recv_buffer(long concurrency);
void pool_release(pool_t *p);
/* Builds a request header list from a NULL-terminated array of "Name:
 * value" lines (plus "Expect:").  Lists are built once per key, not per
 * request; pool_headers_free() wipes the bytes (an auth header is a secret)
 * and frees.  NULL on ENOMEM. */
struct curl_slist *pool_headers(const char *const *headers);
void pool_headers_free(struct curl_slist *l);
/* Starts a POST (body != NULL) or GET.  The header list, url and body must
 * stay valid until the transfer completes.  Handles are reused without
 * curl_easy_reset: only the per-request options change.  0 or -1. */
int  pool_start(pool_t *p, const char *url, const struct curl_slist *headers,
                const char *body, size_t body_len, void *user);
/* Drives transfers and reports each finished one through done().  Never
 * blocks.  Returns the number finished. */
int  pool_perform(pool_t *p, pool_done_fn done, void *ctx);
/* Blocks until socket activity, extra_fd readable (if >= 0), or timeout. */
void pool_wait(pool_t *p, int timeout_ms, int extra_fd);
/* Aborts every transfer in flight, reporting each as CURLE_ABORTED_BY_CALLBACK. */
void pool_abort_all(pool_t *p, pool_done_fn done, void *ctx);

#endif
