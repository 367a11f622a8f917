/*
 * llmbatch: command-line entry.  Parses the command line and calls the
 * subcommand; owns nothing else.  Exit codes are RUN_EXIT_* (run.h).
 */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cache.h"
#include "batch.h"
#include "cli.h"
#include "ledger_cmd.h"
#include "merge_cmd.h"
#include "shard.h"
#include "report_html_cmd.h"
#include "report_run.h"
#include "run.h"

/* Debian's libcurl 7.88 links librtmp, which links GnuTLS, whose library
 * constructor initializes GnuTLS and p11-kit in every process that loads
 * it: about 1 MB of RSS before main().  llmbatch never uses GnuTLS (rtmp and
 * ldap are not among the protocols it allows; libcurl's own TLS is OpenSSL,
 * and a GnuTLS build of libcurl calls gnutls_global_init() itself).  Before
 * that implicit initialization GnuTLS asks this hook, a weak symbol in the
 * library that the program may define, like GNUTLS_NO_IMPLICIT_INIT=1. */
int _gnutls_global_init_skip(void);
int _gnutls_global_init_skip(void)
{
    return 1;
}

static const char usage_text[] =
"usage:\n"
"  llmbatch run INPUT -o RESULTS [options]     run a batch (rerun the same command to resume)\n"
"  llmbatch cancel RESULTS [options]           cancel a --via batch run's open batches,\n"
"                                              collect their partial results\n"
"  llmbatch estimate INPUT [--prices FILE] [--budget USD]\n"
"  llmbatch report RESULTS|CHECKPOINT [--prices FILE]\n"
"  llmbatch report RESULTS|REPORT.json --html FILE   the run's report as one HTML page\n"
"  llmbatch keys [--keys-file FILE] [--base-url URL] [--probe]\n"
"  llmbatch cache stats DIR | cache prune DIR --older-than AGE\n"
"  llmbatch ledger show NAME [--redis URL]     a shared ledger's live state (JSON)\n"
"  llmbatch merge -o RESULTS [--errors FILE] [--report FILE] SHARD_RESULTS...\n"
"                                              join the shards of one job (--shard)\n"
"  llmbatch sort RESULTS --input INPUT [-o OUT]   put results into input order\n"
"\n"
"run options:\n"
"  -o, --output FILE        results (OpenAI batch output format; .gz = gzip)\n"
"  --errors FILE            failed jobs (default RESULTS with .errors before .jsonl)\n"
"  --report FILE            cost report JSON (default RESULTS with .report.json)\n"
"  --checkpoint FILE        resume state (default RESULTS.ckpt)\n"
"  --base-url URL           API base (default: OPENAI_BASE_URL / ANTHROPIC_BASE_URL or the\n"
"                           provider's); http://host:8000 and http://host:8000/v1 both work\n"
"  --keys-file FILE         API keys, one per line: KEY [label=N] [rpm=N] [tpm=N]\n"
"                           (default: OPENAI_API_KEY / ANTHROPIC_API_KEY)\n"
"  --budget USD             hard spend cap across all runs of this job\n"
"  --alert-at P,P,...       warn as spend crosses these percentages of the budget\n"
"  --prices FILE            price table (default: the installed prices.json)\n"
"  --rpm N, --tpm N         global request / token ceilings per minute\n"
"  --concurrency N          requests in flight (default 64)\n"
"  --max-retries N          retries per job (default 6)\n"
"  --timeout SEC            per request (default 600); --connect-timeout SEC (default 30)\n"
"  --grace SEC              on Ctrl-C/SIGTERM, wait this long for requests in flight (30)\n"
"  --no-slow-start          every key starts at full concurrency (servers you run yourself)\n"
"  --max-wait SEC           a key whose rate limit asks for a longer wait is treated as\n"
"                           exhausted for this run (default: wait, and say why)\n"
"  --model M, --max-tokens N, --dialect openai|anthropic   complete bare lines\n"
"  --skip-invalid           send invalid lines to the errors file instead of stopping\n"
"  --ordered                when the run completes, put results and errors in input order\n"
"  --retry-failed[=CODES]   run the failed jobs again (CODES: e.g. max_retries_exceeded,429,5xx;\n"
"                           default: all but invalid_input)\n"
"  --cache DIR              reuse successful replies (SQLite in DIR)\n"
"  --dedup auto|all|off     coalesce identical requests in flight: auto (default)\n"
"                           only deterministic ones (embeddings, temperature 0);\n"
"                           --no-dedup = off\n"
"  --status-file FILE       JSON counters, rewritten every second\n"
"  --metrics FILE           Prometheus text format, rewritten every second\n"
"  --html FILE              the report as a self-contained HTML page (charts)\n"
"  --cacert FILE, --insecure   TLS trust (--insecure disables verification)\n"
"  --fresh                  start over, moving old outputs aside\n"
"  --ledger NAME            share --budget, --rpm, --tpm with every process naming\n"
"                           this ledger (needs --redis URL or LLMBATCH_REDIS_URL)\n"
"  --redis URL              redis://[user:pass@]host:port/db (default LLMBATCH_REDIS_URL)\n"
"  --raise-budget           allow --budget to raise an existing shared ledger's cap\n"
"  --shard I/N              process only the jobs whose position modulo N is I;\n"
"                           auto/N (or --shards N) takes I from JOB_COMPLETION_INDEX\n"
"                           or SLURM_ARRAY_TASK_ID\n"
"  --commit-every N         results between commits (default 10000; also every second)\n"
"  --progress / --no-progress, -q/--quiet\n"
"  --via live|batch         live requests (default) or the providers' batch APIs\n"
"                           (half price, results within 24 h); with batch:\n"
"  --batch-size N           requests per batch (default 10000)\n"
"  --poll SEC               polling interval (default: 5 s backing off to 120 s)\n"
"  --no-wait                submit what fits and exit 6; rerun to collect\n"
"  --max-enqueued-tokens N  prompt tokens per model in open batches (default: learned\n"
"                           from the provider's enqueued-token-limit failures)\n"
"  --fallback live|batch    rows an expired/cancelled batch did not run: sent live\n"
"                           once no batch is open, or in a later batch (default)\n"
"  --adopt-batch ID, --resubmit-part N   decide a submission a crash left open\n"
"\n"
"exit codes: 0 all succeeded, 1 some failed, 2 usage/input error (nothing sent),\n"
"3 spend cap reached, 4 no usable key, 5 fatal error (I/O, TLS, API unreachable, a setup\n"
"slip; jobs stay pending), 6 batches submitted and still running (--via batch\n"
"--no-wait: rerun to collect), 130/143 interrupted.\n";

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "llmbatch: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(run 'llmbatch --help' for usage)\n");
    return RUN_EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_pos_double(const char *s, double *out)
{
    char *end;
    double v;

    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || !(v > 0) || !isfinite(v) || v > 1e12)
        return -1;
    *out = v;
    return 0;
}

