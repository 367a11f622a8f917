/*
 * defaults: where the run's defaults come from when the command line does
 * not say (see cli.h).  Each default has this one home.
 */
#include <stdlib.h>
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
