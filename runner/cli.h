/* cli: the subcommands other than run (estimate, keys), and option parsing
 * helpers shared by main.c. */
#ifndef LLMB_CLI_H
#define LLMB_CLI_H
#include "money.h"
#include "job.h"

/* `llmbatch estimate INPUT`: 0, or 2 on an input error. */
int estimate_cmd(const char *input, const char *prices, const job_defaults_t *defs,
                 int have_budget, money_t budget);
/* `llmbatch keys`: checks each key without spending (GET /v1/models), or
 * with a 1-token request when probe is set. */
int keys_cmd(const char *keys_file, const char *base_url, int probe, const char *model,
             double timeout_s, const char *cacert, int insecure);
/* defaults.c: the one home of each default.  The price table: --prices,
 * else LLMBATCH_PRICES, else the installed prices.json, else the source
 * tree's.  The API base: --base-url, else OPENAI_BASE_URL /
 * ANTHROPIC_BASE_URL, else the provider's. */
const char *cli_prices_path(const char *given);
const char *cli_base_url(dialect_t d, const char *given);
/* The default errors and report files of a results file: out.jsonl[.gz] ->
 * out.errors.jsonl[.gz], out.report.json; another name gets ".errors" /
 * ".report.json" appended.  malloc'd, NULL on ENOMEM. */
char *cli_errors_path(const char *results);
char *cli_report_path(const char *results);
/* `llmbatch sort RESULTS --input INPUT [-o OUT]` (sort_cmd.c): RESULTS into
 * input order, into OUT or in place.  0, 2 on a usage or input error
 * (unreadable lines), 5 on an I/O error. */
int sort_cmd(const char *results, const char *input, const char *out);

#endif
