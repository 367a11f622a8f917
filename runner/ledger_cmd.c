/*
 * ledger_cmd: `llmbatch ledger show NAME --redis URL`.  Reads the ledger's
 * state with one read-only script (rledger_show) and prints it; registers
 * nothing, changes nothing.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "ledger_cmd.h"
#include "ledger_redis.h"
#include "run.h"

static void usd(json_t *o, const char *k, char *buf, size_t n)
{
    const char *pp = json_string_value(json_object_get(o, k));
    char *end;
    long long v = pp ? strtoll(pp, &end, 10) : 0;

    money_format_min(v, 2, buf, n);
}

int ledger_show_write(const char *name, const char *url, FILE *out, FILE *err)
{
    char msg[600], a[40], b[40], c[40], d[40];
    rledger_errkind_t kind;
    rledger_t *l;
    json_t *j, *p;
    size_t i;
    int rc = RUN_EXIT_USAGE;

    if (!url || !*url)
        url = getenv("LLMBATCH_REDIS_URL");
    if (!url || !*url) {
        fprintf(err, "llmbatch: ledger show needs --redis URL (or LLMBATCH_REDIS_URL)\n");
        return RUN_EXIT_USAGE;
    }
    l = rledger_connect(name, url, NULL, msg, sizeof(msg), &kind);
    if (!l) {
        fprintf(err, "llmbatch: %s\n", msg);
        return kind == RLEDGER_E_REDIS ? RUN_EXIT_IO : RUN_EXIT_USAGE;
    }
    j = rledger_show(l);
    if (!j) {
        fprintf(err, "llmbatch: %s\n", rledger_error(l));
        rc = rledger_errkind(l) == RLEDGER_E_REDIS ? RUN_EXIT_IO : RUN_EXIT_USAGE;
        goto out;
    }
    if (json_dumpf(j, out, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) || fputc('\n', out) == EOF) {
        fprintf(err, "llmbatch: cannot write the ledger state\n");
        rc = RUN_EXIT_IO;
        goto out;
    }
    fflush(out);
    if (!json_is_true(json_object_get(j, "exists"))) {
        fprintf(err, "ledger '%s': no such ledger at %s\n", name,
                json_string_value(json_object_get(j, "redis")));
        goto out;
    }
    usd(j, "spent_pp", a, sizeof(a));
    usd(j, "possibly_billed_pp", b, sizeof(b));
    usd(j, "leases_pp", c, sizeof(c));
    if (json_is_null(json_object_get(j, "budget")))
        snprintf(d, sizeof(d), "none");
    else {
        d[0] = '$';
        usd(j, "budget_pp", d + 1, sizeof(d) - 1);
    }
    fprintf(err, "ledger '%s': budget %s, spent $%s (of which possibly billed $%s), "
            "leased $%s to %zu process%s\n", name, d, a, b, c,
            json_array_size(json_object_get(j, "processes")),
            json_array_size(json_object_get(j, "processes")) == 1 ? "" : "es");
    json_array_foreach(json_object_get(j, "processes"), i, p) {
        usd(p, "lease_pp", a, sizeof(a));
        fprintf(err, "  %s  heartbeat %.1f s ago%s  lease $%s\n",
                json_string_value(json_object_get(p, "id")),
                json_number_value(json_object_get(p, "heartbeat_age_ms")) / 1000.0,
                json_is_true(json_object_get(p, "stale")) ? " (dead: reaped by the next call)" : "",
                a);
    }
    json_array_foreach(json_object_get(j, "keys"), i, p) {
        static const char *const st[] = { "ok", "ok", "exhausted", "invalid" };
        json_int_t s = json_integer_value(json_object_get(p, "state"));
        fprintf(err, "  key %s: %s, factor %.2f, cooling %.1f s\n",
                json_string_value(json_object_get(p, "name")),
                s >= 0 && s <= 3 ? st[s] : "?",
                json_number_value(json_object_get(p, "factor")),
                json_number_value(json_object_get(p, "cooling_ms")) / 1000.0);
    }
    rc = 0;
out:
    json_decref(j);
    rledger_free(l);
    return rc;
}

int ledger_show_cmd(const char *name, const char *url)
{
    return ledger_show_write(name, url, stdout, stderr);
}

int ledger_cmd(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);       /* a dropped Redis connection is an error, not a signal */
    if (argc == 4 && !strcmp(argv[2], "show"))
        return ledger_show_cmd(argv[3], NULL);
    if (argc == 6 && !strcmp(argv[2], "show") && !strcmp(argv[4], "--redis"))
        return ledger_show_cmd(argv[3], argv[5]);
    if (argc == 6 && !strcmp(argv[2], "show") && !strcmp(argv[3], "--redis"))
        return ledger_show_cmd(argv[5], argv[4]);
    fprintf(stderr, "llmbatch: usage: llmbatch ledger show NAME [--redis URL] "
            "(default URL: LLMBATCH_REDIS_URL)\n");
    return RUN_EXIT_USAGE;
}
