/*
 * defaults: where the run's defaults come from when the command line does
 * not say (see cli.h).  Each default has this one home.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "provider.h"

const char *cli_prices_path(const char *given)
{
    const char *env = getenv("LLMBATCH_PRICES");
    if (given)
        return given;
    if (env && *env)
        return env;
    if (access(LLMB_PRICES_DEFAULT, R_OK) == 0)
        return LLMB_PRICES_DEFAULT;
    return LLMB_PRICES_SOURCE;
}

const char *cli_base_url(dialect_t d, const char *given)
{
    const char *env = getenv(provider_base_url_env(d));
    if (given)
        return given;
    if (env && *env)
        return env;
    return provider_default_base_url(d);
}

/* The length of results without ".jsonl.gz" / ".jsonl" (all of it otherwise),
 * and that extension. */
static size_t stem_of(const char *results, const char **ext)
{
    size_t n = strlen(results);

    *ext = "";
    if (n > 9 && strcmp(results + n - 9, ".jsonl.gz") == 0)
        n -= 9;
    else if (n > 6 && strcmp(results + n - 6, ".jsonl") == 0)
        n -= 6;
    *ext = results + n;
    return n;
}

char *cli_errors_path(const char *results)
{
    const char *ext;
    size_t stem = stem_of(results, &ext), cap = strlen(results) + 16;
    char *p = malloc(cap);

    if (p)
        snprintf(p, cap, "%.*s.errors%s", (int)stem, results, ext);
    return p;
}

char *cli_report_path(const char *results)
{
    const char *ext;
    size_t stem = stem_of(results, &ext), cap = strlen(results) + 16;
    char *p = malloc(cap);

    if (p)
        snprintf(p, cap, "%.*s.report.json", (int)stem, results);
    return p;
}
