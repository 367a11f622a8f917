/*
 * pool: libcurl multi connection pool (see pool.h).  Owns the multi handle,
 * every easy handle and the per-transfer buffers.
 */
#include <string.h>
#include <stdlib.h>
#include "pool.h"
#include "clock.h"

/* 1 when the whole final reply is in (a status of 200 or more and as many
 * body bytes as its Content-Length) while the request body is not all sent:
 * the server answered early (an early 429 or 413 from a gateway), which
 * HTTP allows (RFC 9113 8.1, RFC 9112 9.3).  libcurl 7.88 then fails the
 * transfer over HTTP/2 ("Stream error in the HTTP/2 framing layer", once
 * the server ends the stream) or, when the connection's send window is
 * used up, waits for a window that never comes until its timeout.  The
 * reply is complete, so the transfer ends with it. */
static int early_reply(xfer_t *x)
{
    curl_off_t cl = -1, dl = -1, ul = 0;
    long status = 0;

    if (!x->req_body_len || x->sends != 1 || x->too_big || x->hdr_too_big || x->short_body)
        return 0;
    /* the body all sent: the common case, settled by the first question */
    curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &ul);
    if (ul >= (curl_off_t)x->req_body_len)
        return 0;
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    curl_easy_getinfo(x->easy, CURLINFO_SIZE_DOWNLOAD_T, &dl);
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    return cl >= 0 && dl == cl && status >= 200;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    xfer_t *x = ud;
    size_t n = size * nmemb;

    if (x->body.len + n > POOL_MAX_BODY) {
        x->too_big = 1;
        return 0;                 /* makes curl fail with CURLE_WRITE_ERROR */
    }
    /* the first piece: room for the whole reply at once when its length is
     * known and modest (more is added as needed: a compressed reply grows;
     * a server's word for a large length buys it no memory up front) */
    if (!x->body.cap) {
        curl_off_t cl = -1;
        curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        if (cl > (curl_off_t)n && cl <= POOL_BODY_PRESIZE_MAX &&
            buf_reserve(&x->body, (size_t)cl))
            return 0;
    }
    if (buf_append(&x->body, ptr, n)) {
        x->short_body = 1;
        return 0;
    }
    /* An early reply: end the transfer now (pool_finish keeps the reply).
     * Not for a compressed one: libcurl counts the compressed bytes before
     * it hands over the decoded ones, in several pieces, so the count is
     * complete before the last piece is here.  pool_finish still takes it
     * once libcurl has ended the transfer. */
    if (early_reply(x) && !headers_get(&x->headers, "content-encoding")) {
        x->early_reply = 1;
        return 0;
    }
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    xfer_t *x = ud;
    size_t n = size * nmemb;

    /* a new status line starts a new header block (1xx, redirects) */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
        headers_clear(&x->headers);
    else {
        int rc = headers_add_line(&x->headers, ptr, n);
        if (rc != 0) {
            x->hdr_too_big = rc == HEADERS_TOO_LARGE;
            return 0;                 /* fails the transfer */
        }
        /* the end of the headers of an early reply with an empty body */
        if ((ptr[0] == '\r' || ptr[0] == '\n') && early_reply(x)) {
            x->early_reply = 1;
            return 0;
        }
    }
    return n;
}

/* Called by curl right before each send of the request.  libcurl resends a
 * request by itself when a reused connection dies before any reply byte;
 * the first send may have been processed (and billed), and the budget holds
 * one reservation per attempt, so a second send is refused here and the
 * scheduler retries it as a new, separately reserved attempt. */
static int on_prereq(void *ud, char *conn_primary_ip, char *conn_local_ip,
                     int conn_primary_port, int conn_local_port)
{
    xfer_t *x = ud;
    (void)conn_primary_ip; (void)conn_local_ip;
    (void)conn_primary_port; (void)conn_local_port;
    if (x->sends++ > 0)
        return CURL_PREREQFUNC_ABORT;
    return CURL_PREREQFUNC_OK;
}

long pool_recv_buffer(long concurrency)
{
    long b = POOL_RECV_BUFFERS_TOTAL / (concurrency > 0 ? concurrency : 1);

    if (b >= CURL_MAX_WRITE_SIZE)
        return 0;                 /* libcurl's default, 16 KiB */
    return b < POOL_RECV_BUFFER_MIN ? POOL_RECV_BUFFER_MIN : b;
}