static int parse_alerts(const char *s, run_opts_t *o)
{
    const char *p = s;

    o->nalerts = 0;
    while (*p) {
        char num[16];
        size_t n = strcspn(p, ",");
        uint64_t v;
        if (n == 0 || n >= sizeof(num) || o->nalerts >= RUN_MAX_ALERTS)
            return -1;
        memcpy(num, p, n);
        num[n] = '\0';
        if (parse_u64(num, 1, 100, &v))
            return -1;
        o->alerts[o->nalerts++] = (unsigned)v;
        p += n;
        if (*p == ',')
            p++;
    }
    return o->nalerts ? 0 : -1;
}

/* Options shared by several subcommands; returns 1 if consumed (and *i
 * advanced), 0 if not ours, -1 on a bad value. */
static int common_opt(int argc, char **argv, int *i, run_opts_t *o, int *probe)
{
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    uint64_t u;

#define TAKES_VALUE() do { if (!v) { usage_err("%s needs a value", a); return -1; } (*i)++; } while (0)
    if (!strcmp(a, "-o") || !strcmp(a, "--output")) { TAKES_VALUE(); o->results = v; }
    else if (!strcmp(a, "--errors")) { TAKES_VALUE(); o->errors = v; }
    else if (!strcmp(a, "--report")) { TAKES_VALUE(); o->report = v; }
    else if (!strcmp(a, "--checkpoint")) { TAKES_VALUE(); o->checkpoint = v; }
    else if (!strcmp(a, "--base-url")) { TAKES_VALUE(); o->base_url = v; }
    else if (!strcmp(a, "--keys-file")) { TAKES_VALUE(); o->keys_file = v; }
    else if (!strcmp(a, "--prices")) { TAKES_VALUE(); o->prices = v; }
    else if (!strcmp(a, "--cacert")) { TAKES_VALUE(); o->cacert = v; }
    else if (!strcmp(a, "--cache")) { TAKES_VALUE(); o->cache_dir = v; }
    else if (!strcmp(a, "--status-file")) { TAKES_VALUE(); o->status_file = v; }
    else if (!strcmp(a, "--metrics")) { TAKES_VALUE(); o->metrics_file = v; }
    else if (!strcmp(a, "--html")) { TAKES_VALUE(); o->html_file = v; }
    else if (!strcmp(a, "--model")) { TAKES_VALUE(); o->defs.model = v; }
    else if (!strcmp(a, "--budget")) {
        TAKES_VALUE();
        if (money_parse_usd(v, &o->budget) && *v && strspn(v, "0123456789.") == strlen(v) &&
            strchr(v, '.') == strrchr(v, '.') && strspn(v, ".") < strlen(v))
            return usage_err("--budget %s is above the largest allowed amount, %lld USD", v,
                             (long long)(MONEY_MAX / MONEY_PER_USD)), -1;
        if (money_parse_usd(v, &o->budget) || o->budget <= 0)
            return usage_err("--budget needs a positive amount in USD, such as 25 or 2.50 (got \"%s\")", v), -1;
        o->have_budget = 1;
    } else if (!strcmp(a, "--alert-at")) {
        TAKES_VALUE();
        if (parse_alerts(v, o))
            return usage_err("--alert-at needs percentages 1-100 separated by commas (got \"%s\")", v), -1;
    } else if (!strcmp(a, "--rpm") || !strcmp(a, "--tpm")) {
        TAKES_VALUE();
        if (parse_u64(v, 1, 1000000000000ULL, &u))
            return usage_err("--rpm/--tpm need a positive integer (got \"%s\")", v), -1;
        if (a[2] == 'r') o->rpm = (double)u; else o->tpm = (double)u;
    } else if (!strcmp(a, "--concurrency")) {
        TAKES_VALUE();
        if (parse_u64(v, 1, 16384, &u))
            return usage_err("--concurrency needs an integer from 1 to 16384 (got \"%s\")", v), -1;
        o->concurrency = (int)u;
    } else if (!strcmp(a, "--max-retries")) {
        TAKES_VALUE();
        if (parse_u64(v, 0, 100, &u))
            return usage_err("--max-retries needs an integer from 0 to 100 (got \"%s\")", v), -1;
        o->max_retries = (int)u;
    } else if (!strcmp(a, "--max-tokens")) {
        TAKES_VALUE();
        if (parse_u64(v, 1, 100000000, &u))
            return usage_err("--max-tokens needs a positive integer (got \"%s\")", v), -1;
        o->defs.max_tokens = u;
    } else if (!strcmp(a, "--commit-every")) {
        TAKES_VALUE();
        if (parse_u64(v, 1, 100000000, &u))
            return usage_err("--commit-every needs a positive integer (got \"%s\")", v), -1;
        o->commit_every = u;
    } else if (!strcmp(a, "--timeout") || !strcmp(a, "--connect-timeout") || !strcmp(a, "--grace") ||
               !strcmp(a, "--max-wait")) {
        double d;
        TAKES_VALUE();
        if (parse_pos_double(v, &d))
            return usage_err("this option needs a positive number of seconds (got \"%s\")", v), -1;
        if (!strcmp(a, "--timeout")) o->timeout_s = d;
        else if (!strcmp(a, "--grace")) o->grace_s = d;
        else if (!strcmp(a, "--max-wait")) o->max_wait_s = d;
        else o->connect_timeout_s = d;
    } else if (!strcmp(a, "--dedup")) {
        TAKES_VALUE();
        if (!strcmp(v, "auto")) o->dedup = RUN_DEDUP_AUTO;
        else if (!strcmp(v, "all")) o->dedup = RUN_DEDUP_ALL;
        else if (!strcmp(v, "off")) o->dedup = RUN_DEDUP_OFF;
        else return usage_err("--dedup is auto, all or off (got \"%s\")", v), -1;
    } else if (!strcmp(a, "--dialect")) {
        TAKES_VALUE();
        if (!strcmp(v, "openai")) o->defs.dialect = DIALECT_OPENAI;
        else if (!strcmp(v, "anthropic")) o->defs.dialect = DIALECT_ANTHROPIC;
        else return usage_err("--dialect is openai or anthropic (got \"%s\")", v), -1;
    }
    else if (!strcmp(a, "--via")) {
        TAKES_VALUE();
        if (!strcmp(v, "live")) o->via_batch = 0;
        else if (!strcmp(v, "batch")) o->via_batch = 1;
        else return usage_err("--via is live or batch (got \"%s\")", v), -1;
    } else if (!strcmp(a, "--batch-size")) {
        TAKES_VALUE();
        if (parse_u64(v, 1, 100000, &u))
            return usage_err("--batch-size needs an integer from 1 to 100000 (got \"%s\")", v), -1;
        o->batch_size = u;
    } else if (!strcmp(a, "--poll")) {
        TAKES_VALUE();
        if (parse_pos_double(v, &o->poll_s))
            return usage_err("--poll needs a positive number of seconds (got \"%s\")", v), -1;
    } else if (!strcmp(a, "--max-enqueued-tokens")) {
        TAKES_VALUE();
        if (parse_u64(v, 1, 1000000000000ULL, &u))
            return usage_err("--max-enqueued-tokens needs a positive integer (got \"%s\")", v), -1;
        o->max_enqueued_tokens = u;
    } else if (!strcmp(a, "--fallback")) {
        TAKES_VALUE();
        if (!strcmp(v, "live")) o->fallback_live = 1;
        else if (!strcmp(v, "batch")) o->fallback_live = 0;
        else return usage_err("--fallback is live or batch (got \"%s\")", v), -1;
    } else if (!strcmp(a, "--adopt-batch")) { TAKES_VALUE(); o->adopt_batch = v; }
    else if (!strcmp(a, "--resubmit-part")) {
        TAKES_VALUE();
        if (parse_u64(v, 1, 1000000000, &u))
            return usage_err("--resubmit-part needs a part number (got \"%s\")", v), -1;
        o->resubmit_part = (int)u;
    }
    else if (!strcmp(a, "--no-wait")) o->no_wait = 1;
    else if (!strcmp(a, "--ledger")) { TAKES_VALUE(); o->ledger_name = v; }
    else if (!strcmp(a, "--redis")) { TAKES_VALUE(); o->redis_url = v; }
    else if (!strcmp(a, "--raise-budget")) o->raise_budget = 1;
    else if (!strcmp(a, "--shard") || !strcmp(a, "--shards")) {
        char spec[64], err[200];
        TAKES_VALUE();
        snprintf(spec, sizeof(spec), "%s%s", a[7] == 's' ? "auto/" : "", v);
        if (shard_parse(spec, &o->shard_i, &o->shard_n, err, sizeof(err)))
            return usage_err("%s (got \"%s\")", err, v), -1;
    }
    else if (!strcmp(a, "--fresh")) o->fresh = 1;
    else if (!strcmp(a, "--insecure")) o->insecure = 1;
    else if (!strcmp(a, "--no-slow-start")) o->no_slow_start = 1;
    else if (!strcmp(a, "--skip-invalid")) o->skip_invalid = 1;
    else if (!strcmp(a, "--ordered")) o->ordered = 1;
    else if (!strcmp(a, "--retry-failed") || !strncmp(a, "--retry-failed=", 15)) {
        char e[256];
        if (retry_codes_parse(a[14] == '=' ? a + 15 : NULL, &o->retry_codes, e, sizeof e))
            return usage_err("%s", e), -1;
        o->retry_failed = 1;
    }
    else if (!strcmp(a, "--no-dedup")) o->dedup = RUN_DEDUP_OFF;
    else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o->quiet = 1;
    else if (!strcmp(a, "--progress")) o->progress = 1;
    else if (!strcmp(a, "--no-progress")) o->progress = 0;
    else if (!strcmp(a, "--probe") && probe) *probe = 1;
    else return 0;
#undef TAKES_VALUE
    return 1;
}

