/*
 * ctl: the control calls of the batch APIs (upload, create, get, list,
 * cancel, download), one at a time over their own curl multi handle.
 *
 * A call blocks only in curl_multi_poll, which also watches the signal
 * pipe (signals_fd()), so Ctrl-C interrupts it at once.  429 (honouring
 * retry-after), 5xx and network errors are retried with exponential backoff
 * (first_backoff_ms, default 500, doubling up to 30 s; at most
 * CTL_MAX_TRIES tries), except that a
 * call marked `no_resend` returns CTL_LOST on a network error once the
 * request may have reached the server: the caller must find out whether it
 * was performed (creating a batch twice would submit its jobs twice).
 *
 * The response body goes to memory (resp->body) or, when `sink` is set, is
 * streamed to that file (downloads of result files: never held in memory).
 * Request bodies come from memory, a multipart upload of a file (OpenAI
 * Files: purpose=batch, file=@path), or a file streamed with a read
 * callback (Anthropic: the whole {"requests":[...]} document).
 */
#ifndef LLMB_CTL_H
#define LLMB_CTL_H
#include <stdio.h>
#include <curl/curl.h>
#include "buf.h"

#define CTL_MAX_TRIES 8

enum ctl_rc {
    CTL_OK = 0,       /* an HTTP answer that is not retried (any status) */
    CTL_LOST,         /* no_resend call: network error after sending */
    CTL_SIGNAL,       /* a signal arrived (SIGINT/SIGTERM): call abandoned */
    CTL_FAIL          /* retries used up, or a local error (resp->err) */
};

typedef struct ctl {
    CURLM *m;
    CURL  *e;
    const char *cacert;
    int    insecure;
    double connect_timeout_s, timeout_s;
    long   calls;                    /* HTTP requests sent (for the report) */
    long   first_backoff_ms;         /* first retry wait (500; less with a short --poll) */
} ctl_t;

typedef struct ctl_req {
    const char *method;              /* "GET", "POST", "DELETE" */
    const char *url;
    const struct curl_slist *headers;
    const char *body;                /* memory body, or NULL */
    size_t      body_len;
    const char *upload_path;         /* multipart file upload, or NULL */
    const char *stream_path;         /* whole body streamed from this file */
    FILE       *sink;                /* response body to this file, or NULL */
    int         no_resend;
} ctl_req_t;

typedef struct ctl_resp {
    long  status;
    buf_t body;                      /* when no sink (bounded to 16 MiB) */
    char  err[256];                  /* CTL_FAIL / CTL_LOST: why */
} ctl_resp_t;

int  ctl_init(ctl_t *c, const char *cacert, int insecure, double connect_timeout_s,
              double timeout_s);
void ctl_release(ctl_t *c);
/* Performs one call with its retries (see above).  resp is reset first;
 * the caller releases resp->body.  A sink is truncated before each try. */
int  ctl_request(ctl_t *c, const ctl_req_t *req, ctl_resp_t *resp);
/* Sleeps up to ms, waking early on a signal.  1 if a signal is pending. */
int  ctl_sleep(int ms);

#endif