int pool_init(pool_t *p, const pool_opts_t *o)
{
    int nmulti;
    long per;

    memset(p, 0, sizeof(*p));
    p->opts = *o;
    p->epfd = -1;
    p->extra_fd = -1;
    nmulti = o->max_host_connections > 0
             ? (int)((o->max_host_connections + POOL_PER_MULTI - 1) / POOL_PER_MULTI) : 1;
    if (nmulti > POOL_MAX_MULTIS)
        nmulti = POOL_MAX_MULTIS;
    if (pool_events_init(p, nmulti, o->max_host_connections > POOL_POLL_MAX) != 0) {
        pool_events_release(p);
        return -1;
    }
    p->recv_buffer = pool_recv_buffer(o->max_host_connections);
    /* pool_pick_multi keeps each multi handle's share within this */
    per = o->max_host_connections > 0 ? (o->max_host_connections + nmulti - 1) / nmulti : 0;
    p->share = per;
    for (int i = 0; i < nmulti; i++) {
        CURLM *m = p->multis[i].m;
        curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
        p->multis[i].cap = per;
        if (per > 0) {
            curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, per);
            curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, per);
        }
    }
    return 0;
}

static void xfer_free(xfer_t *x)
{
    if (x->easy)
        curl_easy_cleanup(x->easy);
    buf_release(&x->body);
    headers_release(&x->headers);
    free(x);
}

void pool_release(pool_t *p)
{
    xfer_t *x;

    /* transfers still in flight (a caller that gave up on them) */
    while ((x = p->active)) {
        p->active = x->next;
        if (p->multis && !x->lost)
            curl_multi_remove_handle(p->multis[x->mi].m, x->easy);
        xfer_free(x);
    }
    p->inflight = 0;
    while ((x = p->free_list)) {
        p->free_list = x->next_free;
        xfer_free(x);
    }
    pool_events_release(p);
}

static void wipe_headers(struct curl_slist *l)
{
    for (struct curl_slist *i = l; i; i = i->next)
        memset(i->data, 0, strlen(i->data));
    curl_slist_free_all(l);
}

static void xfer_setup(pool_t *p, xfer_t *x);

static xfer_t *xfer_get(pool_t *p)
{
    xfer_t *x = p->free_list;

    if (x) {
        p->free_list = x->next_free;
        return x;
    }
    x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    buf_init(&x->body);
    headers_init(&x->headers);
    x->easy = curl_easy_init();
    if (!x->easy) {
        free(x);
        return NULL;
    }
    xfer_setup(p, x);
    return x;
}

static void xfer_put(pool_t *p, xfer_t *x)
{
    /* in a large pool the thousands of transfers that wait hold no reply
     * buffers; elsewhere they are kept for the next reply, unless huge */
    buf_reset(&x->body);
    if (x->body.cap > (1u << 20) || p->evented)
        buf_release(&x->body);
    if (p->evented)
        headers_release(&x->headers);
    else
        headers_clear(&x->headers);
    x->user = NULL;
    x->too_big = 0;
    x->hdr_too_big = 0;
    x->sends = 0;
    x->lost = 0;
    x->kicked = 0;
    x->early_reply = 0;
    x->short_body = 0;
    x->next_free = p->free_list;
    p->free_list = x;
}

