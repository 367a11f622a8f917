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
 * pool_wait() is the program's one blocking point: curl_multi_poll, or
 * above POOL_POLL_MAX an epoll wait on the sockets libcurl asked for
 * (pool_events.c, libcurl's socket interface).
 */
#ifndef LLMB_POOL_H
#define LLMB_POOL_H
#include <stdint.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <curl/curl.h>
#include "buf.h"
#include "headers.h"

#define POOL_MAX_BODY ((size_t)64 << 20)
/* libcurl allocates one receive buffer per transfer, 16 KiB by default,
 * and holds it while the transfer waits for its reply: 64 MiB at
 * concurrency 4096, most of the run's memory.  Their total is kept near
 * POOL_RECV_BUFFERS_TOTAL: 16 KiB each up to concurrency 256,
 * then smaller, down to POOL_RECV_BUFFER_MIN (a reply larger than the
 * buffer only takes more reads). */
#define POOL_RECV_BUFFERS_TOTAL (4L << 20)
#define POOL_RECV_BUFFER_MIN    1024L       /* libcurl's CURL_MIN_BUFFERSIZE */

typedef struct pool_opts {
    long        timeout_ms;          /* whole request, 0 = none */
    long        connect_timeout_ms;
    const char *cacert;
    int         insecure;
    long        max_host_connections;
    int         plain_http;          /* every URL is http://: no CA paths per handle */
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
    int                https;
    int                lost;          /* out of its multi handle (kick failed) */
    int                kicked;        /* restarted by a kick (pool_events.c) */
    int                mi;            /* index of its multi handle while in flight */
    long               upload_buffer; /* its CURLOPT_UPLOAD_BUFFERSIZE, 0 = libcurl's */
    size_t             req_body_len;  /* the request body's size */
    int                early_reply;   /* whole reply before the whole body went out */
    int                short_body;    /* a reply piece could not be stored */
    struct xfer       *next_free;   /* free list */
    struct xfer       *prev, *next;  /* in-flight list */
} xfer_t;

typedef struct xfer_result {
    CURLcode    code;
    long        status;        /* 0 if no response */
    int         reached;       /* bytes and the whole body went out: it may be billed */
    int         timed_out;
    int         resend_blocked; /* curl wanted to resend on a new connection */
    int64_t     elapsed_ms;
    const headers_t *headers;
    const char *body;
    size_t      body_len;
    const char *error;         /* transport error text, or NULL */
} xfer_result_t;

typedef void (*pool_done_fn)(void *ctx, void *user, const xfer_result_t *r);

#define POOL_MAX_READY 1024      /* sockets taken from one epoll wait */
/* Up to POOL_POLL_MAX transfers, one multi handle driven by curl_multi_poll
 * + curl_multi_perform: it costs less per request than the socket interface
 * (no epoll_ctl per socket change: 42 against 48 us per request at
 * concurrency 64, tests/bench/throughput.sh), but each wake-up walks every
 * transfer.  Above it the pool waits with epoll on the sockets libcurl's
 * socket interface asks for (p->evented), and splits its transfers over
 * multi handles of at most POOL_PER_MULTI: libcurl 7.88 looks for a free
 * connection by walking every connection to the host in its multi handle,
 * for each new transfer, and at concurrency 4096 in one multi handle that
 * walk cost more CPU than the request and made the first burst quadratic.
 * Each multi handle also costs ~40 KB of its own (hash tables, a closure
 * handle): 512 rather than 256 per handle saves ~0.4 MB at 4096. */
#define POOL_POLL_MAX 256
/* A reply buffer is sized from Content-Length up to this much at once. */
#define POOL_BODY_PRESIZE_MAX ((curl_off_t)64 * 1024)
#define POOL_PER_MULTI 512
/* libcurl's upload buffer bounds (CURLOPT_UPLOAD_BUFFERSIZE) */
#define POOL_UPLOAD_BUFFER_MIN (16L * 1024)
#define POOL_UPLOAD_BUFFER_MAX (64L * 1024)
#define POOL_MAX_MULTIS 64

struct pool;
typedef struct pool_multi {
    CURLM       *m;
    struct pool *p;
    int          idx;
    int          inflight;
    long         cap;          /* its CURLMOPT_MAX_HOST_CONNECTIONS now */
    int          kick;         /* give its waiting transfers a fresh start */
    int          due;          /* over TLS: run curl_multi_perform this pass */
    int64_t      timer_ms;     /* libcurl's next deadline (mono ms), -1 = none */
} pool_multi_t;

/* HTTP/2 over TLS multiplexes up to POOL_H2_STREAMS requests (libcurl's
 * default CURLMOPT_MAX_CONCURRENT_STREAMS) on a connection.  libcurl 7.88
 * opens a new connection for every request that finds the existing ones
 * full while others are still in their TLS handshake: a burst of 4096
 * requests made ~4000 connections.  So once https is used, each multi
 * handle may open only enough connections for its share at that many
 * streams each (plus one), until a reply shows the server speaks HTTP/1.x
 * over TLS: then as many as its share (pool_events.c). */
#define POOL_H2_STREAMS 100

enum pool_tls { POOL_TLS_UNSEEN, POOL_TLS_H2_GUESS, POOL_TLS_H1 };

typedef struct pool {
    pool_multi_t *multis;      /* NULL before pool_init / after pool_release */
    int         nmulti;
    int         evented;       /* a large pool (above POOL_POLL_MAX, one or more
                                  multi handles): epoll + libcurl's socket
                                  interface, and reply buffers freed between
                                  uses; else curl_multi_poll */
    long        share;         /* transfers per multi handle at most (0 = no limit) */
    int         tls;           /* enum pool_tls */
    int         any_lost;      /* some transfer could not be added back */
    int64_t     last_check_ms;
    int         epfd;          /* the sockets libcurl watches (pool_events.c) */
    int         extra_fd;      /* pool_wait's extra fd, while in the epoll set */
    int         nready;        /* ready[] not yet handed to libcurl */
    struct epoll_event ready[POOL_MAX_READY];
    pool_opts_t opts;
    xfer_t     *free_list;
    xfer_t     *active;
    int         inflight;
    long        recv_buffer;   /* CURLOPT_BUFFERSIZE, 0 = libcurl's default */
} pool_t;

/* opts.max_host_connections is the run's concurrency: it also sizes the
 * receive buffers (pool_recv_buffer).  0 or -1. */
int  pool_init(pool_t *p, const pool_opts_t *o);
/* The CURLOPT_BUFFERSIZE used at `concurrency`, 0 for libcurl's default. */
long pool_recv_buffer(long concurrency);
void pool_release(pool_t *p);
/* Builds a request header list from a NULL-terminated array of "Name:
 * value" lines, plus User-Agent, Accept-Encoding and "Expect:".  Lists are
 * built once per key, not per request; pool_headers_free() wipes the bytes
 * (an auth header is a secret) and frees.  NULL on ENOMEM. */
struct curl_slist *pool_headers(const char *const *headers);
void pool_headers_free(struct curl_slist *l);
/* Starts a POST (body != NULL) or GET.  The header list, url and body must
 * stay valid until the transfer completes.  Handles are reused without
 * curl_easy_reset: only the per-request options change.  0 or -1. */
int  pool_start(pool_t *p, const char *url, const struct curl_slist *headers,
                const char *body, size_t body_len, void *user);
/* Hands the sockets the last wait found ready to libcurl, runs libcurl's
 * due timeouts, and reports each finished transfer through done().  Never
 * blocks.  Returns the number finished. */
int  pool_perform(pool_t *p, pool_done_fn done, void *ctx);
/* Blocks until socket activity, extra_fd readable (if >= 0), or timeout. */
void pool_wait(pool_t *p, int timeout_ms, int extra_fd);
/* Ends transfer x: reports it through done() and recycles its handle. */
void pool_finish(pool_t *p, xfer_t *x, CURLcode code, pool_done_fn done, void *ctx);
/* The multi handles, their socket/timer callbacks and the epoll set
 * (pool_events.c).  pool_events_init: 0 or -1 (then release what it made
 * with pool_events_release). */
int  pool_events_init(pool_t *p, int nmulti, int evented);
void pool_events_release(pool_t *p);
/* The multi handle with the fewest transfers in flight. */
pool_multi_t *pool_pick_multi(pool_t *p);
/* Connection caps: an https transfer starts (h2 guess), or one ended. */
void pool_saw_https(pool_t *p);
void pool_saw_reply(pool_t *p, xfer_t *x);
/* Aborts every transfer in flight, reporting each as CURLE_ABORTED_BY_CALLBACK. */
void pool_abort_all(pool_t *p, pool_done_fn done, void *ctx);

#endif