/* Parses argv[start..]; collects up to max positionals. */
static int parse_args(int argc, char **argv, int start, run_opts_t *o, int *probe,
                      const char **pos, int max, int *npos)
{
    *npos = 0;
    for (int i = start; i < argc; i++) {
        int r;
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            size_t nl = strcspn(argv[i], "=");
            if ((nl == 5 && !strncmp(argv[i], "--key", 5)) ||
                (nl == 9 && (!strncmp(argv[i], "--api-key", 9) ||
                             !strncmp(argv[i], "--api_key", 9)))) {
                fprintf(stderr, "llmbatch: API keys are never taken on the command line "
                        "(other users can read process arguments): use OPENAI_API_KEY / "
                        "ANTHROPIC_API_KEY or --keys-file FILE\n");
                return -1;
            }
            r = common_opt(argc, argv, &i, o, probe);
            if (r < 0)
                return -1;
            if (r == 0) {
                /* never echo a value given as --opt=VALUE: it may be a secret */
                usage_err("unknown option %.*s", (int)strcspn(argv[i], "="), argv[i]);
                return -1;
            }
            continue;
        }
        if (*npos >= max) {
            usage_err("unexpected argument \"%s\"", argv[i]);
            return -1;
        }
        pos[(*npos)++] = argv[i];
    }
    return 0;
}

