/*
 * signals: the one owner of SIGINT/SIGTERM.  The handler only counts the
 * signal and writes a byte to a non-blocking pipe whose read end the event
 * loop polls (invariant 5); the loop calls signals_take() each turn.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "run_int.h"

static volatile sig_atomic_t g_count, g_last;
static int g_pipe[2] = { -1, -1 };
static struct sigaction g_old_int, g_old_term;

static void on_signal(int sig)
{
    int saved = errno;
    g_last = sig;
    g_count++;
    if (g_pipe[1] >= 0) {
        char b = 1;
        ssize_t w = write(g_pipe[1], &b, 1);
        (void)w;
    }
    errno = saved;
}

int signals_install(void)
{
    struct sigaction sa;

    if (g_pipe[0] < 0 && pipe2(g_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        return -1;
    g_count = 0;
    g_last = 0;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &g_old_int);
    sigaction(SIGTERM, &sa, &g_old_term);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void signals_restore(void)
{
    if (g_pipe[0] < 0)
        return;
    sigaction(SIGINT, &g_old_int, NULL);
    sigaction(SIGTERM, &g_old_term, NULL);
    close(g_pipe[0]);
    close(g_pipe[1]);
    g_pipe[0] = g_pipe[1] = -1;
}

int signals_fd(void)
{
    return g_pipe[0];
}

int signals_take(int *last)
{
    char junk[64];

    if (g_pipe[0] >= 0)
        while (read(g_pipe[0], junk, sizeof(junk)) > 0)
            ;
    *last = g_last;
    return g_count;
}
