/*
 * ctl: control calls of the batch APIs over their own curl multi handle
 * (see ctl.h).  Owns one easy handle, reused call after call (keep-alive).
 * Invariant: a call never blocks anywhere but curl_multi_poll / poll on the
 * signal pipe, so a signal ends it within a poll interval.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ctl.h"
#include "run_int.h"

#define BODY_MAX (16u << 20)

typedef struct io {
    ctl_resp_t *resp;
    FILE       *sink;
    FILE       *src;
    int         failed;
    long        retry_after_ms;
    int         sends;
} io_t;

int ctl_init(ctl_t *c, const char *cacert, int insecure, double connect_timeout_s,
             double timeout_s)
{
    memset(c, 0, sizeof(*c));
    c->cacert = cacert;
    c->insecure = insecure;
    c->connect_timeout_s = connect_timeout_s;
    c->timeout_s = timeout_s;
    c->first_backoff_ms = 500;
    if (!(c->m = curl_multi_init()) || !(c->e = curl_easy_init())) {
        ctl_release(c);
        return -1;
    }
    return 0;
}

void ctl_release(ctl_t *c)
{
    if (c->e)
        curl_easy_cleanup(c->e);
    if (c->m)
        curl_multi_cleanup(c->m);
    c->e = NULL;
    c->m = NULL;
}

static size_t on_write(char *p, size_t sz, size_t n, void *u)
{
    io_t *io = u;
    size_t len = sz * n;

    if (io->sink) {
        if (fwrite(p, 1, len, io->sink) != len) {
            io->failed = 1;
            return 0;
        }
        return len;
    }
    if (io->resp->body.len + len > BODY_MAX || buf_append(&io->resp->body, p, len) != 0) {
        io->failed = 1;
        return 0;
    }
    return len;
}

static size_t on_read(char *p, size_t sz, size_t n, void *u)
{
    io_t *io = u;
    size_t got = fread(p, 1, sz * n, io->src);

    if (got == 0 && ferror(io->src))
        return CURL_READFUNC_ABORT;
    return got;
}

static size_t on_header(char *p, size_t sz, size_t n, void *u)
{
    io_t *io = u;
    size_t len = sz * n;

    if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        char tmp[32], *end;
        size_t k = len - 12 < sizeof(tmp) - 1 ? len - 12 : sizeof(tmp) - 1;
        double s;
        memcpy(tmp, p + 12, k);
        tmp[k] = '\0';
        errno = 0;
        s = strtod(tmp, &end);
        if (errno == 0 && end != tmp && s >= 0 && s < 3600)
            io->retry_after_ms = (long)(s * 1000);
    }
    return len;
}

/* libcurl resends a request by itself when a reused connection dies before
 * any reply byte; the first send may have been performed (a batch created),
 * so a second send is refused here and the caller decides. */
