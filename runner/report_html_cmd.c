/*
 * report_html_cmd: finds a run's JSON report, renders it as HTML and writes
 * the page atomically (see report_html_cmd.h).  Owns only what one call
 * allocates.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "output.h"
#include "report_html.h"
#include "cli.h"
#include "report_html_cmd.h"
#include "run.h"

int report_html_write(const json_t *report, const char *html_out)
{
    buf_t b = BUF_INIT;
    int rc = -1;

    if (report_html_render(report, &b) != 0) {
        fprintf(stderr, "llmbatch: cannot render the HTML report %s: out of memory or not "
                "a report\n", html_out);
        goto out;
    }
    if (write_file_atomic(html_out, b.data, b.len) != 0) {
        fprintf(stderr, "llmbatch: cannot write the HTML report %s: %s\n", html_out,
                strerror(errno));
        goto out;
    }
    rc = 0;
out:
    buf_release(&b);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

int report_html_cmd(const char *path, const char *html_out)
{
    char *derived = NULL;
    const char *rpath = path;
    json_error_t jerr;
    json_t *r = NULL;
    FILE *f;
    int rc = RUN_EXIT_USAGE;

    if (ends_with(path, ".jsonl") || ends_with(path, ".jsonl.gz")) {
        if (!(derived = cli_report_path(path))) {
            fprintf(stderr, "llmbatch: out of memory\n");
            return RUN_EXIT_IO;
        }
        rpath = derived;
    }
    if (!(f = fopen(rpath, "r"))) {
        if (derived && errno == ENOENT)
            fprintf(stderr, "llmbatch: no run report next to %s: %s does not exist (run "
                    "writes it at the end of every run; if --report put it elsewhere, "
                    "give that file)\n", path, rpath);
        else
            fprintf(stderr, "llmbatch: %s: %s\n", rpath, strerror(errno));
        goto out;
    }
    r = json_loadf(f, 0, &jerr);
    fclose(f);
    if (!r) {
        fprintf(stderr, "llmbatch: %s: line %d: %s (give the results file or its "
                ".report.json)\n", rpath, jerr.line, jerr.text);
        goto out;
    }
    if (!json_is_object(r) || !json_is_integer(json_object_get(r, "llmbatch_report"))) {
        fprintf(stderr, "llmbatch: %s is not a report written by llmbatch run (give the "
                "results file or its .report.json)\n", rpath);
        goto out;
    }
    rc = report_html_write(r, html_out) == 0 ? 0 : RUN_EXIT_IO;
out:
    json_decref(r);
    free(derived);
    return rc;
}
