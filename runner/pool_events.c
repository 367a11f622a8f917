/*
 * pool_events: how the pool waits and drives libcurl (see pool.h).
 *
 * Up to POOL_POLL_MAX transfers: one multi handle, curl_multi_poll and
 * curl_multi_perform.  Above (p->evented), libcurl's socket interface:
 * libcurl tells us which sockets it wants to read or write (on_socket) and
 * when it next needs a timeout pass (on_timer); we keep the sockets in an
 * epoll set, wait on it, and hand each ready socket back with
 * curl_multi_socket_action().  A pass then costs in
 * proportion to the sockets that are ready, not to the transfers in flight:
 * curl_multi_poll + curl_multi_perform walk every easy handle and every
 * socket on each wake-up, which at concurrency 4096 costs more CPU per
 * request than the request itself (tests/bench/latency.sh).
 */
#define _GNU_SOURCE
#define CURL_DISABLE_DEPRECATION     /* curl_multi_socket_all (see below) */
#include <errno.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <unistd.h>
#include "pool.h"
#include "clock.h"

/* epoll data: the socket in the low 32 bits, its multi handle's index
 * above; the extra fd carries EXTRA_TAG instead (sockets are >= 0). */
#define EXTRA_TAG ((uint64_t)1 << 63)
#define EV_DATA(mi, s) (((uint64_t)(unsigned)(mi) << 32) | (uint32_t)(s))

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    pool_multi_t *pm = userp;
    pool_t *p = pm->p;
    struct epoll_event ev = {0};
    (void)e;

    if (what == CURL_POLL_REMOVE) {
        /* the socket may already be closed: then it left the set by itself */
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(pm->m, s, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    ev.data.u64 = EV_DATA(pm->idx, s);
    /* socketp tells whether the socket is in the set already; a closed
     * socket's number can come back for a new one, so each call falls back
     * to the other operation when the kernel disagrees. */
    if (socketp) {
        if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
            epoll_ctl(p->epfd, EPOLL_CTL_ADD, s, &ev);
    } else {
        if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
            epoll_ctl(p->epfd, EPOLL_CTL_MOD, s, &ev);
        curl_multi_assign(pm->m, s, pm);
    }
    return 0;
}

/* libcurl's "next pass in timeout_ms" (-1: none) as a monotonic deadline.
 * +1: libcurl keeps its deadlines in microseconds, so this wakes up less
 * often before them; a wake-up that still comes early is harmless
 * (socket_action re-arms on_timer, and after socket_all the deadline is
 * read back: drive_evented). */
static int64_t deadline_ms(long timeout_ms)
{
    return timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms + (timeout_ms > 0);
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    pool_multi_t *pm = userp;
    (void)m;

    pm->timer_ms = deadline_ms(timeout_ms);
    return 0;
}

int pool_events_init(pool_t *p, int nmulti, int evented)
{
    p->nready = 0;
    p->evented = evented;
    if (!(p->multis = calloc((size_t)nmulti, sizeof(*p->multis))))
        return -1;
    if (evented && (p->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return -1;
    for (int i = 0; i < nmulti; i++) {
        pool_multi_t *pm = &p->multis[i];

        pm->p = p;
        pm->idx = i;
        pm->timer_ms = -1;
        if (!(pm->m = curl_multi_init()))
            return -1;
        p->nmulti = i + 1;
        if (!evented)
            continue;
        curl_multi_setopt(pm->m, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(pm->m, CURLMOPT_SOCKETDATA, pm);
        curl_multi_setopt(pm->m, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(pm->m, CURLMOPT_TIMERDATA, pm);
    }
    return 0;
}

void pool_events_release(pool_t *p)
{
    if (!p->multis)
        return;                          /* never made */
    for (int i = 0; i < p->nmulti; i++)
        curl_multi_cleanup(p->multis[i].m);   /* may still call on_socket */
    free(p->multis);
    p->multis = NULL;
    p->nmulti = 0;
    if (p->epfd >= 0)
        close(p->epfd);
    p->epfd = -1;
    p->nready = 0;
}

pool_multi_t *pool_pick_multi(pool_t *p)
{
    pool_multi_t *best = &p->multis[0];

    for (int i = 1; i < p->nmulti; i++)
        if (p->multis[i].inflight < best->inflight)
            best = &p->multis[i];
    return best;
}

/* ---- connection caps over TLS (see POOL_H2_STREAMS) ---------------------- */

#define UNSENT_MS 2000          /* a transfer still waiting for a connection */
#define CHECK_MS  1000

static void set_cap(pool_multi_t *pm, long cap)
{
    if (pm->p->share > 0 && cap > pm->p->share)
        cap = pm->p->share;
    if (cap == pm->cap)
        return;
    pm->cap = cap;
    curl_multi_setopt(pm->m, CURLMOPT_MAX_HOST_CONNECTIONS, cap);
}

void pool_saw_https(pool_t *p)
{
    p->tls = POOL_TLS_H2_GUESS;
    if (p->share <= 0)
        return;
    for (int i = 0; i < p->nmulti; i++)
        set_cap(&p->multis[i], (p->share + POOL_H2_STREAMS - 1) / POOL_H2_STREAMS + 1);
}

void pool_saw_reply(pool_t *p, xfer_t *x)
{
    long v = 0;

    if (p->tls != POOL_TLS_H2_GUESS)
        return;
    curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &v);
    if (v == CURL_HTTP_VERSION_1_0 || v == CURL_HTTP_VERSION_1_1) {
        p->tls = POOL_TLS_H1;    /* one connection per request from now on */
        for (int i = 0; i < p->nmulti; i++) {
            set_cap(&p->multis[i], p->share);
            p->multis[i].kick = 1;
        }
    }
}

/* A transfer that libcurl holds back for a connection (the cap) is given a
 * fresh start once the cap is raised: libcurl 7.88 lets its waiting
 * transfers go one per finished transfer.  It has sent nothing yet, so
 * nothing can have been processed or billed. */
static int waiting_for_connection(const xfer_t *x)
{
    curl_off_t connect_us = 0;

    /* nothing sent, and no TCP connection of its own (one in its TLS
     * handshake is left alone) */
    return x->sends == 0 &&
           curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connect_us) == CURLE_OK &&
           connect_us == 0;
}

static void kick(pool_t *p, int64_t now_ms)
{
    for (xfer_t *x = p->active; x; x = x->next) {
        pool_multi_t *pm = &p->multis[x->mi];
        if (!pm->kick || !x->https ||
            (p->tls != POOL_TLS_H1 && now_ms - x->started_ms < UNSENT_MS) ||
            !waiting_for_connection(x))
            continue;
        curl_multi_remove_handle(pm->m, x->easy);
        /* a fresh start restarts libcurl's clock: --timeout still counts
         * from the request's first start */
        if (p->opts.timeout_ms > 0) {
            long left = p->opts.timeout_ms - (long)(now_ms - x->started_ms);
            curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, left > 1 ? left : 1L);
        }
        x->kicked = 1;
        if (curl_multi_add_handle(pm->m, x->easy) != CURLM_OK)
            x->lost = p->any_lost = 1;   /* reported as failed by pool_perform */
    }
    for (int i = 0; i < p->nmulti; i++)
        p->multis[i].kick = 0;
}

/* Under the HTTP/2 guess, a multi handle with transfers that waited for a
 * connection longer than UNSENT_MS (a server allowing fewer streams per
 * connection) doubles its cap, up to its share. */
static void check_caps(pool_t *p, int64_t now_ms)
{
    if (p->tls != POOL_TLS_H2_GUESS || now_ms - p->last_check_ms < CHECK_MS)
        return;
    p->last_check_ms = now_ms;
    for (xfer_t *x = p->active; x; x = x->next) {
        pool_multi_t *pm = &p->multis[x->mi];
        if (!pm->kick && x->https && now_ms - x->started_ms >= UNSENT_MS &&
            pm->cap < p->share && waiting_for_connection(x)) {
            set_cap(pm, pm->cap * 2);
            pm->kick = 1;
        }
    }
}

/* Hands the ready sockets and due deadlines to libcurl (evented pools). */
static void drive_evented(pool_t *p, int64_t *now)
{
    int running, nready = p->nready;
    int64_t now_ms;

    /* Sockets the last wait found ready.  A socket that libcurl closed
     * during this pass is unknown to it by then and ignored. */
    p->nready = 0;
    for (int i = 0; i < nready; i++) {
        const struct epoll_event *ev = &p->ready[i];
        int mask = 0, mi = (int)(ev->data.u64 >> 32);

        if ((ev->data.u64 & EXTRA_TAG) || mi >= p->nmulti)
            continue;
        if (p->tls != POOL_TLS_UNSEEN) {
            p->multis[mi].due = 1;       /* a whole pass, below */
            continue;
        }
        if (ev->events & EPOLLIN)
            mask |= CURL_CSELECT_IN;
        if (ev->events & EPOLLOUT)
            mask |= CURL_CSELECT_OUT;
        if (ev->events & (EPOLLERR | EPOLLHUP))
            mask |= CURL_CSELECT_ERR;
        curl_multi_socket_action(p->multis[mi].m, (curl_socket_t)(uint32_t)ev->data.u64,
                                 mask, &running);
    }
    /* libcurl's own deadlines: new transfers (a zero timeout), connect and
     * request timeouts, and transfers that another one's read woke up */
    now_ms = clock_mono_ms();
    for (int i = 0; i < p->nmulti; i++) {
        pool_multi_t *pm = &p->multis[i];
        if (pm->timer_ms >= 0 && now_ms >= pm->timer_ms) {
            pm->timer_ms = -1;
            if (p->tls != POOL_TLS_UNSEEN)
                pm->due = 1;
            else
                curl_multi_socket_action(pm->m, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        /* Over TLS a multi handle with anything due runs a whole pass
         * over its transfers (curl_multi_socket_all: curl_multi_perform,
         * then every transfer's sockets to on_socket).  Driven by
         * socket_action, libcurl 7.88 sends an HTTP/2 request body only on
         * a later wake-up, so a server that answers before reading the
         * body (nginx's `return`, an early 429) ends the stream first and
         * the transfer fails with "Stream error in the HTTP/2 framing
         * layer" instead of the server's status.  A pass costs at most
         * POOL_PER_MULTI transfers. */
        if (pm->due) {
            long t = -1;

            pm->due = 0;
            curl_multi_socket_all(pm->m, &running);
            /* libcurl 7.88 calls on_timer after socket_all only when its
             * earliest deadline changed: a pass that ran before that
             * deadline would leave none here, and a silent server would
             * then never time out.  So the deadline is asked for. */
            curl_multi_timeout(pm->m, &t);
            pm->timer_ms = deadline_ms(t);
        }
    }
    *now = now_ms;
}

int pool_perform(pool_t *p, pool_done_fn done, void *ctx)
{
    int running, left, n = 0;
    int64_t now_ms;
    CURLMsg *m;

    if (p->evented) {
        drive_evented(p, &now_ms);
    } else {
        curl_multi_perform(p->multis[0].m, &running);
        now_ms = clock_mono_ms();
    }
    for (int i = 0; i < p->nmulti; i++) {
        while ((m = curl_multi_info_read(p->multis[i].m, &left))) {
            xfer_t *x = NULL;
            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            pool_finish(p, x, m->data.result, done, ctx);
            n++;
        }
    }
    if (p->tls == POOL_TLS_H2_GUESS)
        check_caps(p, now_ms);
    for (int i = 0; i < p->nmulti; i++) {
        if (p->multis[i].kick) {
            kick(p, now_ms);
            break;
        }
    }
    /* a transfer that could not be added back ends as a failure */
    for (xfer_t *x = p->any_lost ? p->active : NULL, *next; x; x = next) {
        next = x->next;
        if (x->lost) {
            pool_finish(p, x, CURLE_OUT_OF_MEMORY, done, ctx);
            n++;
        }
    }
    p->any_lost = 0;
    return n;
}

void pool_wait(pool_t *p, int timeout_ms, int extra_fd)
{
    int64_t now_ms = clock_mono_ms();
    int n;

    if (timeout_ms < 0)
        timeout_ms = 0;
    if (!p->evented) {
        struct curl_waitfd wfd = { extra_fd, CURL_WAIT_POLLIN, 0 };
        curl_multi_poll(p->multis[0].m, extra_fd >= 0 ? &wfd : NULL, extra_fd >= 0 ? 1 : 0,
                        timeout_ms, NULL);
        return;
    }
    if (extra_fd != p->extra_fd) {
        struct epoll_event ev = { EPOLLIN, { .u64 = EXTRA_TAG } };
        if (p->extra_fd >= 0)
            epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->extra_fd, NULL);
        p->extra_fd = -1;
        if (extra_fd >= 0 && epoll_ctl(p->epfd, EPOLL_CTL_ADD, extra_fd, &ev) == 0)
            p->extra_fd = extra_fd;
    }
    if (p->nready > 0)
        return;                          /* not driven yet */
    for (int i = 0; i < p->nmulti; i++) {
        int64_t t = p->multis[i].timer_ms;
        if (t >= 0 && t - now_ms < timeout_ms)
            timeout_ms = t <= now_ms ? 0 : (int)(t - now_ms);
    }
    n = epoll_wait(p->epfd, p->ready, POOL_MAX_READY, timeout_ms);
    p->nready = n > 0 ? n : 0;
}
