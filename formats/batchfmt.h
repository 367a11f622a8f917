/*
 * batchfmt: the wire shapes of the providers' batch APIs (no curl, no
 * clock; unit-testable with strings).
 *
 *   requests   one upload line per job under custom_id "j<ordinal>" (valid
 *              for OpenAI and for Anthropic's ^[a-zA-Z0-9_-]{1,64}$); the
 *              user's own custom_id is kept in the run's manifest, never sent.
 *   batches    an OpenAI batch object or an Anthropic message_batch object
 *              read into one batch_info_t with a common status vocabulary.
 *   rows       one line of an OpenAI output/error file or of Anthropic's
 *              results read into batch_row_t: succeeded, failed (a final
 *              answer of the endpoint), or not run (expired / cancelled:
 *              the job stays pending).
 */
#ifndef LLMB_BATCHFMT_H
#define LLMB_BATCHFMT_H
#include <stdint.h>
#include <jansson.h>
#include "buf.h"
#include "job.h"

/* Appends the upload line of j (custom_id "j<ordinal>"), without "\n".
 * OpenAI:    {"custom_id":"j7","method":"POST","url":"/v1/...","body":<body>}
 * Anthropic: {"custom_id":"j7","params":<body>}
 * 0, or -1 out of memory. */
int batchfmt_request(buf_t *out, const job_t *j);
/* "j123" -> 123.  0, or -1 when the id is not one of ours. */
int batchfmt_ordinal(const char *custom_id, uint64_t *ordinal);

enum batch_phase {
    BPH_VALIDATING = 0, BPH_IN_PROGRESS, BPH_FINALIZING, BPH_CANCELLING,
    BPH_COMPLETED, BPH_FAILED, BPH_EXPIRED, BPH_CANCELLED, BPH_ENDED
};
/* "validating", "in_progress", ... "ended"; NULL for an unknown phase. */
const char *batchfmt_phase_name(int phase);
/* 1 for a phase after which the batch never changes. */
int batchfmt_phase_final(int phase);

typedef struct batch_info {
    char     id[128];
    int      phase;                   /* BPH_* */
    uint64_t total, done, failed;     /* done: rows finished (ok or failed) */
    char     output_file_id[128];     /* OpenAI, "" if none */
    char     error_file_id[128];
    char     results_url[1024];       /* Anthropic, "" until ended */
    char     error_code[64];          /* OpenAI failed: errors.data[0].code */
    char     error_message[256];
    char     meta_run[64];            /* OpenAI metadata.llmbatch_run */
    long     meta_part;               /* metadata.llmbatch_part, -1 if none */
    char     created_at[40];          /* as the provider wrote it */
    int64_t  created_epoch;           /* seconds, 0 if unknown */
} batch_info_t;
/* Reads a batch object.  0, or -1 when it is not one (no id/status). */
int batchfmt_parse_batch(dialect_t d, const json_t *obj, batch_info_t *out);

enum batch_row_kind { ROW_OK = 0, ROW_FAILED, ROW_NOT_RUN };
typedef struct batch_row {
    uint64_t    ordinal;
    int         kind;                 /* ROW_* */
    long        status;               /* HTTP status (0 when none) */
    const char *request_id;           /* NULL when none */
    const json_t *body;               /* the response body (ok) or the error body */
    const char *code, *message;       /* failures */
    json_t     *root;                 /* owns everything above: json_decref */
} batch_row_t;
/* Reads one result line.  0, or -1 with a reason in err. */
int batchfmt_parse_row(dialect_t d, const char *line, size_t len, batch_row_t *out,
                       char *err, size_t errlen);

#endif