static int cmd_cache(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[2], "stats") && argc == 4)
        return cache_cmd_stats(argv[3], stdout, stderr);
    if (argc == 6 && !strcmp(argv[2], "prune") && !strcmp(argv[4], "--older-than"))
        return cache_cmd_prune(argv[3], argv[5], stdout, stderr);
    return usage_err("%s", "usage: llmbatch cache stats DIR | cache prune DIR --older-than AGE");
}

/* `llmbatch sort RESULTS --input INPUT [-o OUT]` (runner/sort_cmd.c) */
static int sort_main(int argc, char **argv)
{
    const char *results = NULL, *input = NULL, *out = NULL;

    for (int i = 2; i < argc; i++) {
        if ((!strcmp(argv[i], "--input") || !strcmp(argv[i], "-o")) && i + 1 < argc) {
            *(argv[i][1] == 'o' ? &out : &input) = argv[i + 1];
            i++;
        } else if (argv[i][0] != '-' && !results) {
            results = argv[i];
        } else {
            return usage_err("sort: unexpected \"%s\"; usage: llmbatch sort RESULTS "
                             "--input INPUT [-o OUT]", argv[i]);
        }
    }
    if (!results || !input)
        return usage_err("%s", "usage: llmbatch sort RESULTS --input INPUT [-o OUT]");
    return sort_cmd(results, input, out);
}

