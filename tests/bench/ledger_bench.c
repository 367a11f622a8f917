/*
 * ledger_bench: Redis ledger calls per second against a running Redis.
 *
 *   ledger_bench URL SECONDS CLIENTS
 *
 * For each operation (lease with a settle, rate slots, key_get, heartbeat)
 * CLIENTS forked processes call it in a loop for SECONDS; prints the total
 * calls per second and the mean latency of one call.  Used by ledger.sh.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "clock.h"
#include "ledger_redis.h"

enum { OP_LEASE, OP_SLOTS, OP_KEYGET, OP_HEARTBEAT, OP_COUNT };
static const char *const op_name[OP_COUNT] = { "lease+settle", "rate_slots", "key_get", "heartbeat" };

static int run_op(rledger_t *l, int op, uint64_t i)
{
    rledger_lease_t ls;
    rledger_slots_t s;
    rledger_key_t k;

    switch (op) {
    case OP_LEASE:     return rledger_lease(l, 1000000 + (money_t)(i % 7), 0, 0, (money_t)(i % 3), 0, &ls);
    case OP_SLOTS:     return rledger_rate_slots(l, "rpm", 6e9, 1, 0, &s);
    case OP_KEYGET:    return rledger_key_get(l, "bench-key", &k);
    default:           return rledger_heartbeat(l);
    }
}

static void client(const char *url, int op, double secs, int fd)
{
    char err[512];
    rledger_terms_t t = { .have_budget = 1, .budget = MONEY_MAX / 4, .raise_budget = 1 };
    rledger_t *l = rledger_connect("bench", url, NULL, err, sizeof(err), NULL);
    uint64_t n = 0;
    int64_t end;

    if (!l || rledger_open(l, &t)) {
        fprintf(stderr, "ledger_bench: %s\n", l ? rledger_error(l) : err);
        _exit(1);
    }
    end = clock_mono_ns() + (int64_t)(secs * 1e9);
    while (clock_mono_ns() < end) {
        if (run_op(l, op, n)) {
            fprintf(stderr, "ledger_bench: %s\n", rledger_error(l));
            _exit(1);
        }
        n++;
    }
    rledger_release(l, 0, 0, 0);
    rledger_free(l);
    if (write(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        _exit(1);
    _exit(0);
}

int main(int argc, char **argv)
{
    double secs;
    int clients, op, i, fds[2], status, bad = 0;

    if (argc != 4 || (secs = strtod(argv[2], NULL)) <= 0 || secs > 600 ||
        (clients = (int)strtol(argv[3], NULL, 10)) < 1 || clients > 64) {
        fprintf(stderr, "usage: ledger_bench URL SECONDS CLIENTS\n");
        return 2;
    }
    for (op = 0; op < OP_COUNT; op++) {
        uint64_t total = 0, n;
        if (pipe(fds))
            return 1;
        for (i = 0; i < clients; i++)
            if (fork() == 0) {
                close(fds[0]);
                client(argv[1], op, secs, fds[1]);
            }
        close(fds[1]);
        while (read(fds[0], &n, sizeof(n)) == (ssize_t)sizeof(n))
            total += n;
        close(fds[0]);
        for (i = 0; i < clients; i++) {
            wait(&status);
            if (!WIFEXITED(status) || WEXITSTATUS(status))
                bad = 1;
        }
        printf("%-13s %d client%s: %8.0f calls/s, %6.1f us per call\n", op_name[op], clients,
               clients == 1 ? " " : "s", (double)total / secs,
               total ? secs * 1e6 * clients / (double)total : 0.0);
    }
    return bad;
}
