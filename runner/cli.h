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
const char *cli_prices_path(const char *given);

#endif