/* The options that are the same for every transfer, set once per handle. */
static void xfer_setup(pool_t *p, xfer_t *x)
{
    CURL *e = x->easy;

    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* decode what the server compressed; the header is in the list */
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (p->recv_buffer > 0)
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, p->recv_buffer);
    if (p->opts.connect_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, p->opts.connect_timeout_ms);
    if (p->opts.cacert)
        curl_easy_setopt(e, CURLOPT_CAINFO, p->opts.cacert);
    /* libcurl copies its default CA file and directory names into every
     * handle (~100 bytes each, 0.4 MB at 4096); a pool that never speaks
     * TLS (a local server over http://) drops them */
    if (p->opts.plain_http) {
        curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    if (p->opts.insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

/* The User-Agent and Accept-Encoding lines, made once.  They ride in each
 * key's header list instead of CURLOPT_USERAGENT and the header
 * CURLOPT_ACCEPT_ENCODING makes: libcurl 7.88 builds those two lines anew
 * for every request and keeps them until the handle's next one (~130 bytes
 * per request in flight, 0.5 MB at 4096).  CURLOPT_ACCEPT_ENCODING "" stays
 * on each handle, since it is what makes libcurl decode a compressed reply;
 * libcurl leaves out its own header when the list has one.  The encodings
 * are the ones this libcurl decodes, in its order. */
static void fixed_headers(const char **ua, const char **ae)
{
    static char ua_line[96], ae_line[64];

    if (!ua_line[0]) {
        const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
        size_t n;

        snprintf(ua_line, sizeof(ua_line), "User-Agent: llmbatch/0.1 libcurl/%s", v->version);
        n = (size_t)snprintf(ae_line, sizeof(ae_line), "Accept-Encoding:");
        if (v->features & CURL_VERSION_LIBZ)
            n += (size_t)snprintf(ae_line + n, sizeof(ae_line) - n, " deflate, gzip,");
        if (v->features & CURL_VERSION_BROTLI)
            n += (size_t)snprintf(ae_line + n, sizeof(ae_line) - n, " br,");
        if (v->features & CURL_VERSION_ZSTD)
            n += (size_t)snprintf(ae_line + n, sizeof(ae_line) - n, " zstd,");
        if (ae_line[n - 1] == ',')
            ae_line[n - 1] = '\0';
        else
            ae_line[0] = '\0';    /* nothing to decode: libcurl asks for identity */
    }
    *ua = ua_line;
    *ae = ae_line;
}

struct curl_slist *pool_headers(const char *const *headers)
{
    struct curl_slist *l = NULL;
    const char *fixed[3];

    fixed_headers(&fixed[0], &fixed[1]);
    /* "Expect:": curl would otherwise wait for 100-continue on large bodies */
    fixed[2] = "Expect:";
    for (const char *const *h = headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(l, *h);
        if (!n)
            goto fail;
        l = n;
    }
    for (size_t i = 0; i < 3; i++) {
        struct curl_slist *n;
        if (!fixed[i][0])
            continue;
        if (!(n = curl_slist_append(l, fixed[i])))
            goto fail;
        l = n;
    }
    return l;
fail:
    pool_headers_free(l);
    return NULL;
}

void pool_headers_free(struct curl_slist *l)
{
    wipe_headers(l);
}

/* The upload buffer for a body: the body's size in whole pages, from
 * libcurl's minimum (16 KiB) to its default (64 KiB).  libcurl 7.88 sends an
 * HTTP/2 body (and an HTTP/1.1 one over 64 KiB) through this buffer, one
 * buffer-full per pass, and keeps it until the transfer ends: a small body
 * holds 16 KiB instead of 64.  A body up to 64 KiB still goes in one piece:
 * in several, one that the server answers before reading it all (an early
 * 429, nginx's `return`) ended the stream with "Stream error in the HTTP/2
 * framing layer" instead of the reply.  Larger bodies gain nothing from a
 * larger buffer (HTTP/2's 64 KiB stream window holds them back anyway) and
 * would hold it per request in flight. */
static long upload_buffer(size_t body_len)
{
    size_t b = (body_len + 4095) & ~(size_t)4095;

    if (b < (size_t)POOL_UPLOAD_BUFFER_MIN)
        return POOL_UPLOAD_BUFFER_MIN;
    return b > (size_t)POOL_UPLOAD_BUFFER_MAX ? POOL_UPLOAD_BUFFER_MAX : (long)b;
}

int pool_start(pool_t *p, const char *url, const struct curl_slist *headers,
               const char *body, size_t body_len, void *user)
{
    xfer_t *x = xfer_get(p);
    pool_multi_t *pm;
    CURL *e;

    if (!x)
        return -1;
    e = x->easy;
    x->user = user;
    x->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url);
    /* Wait for a connection that may multiplex only where HTTP/2 is possible
     * (TLS with ALPN).  Over plain http:// the server's HTTP version is only
     * known from its first reply, so waiting would keep one request in
     * flight until then. */
    x->https = strncmp(url, "https://", 8) == 0;
    if (x->https && p->opts.plain_http) {    /* a caller's slip: no CA set up */
        xfer_put(p, x);
        return -1;
    }
    if (x->https && p->tls == POOL_TLS_UNSEEN)
        pool_saw_https(p);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, (long)x->https);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    if (p->opts.timeout_ms > 0)      /* per start: a kick may have shortened it */
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, p->opts.timeout_ms);
    x->req_body_len = body ? body_len : 0;
    if (body) {
        long ub = upload_buffer(body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (ub != x->upload_buffer)        /* libcurl frees it on every set */
            curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, ub);
        x->upload_buffer = ub;
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    x->started_ms = clock_mono_ms();
    pm = pool_pick_multi(p);
    if (curl_multi_add_handle(pm->m, e) != CURLM_OK)
        goto fail;
    x->mi = pm->idx;
    pm->inflight++;
    x->prev = NULL;
    x->next = p->active;
    if (p->active)
        p->active->prev = x;
    p->active = x;
    p->inflight++;
    return 0;
fail:
    xfer_put(p, x);
    return -1;
}

