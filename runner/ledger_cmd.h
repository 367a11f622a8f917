/* ledger_cmd: `llmbatch ledger show NAME --redis URL`. */
#ifndef LLMB_LEDGER_CMD_H
#define LLMB_LEDGER_CMD_H
#include <stdio.h>

/* Prints the ledger's live state as JSON to out and a human summary to err.
 * url NULL: LLMBATCH_REDIS_URL.  Returns an exit code: 0, 2 (bad name/URL,
 * Redis unreachable, no such ledger) or 5 (Redis error). */
int ledger_show_write(const char *name, const char *url, FILE *out, FILE *err);
/* The same on stdout / stderr. */
int ledger_show_cmd(const char *name, const char *url);
/* `llmbatch ledger show NAME [--redis URL]`: argv as main's (argv[1] is
 * "ledger").  Returns the exit code; 2 with a usage line on bad arguments. */
int ledger_cmd(int argc, char **argv);

#endif
