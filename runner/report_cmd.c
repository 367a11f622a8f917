/*
 * report_cmd: `llmbatch report FILE`, apart from the run: rebuilds the cost
 * part of a report from a results file, or shows how far a checkpoint's
 * run got, without running anything.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "checkpoint.h"
#include "prices.h"
#include "reader.h"
#include "report_run.h"
#include "run.h"
#include "stats.h"

/* ---- llmbatch report FILE ---------------------------------------------- */

static int report_checkpoint(const char *path)
{
    ckpt_t ck;
    stats_t s;
    char err[1024], a[32], u[32];
    uint64_t done, total;
    json_t *r;
    char *text;

    stats_init(&s);
    if (ckpt_load(path, &ck, &s, err, sizeof(err)) != 1) {
        fprintf(stderr, "llmbatch: %s\n", err);
        stats_release(&s);
        return RUN_EXIT_USAGE;
    }
    done = ckpt_count_done(&ck);
    total = stats_total_jobs(&s, ckpt_jobs(&ck));
    money_format(money_add(s.spent, ck.hwm), 6, a, sizeof(a));
    money_format(money_add(s.unconfirmed, ck.hwm), 6, u, sizeof(u));
    r = json_pack("{s:s,s:s,s:{s:I,s:I,s:I,s:I,s:I},s:{s:o,s:o,s:o},s:o,s:o,s:i,s:b}",
                  "checkpoint", path, "input", ck.input_path ? ck.input_path : "",
                  "jobs", "total", (json_int_t)total, "done", (json_int_t)done,
                  "succeeded", (json_int_t)s.succeeded, "failed", (json_int_t)s.failed,
                  "pending", (json_int_t)(total > done ? total - done : 0),
                  "cost_usd", "total", json_usd(money_add(s.spent, ck.hwm)),
                  "reserved_unconfirmed", json_usd(money_add(s.unconfirmed, ck.hwm)),
                  "estimated", json_usd(s.estimated),
                  "tokens", stats_usage_json(&s.tok), "by_model", stats_by_model_json(&s),
                  "runs", (int)s.runs, "complete", ck.complete);
    text = r ? json_dumps(r, JSON_INDENT(2)) : NULL;
    if (text)
        printf("%s\n", text);
    fprintf(stderr, "%s: %llu of %llu jobs done (%llu succeeded, %llu failed), %llu pending; "
            "spent $%s (of which possibly billed at interruptions $%s) over %u run%s\n",
            ck.input_path ? ck.input_path : path, (unsigned long long)done,
            (unsigned long long)total, (unsigned long long)s.succeeded,
            (unsigned long long)s.failed, (unsigned long long)(total > done ? total - done : 0),
            a, u, s.runs, s.runs == 1 ? "" : "s");
    free(text);
    json_decref(r);
    ckpt_release(&ck);
    stats_release(&s);
    return 0;
}

static int report_results(const char *path, const char *prices_path)
{
    char err[1024];
    prices_t *p = prices_load(prices_path, err, sizeof(err));
    reader_t *rd;
    stats_t s;
    const char *line;
    size_t len;
    uint64_t lineno, bad = 0, no_usage = 0, batch_rows = 0;
    money_t total = 0;
    int got, rc = RUN_EXIT_USAGE;
    json_t *r;
    char *text;

    if (!p) {
        fprintf(stderr, "llmbatch: %s\n", err);
        return RUN_EXIT_USAGE;
    }
    if (!(rd = reader_open(path, err, sizeof(err)))) {
        fprintf(stderr, "llmbatch: %s\n", err);
        prices_free(p);
        return RUN_EXIT_USAGE;
    }
    stats_init(&s);
    while ((got = reader_next(rd, &line, &len, &lineno)) == READER_LINE ||
           got == READER_TOOLONG) {
        json_t *j, *body, *mark;
        const char *model, *type;
        usage_t u;
        const price_t *pr;
        price_t bp;
        dialect_t d;
        money_t cost = 0;

        if (got == READER_TOOLONG || len == 0)
            continue;
        j = json_loadb(line, len, 0, NULL);
        body = json_object_get(json_object_get(j, "response"), "body");
        model = json_string_value(json_object_get(body, "model"));
        if (!j || !json_is_object(body) || !model) {
            bad++;
            json_decref(j);
            continue;
        }
        type = json_string_value(json_object_get(body, "type"));
        memset(&u, 0, sizeof(u));
        d = type && strcmp(type, "message") == 0 ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
        if (!provider_usage(d, body, &u))
            no_usage++;
        mark = json_object_get(j, "llmbatch");
        if (json_object_get(mark, "cache") || json_object_get(mark, "dedup")) {
            json_decref(j);            /* served from cache/dedup: not billed */
            continue;
        }
        pr = prices_lookup(p, model);
        if (pr && json_is_string(json_object_get(mark, "via")) &&
            strcmp(json_string_value(json_object_get(mark, "via")), "batch") == 0) {
            price_batch(p, pr, d, &bp);   /* a row of a provider batch */
            pr = &bp;
            batch_rows++;
        }
        if (pr)
            cost = price_cost(pr, &u);
        total = money_add(total, cost);
        stats_account(&s, model, NULL, &u, cost, pr != NULL, 1);
        s.succeeded++;
        json_decref(j);
    }
    if (got == READER_ERR) {
        fprintf(stderr, "llmbatch: %s: %s\n", path, reader_error(rd));
        goto out;
    }
    r = json_pack("{s:s,s:I,s:I,s:I,s:{s:o,s:I},s:o,s:o,s:{s:s,s:s}}",
                  "results", path, "responses", (json_int_t)s.succeeded,
                  "unreadable_lines", (json_int_t)bad, "without_usage", (json_int_t)no_usage,
                  "cost_usd", "total", json_usd(total), "total_pp", (json_int_t)total,
                  "tokens", stats_usage_json(&s.tok), "by_model", stats_by_model_json(&s),
                  "prices", "file", p->path ? p->path : "", "updated", p->updated ? p->updated : "");
    if (r)
        json_object_set_new(r, "batch_rows", json_integer((json_int_t)batch_rows));
    text = r ? json_dumps(r, JSON_INDENT(2)) : NULL;
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(r);
    rc = 0;
out:
    stats_release(&s);
    reader_free(rd);
    prices_free(p);
    return rc;
}

int report_cmd(const char *path, const char *prices_path)
{
    FILE *f = fopen(path, "r");
    char head[32] = {0};
    size_t n;

    if (!f) {
        fprintf(stderr, "llmbatch: %s: %s\n", path, strerror(errno));
        return RUN_EXIT_USAGE;
    }
    n = fread(head, 1, sizeof(head) - 1, f);
    fclose(f);
    if (n > 0 && strncmp(head, "{\"llmbatch_checkpoint\"", 22) == 0)
        return report_checkpoint(path);
    return report_results(path, prices_path);
}