int main(int argc, char **argv)
{
    run_opts_t o;
    const char *pos[2];
    int npos, probe = 0, rc;

    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? RUN_EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("llmbatch 0.1 (%s)\n", curl_version());
        return 0;
    }
    run_opts_init(&o);
    if (!strcmp(argv[1], "cache"))
        return cmd_cache(argc, argv);
    if (!strcmp(argv[1], "ledger"))
        return ledger_cmd(argc, argv);
    if (!strcmp(argv[1], "merge"))
        return merge_cmd(argc, argv);
    if (!strcmp(argv[1], "sort"))
        return sort_main(argc, argv);
    if (parse_args(argc, argv, 2, &o, !strcmp(argv[1], "keys") ? &probe : NULL, pos, 2, &npos))
        return RUN_EXIT_USAGE;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "llmbatch: cannot initialise libcurl\n");
        return RUN_EXIT_IO;
    }
    if (!strcmp(argv[1], "run")) {
        if (npos != 1 || !o.results)
            rc = usage_err("%s", "usage: llmbatch run INPUT -o RESULTS [options]");
        else {
            o.input = pos[0];
            rc = run_main(&o);
        }
    } else if (!strcmp(argv[1], "cancel")) {
        rc = npos == 1 ? batch_cancel_cmd(&o, pos[0])
                       : usage_err("%s", "usage: llmbatch cancel RESULTS [--checkpoint FILE] [run options]");
    } else if (!strcmp(argv[1], "estimate")) {
        rc = npos == 1 ? estimate_cmd(pos[0], o.prices, &o.defs, o.have_budget, o.budget)
                       : usage_err("%s", "usage: llmbatch estimate INPUT [--prices FILE] [--budget USD]");
    } else if (!strcmp(argv[1], "report") && o.html_file) {
        rc = npos == 1 ? report_html_cmd(pos[0], o.html_file)
                       : usage_err("%s", "usage: llmbatch report RESULTS|REPORT.json --html FILE");
    } else if (!strcmp(argv[1], "report")) {
        rc = npos == 1 ? report_cmd(pos[0], cli_prices_path(o.prices))
                       : usage_err("%s", "usage: llmbatch report RESULTS|CHECKPOINT");
    } else if (!strcmp(argv[1], "keys")) {
        rc = npos == 0 ? keys_cmd(o.keys_file, o.base_url, probe,
                                  o.defs.model ? o.defs.model : "gpt-4o-mini",
                                  o.timeout_s > 60 ? 30 : o.timeout_s, o.cacert, o.insecure)
                       : usage_err("%s", "usage: llmbatch keys [--keys-file FILE] [--base-url URL] [--probe]");
    } else {
        rc = usage_err("unknown command \"%s\"", argv[1]);
    }
    curl_global_cleanup();
    return rc;
}