void pool_finish(pool_t *p, xfer_t *x, CURLcode code, pool_done_fn done, void *ctx)
{
    xfer_result_t r = {0};
    curl_off_t req_size = 0;
    long status = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &req_size);
    /* the whole reply came before the whole request body went out: that
     * reply is the answer, however libcurl ended the transfer (it also
     * covers an abort at shutdown that caught such a reply) */
    if (code != CURLE_OK && (x->early_reply || early_reply(x)))
        code = CURLE_OK;
    r.code = code;
    r.status = code == CURLE_OK ? status : 0;
    r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
    r.resend_blocked = x->sends > 1;
    if (r.resend_blocked)
        r.code = code = CURLE_RECV_ERROR;
    /* Once request bytes went out, the server may have processed (and
     * billed) the request, whatever happened after. */
    r.reached = status > 0 || req_size > 0 || x->sends > 0;
    /* ... but a request whose body left only in part cannot have been
     * processed: the server never had the whole prompt.  (libcurl counts a
     * body byte as sent once the socket, or the HTTP/2 layer, took it.)
     * Only a count above 0 from a single send says so: when a reused
     * connection dies, libcurl zeroes the count before it even connects for
     * its resend (which on_prereq then stops), so 0 may follow a whole
     * first send. */
    if (r.reached && x->req_body_len && x->sends == 1) {
        curl_off_t ul = 0;
        curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &ul);
        if (ul > 0 && ul < (curl_off_t)x->req_body_len)
            r.reached = 0;
    }
    r.elapsed_ms = clock_mono_ms() - x->started_ms;
    if (r.timed_out && x->kicked)    /* libcurl's text counts from the restart */
        snprintf(x->errbuf, sizeof(x->errbuf), "Operation timed out after %lld milliseconds "
                 "(waiting for a connection)", (long long)r.elapsed_ms);
    r.headers = &x->headers;
    r.body = x->body.data ? x->body.data : "";
    r.body_len = x->body.len;
    if (code != CURLE_OK)
        r.error = x->too_big ? "response body over 64 MiB"
                 : x->hdr_too_big || headers_too_large_reason(x->errbuf) ? HEADERS_TOO_LARGE_MSG
                 : r.resend_blocked ? "connection closed before any reply (the request may have been processed)"
                 : x->errbuf[0] ? x->errbuf : curl_easy_strerror(code);
    if (code == CURLE_OK && x->https)
        pool_saw_reply(p, x);
    curl_multi_remove_handle(p->multis[x->mi].m, x->easy);
    p->multis[x->mi].inflight--;
    if (x->prev)
        x->prev->next = x->next;
    else
        p->active = x->next;
    if (x->next)
        x->next->prev = x->prev;
    p->inflight--;
    done(ctx, x->user, &r);
    xfer_put(p, x);
}

void pool_abort_all(pool_t *p, pool_done_fn done, void *ctx)
{
    while (p->active)
        pool_finish(p, p->active, CURLE_ABORTED_BY_CALLBACK, done, ctx);
}
