/*
 * estimate: `llmbatch estimate INPUT` sends nothing: it runs the validation
 * pass (formats/validate) and prints jobs, tokens, the worst-case and expected
 * cost per model, the same through the providers' 50%-off batch APIs, and
 * whether the worst case fits --budget.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "run.h"
#include "prices.h"
#include "validate.h"

int estimate_cmd(const char *input, const char *prices_path, const job_defaults_t *defs,
                 int have_budget, money_t budget)
{
    char err[1024], w[32], e[32], wb[32], eb[32], b[32];
    prices_t *p = prices_load(cli_prices_path(prices_path), err, sizeof(err));
    scan_opts_t so = { defs, p, 0, 1, 1, 20, stderr, strcmp(input, "-") ? NULL : "<stdin>", 0 };
    scan_result_t r;
    uint64_t in_exp = 0, in_max = 0, out_exp = 0, out_max = 0;
    int rc;

    if (!p) {
        fprintf(stderr, "llmbatch: %s\n", err);
        return RUN_EXIT_USAGE;
    }
    rc = scan_input(input, &so, &r);
    if (rc < 0) {
        prices_free(p);
        return RUN_EXIT_USAGE;
    }
    printf("%s: %llu jobs", input, (unsigned long long)r.jobs);
    if (r.invalid)
        printf(" (%llu invalid lines, listed above, not counted below)",
               (unsigned long long)r.invalid);
    printf("\n\n%-28s %8s %14s %14s %14s %14s\n", "model", "jobs", "input tok (est)",
           "output tok (max)", "expected USD", "worst USD");
    for (size_t i = 0; i < r.nmodels; i++) {
        scan_model_t *m = &r.models[i];
        in_exp += m->input_expected;
        in_max += m->input_bound;
        out_exp += m->output_expected;
        out_max += m->output_bound;
        money_format(m->expected, 4, e, sizeof(e));
        money_format(m->worst, 4, w, sizeof(w));
        printf("%-28.28s %8llu %14llu %14llu %14s %14s\n", m->model,
               (unsigned long long)m->jobs, (unsigned long long)m->input_expected,
               (unsigned long long)m->output_bound, m->priced ? e : "unpriced",
               m->priced ? w : "unpriced");
    }
    money_format(r.expected, 4, e, sizeof(e));
    money_format(r.worst, 4, w, sizeof(w));
    money_format(r.expected / 2, 4, eb, sizeof(eb));
    money_format(r.worst / 2, 4, wb, sizeof(wb));
    printf("\nestimated input tokens: %llu (upper bound %llu, one per byte)\n",
           (unsigned long long)in_exp, (unsigned long long)in_max);
    printf("output tokens: expected %llu, at most %llu\n",
           (unsigned long long)out_exp, (unsigned long long)out_max);
    printf("cost: expected $%s, worst case $%s\n", e, w);
    printf("through the providers' batch APIs (50%% off): expected $%s, worst case $%s\n",
           eb, wb);
    if (r.unpriced)
        printf("note: %llu jobs use models not in the price table (%s); they are not "
               "counted, and --budget refuses them\n", (unsigned long long)r.unpriced,
               p->path);
    if (have_budget) {
        money_format_min(budget, 2, b, sizeof(b));
        if (r.worst <= budget && !r.unpriced)
            printf("budget: the worst case fits in --budget $%s\n", b);
        else
            printf("budget: the worst case ($%s) does NOT fit in --budget $%s: the run "
                   "would stop at the cap (exit 3) unless replies are shorter than their "
                   "limits\n", w, b);
    }
    printf("(expected assumes ~4 bytes per input token and a quarter of each output "
           "limit; prices from %s, updated %s)\n", p->path, p->updated ? p->updated : "?");
    scan_result_release(&r);
    prices_free(p);
    return RUN_EXIT_OK;
}