static int on_prereq(void *u, char *a, char *b, int pa, int pb)
{
    io_t *io = u;
    (void)a; (void)b; (void)pa; (void)pb;
    return io->sends++ > 0 ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

int ctl_sleep(int ms)
{
    struct pollfd pfd = { .fd = signals_fd(), .events = POLLIN };

    if (ms <= 0)
        return 0;
    if (pfd.fd < 0) {
        usleep((useconds_t)ms * 1000);
        return 0;
    }
    if (poll(&pfd, 1, ms) > 0 && (pfd.revents & POLLIN))
        return 1;
    return 0;
}

/* One try.  Returns the CURLcode; *signalled when a signal cut it short. */
static CURLcode perform_once(ctl_t *c, const ctl_req_t *r, io_t *io, curl_mime **mime,
                             int *signalled)
{
    CURL *e = c->e;
    CURLMsg *msg;
    CURLcode res = CURLE_OK;
    int running = 1, left;

    *signalled = 0;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, io);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, io);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, io);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->connect_timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (c->cacert)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->cacert);
    if (c->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (r->upload_path) {
        curl_mimepart *part;
        if (!(*mime = curl_mime_init(e)))
            return CURLE_OUT_OF_MEMORY;
        part = curl_mime_addpart(*mime);
        curl_mime_name(part, "purpose");
        curl_mime_data(part, "batch", CURL_ZERO_TERMINATED);
        part = curl_mime_addpart(*mime);
        curl_mime_name(part, "file");
        if (curl_mime_filedata(part, r->upload_path) != CURLE_OK)
            return CURLE_READ_ERROR;
        curl_mime_type(part, "application/jsonl");
        curl_easy_setopt(e, CURLOPT_MIMEPOST, *mime);
    } else if (r->stream_path) {
        struct stat st;
        if (!(io->src = fopen(r->stream_path, "rb")) || fstat(fileno(io->src), &st) != 0)
            return CURLE_READ_ERROR;
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, io);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
    } else if (r->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    }
    if (strcmp(r->method, "GET") != 0 && !r->body && !r->upload_path && !r->stream_path) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (strcmp(r->method, "DELETE") == 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    if (curl_multi_add_handle(c->m, e) != CURLM_OK)
        return CURLE_FAILED_INIT;
    c->calls++;
    while (running) {
        struct curl_waitfd w = { .fd = signals_fd(), .events = CURL_WAIT_POLLIN };
        int nw = w.fd >= 0;
        if (curl_multi_perform(c->m, &running) != CURLM_OK) {
            res = CURLE_FAILED_INIT;
            break;
        }
        if (!running)
            break;
        w.revents = 0;
        if (curl_multi_poll(c->m, nw ? &w : NULL, nw ? 1u : 0u, 200, NULL) != CURLM_OK) {
            res = CURLE_FAILED_INIT;
            break;
        }
        if (nw && (w.revents & CURL_WAIT_POLLIN)) {
            *signalled = 1;
            break;
        }
    }
    while ((msg = curl_multi_info_read(c->m, &left)))
        if (msg->msg == CURLMSG_DONE)
            res = msg->data.result;
    curl_multi_remove_handle(c->m, e);
    return res;
}

int ctl_request(ctl_t *c, const ctl_req_t *r, ctl_resp_t *resp)
{
    long backoff_ms = c->first_backoff_ms > 0 ? c->first_backoff_ms : 500;
    int rc = CTL_FAIL;

    resp->status = 0;
    resp->err[0] = '\0';
    buf_reset(&resp->body);
    for (int attempt = 1; attempt <= CTL_MAX_TRIES; attempt++) {
        io_t io = { .resp = resp, .sink = r->sink, .retry_after_ms = -1 };
        curl_mime *mime = NULL;
        int signalled = 0;
        CURLcode res;
        long wait_ms;

        buf_reset(&resp->body);
        if (r->sink && (fflush(r->sink) != 0 || ftruncate(fileno(r->sink), 0) != 0 ||
                        fseek(r->sink, 0, SEEK_SET) != 0)) {
            snprintf(resp->err, sizeof(resp->err), "cannot write a download: %s",
                     strerror(errno));
            return CTL_FAIL;
        }
        res = perform_once(c, r, &io, &mime, &signalled);
        if (io.src)
            fclose(io.src);
        curl_easy_getinfo(c->e, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_mime_free(mime);
        if (signalled)
            return CTL_SIGNAL;
        if (io.failed) {
            snprintf(resp->err, sizeof(resp->err), "%s", r->sink ?
                     "cannot write a download to disk" : "response too large");
            return CTL_FAIL;
        }
        if (res == CURLE_OK && resp->status != 429 && resp->status < 500)
            return CTL_OK;
        if (res != CURLE_OK) {
            snprintf(resp->err, sizeof(resp->err), "%s", curl_easy_strerror(res));
            resp->status = 0;
            if (r->no_resend && (io.sends > 1 || (res != CURLE_COULDNT_CONNECT &&
                                                   res != CURLE_COULDNT_RESOLVE_HOST)))
                return CTL_LOST;
        } else {
            snprintf(resp->err, sizeof(resp->err), "HTTP %ld", resp->status);
        }
        rc = CTL_FAIL;
        if (attempt == CTL_MAX_TRIES)
            break;
        wait_ms = io.retry_after_ms >= 0 ? io.retry_after_ms : backoff_ms;
        if (wait_ms > 30000)
            wait_ms = 30000;
        if (ctl_sleep((int)wait_ms))
            return CTL_SIGNAL;
        if (backoff_ms < 30000)
            backoff_ms *= 2;
    }
    return rc;
}
