/*
 * batch_state: the durable record of a --via batch run's parts
 * (CHECKPOINT.batches, JSON, written atomically before the checkpoint in
 * every batch commit), so that no part is ever submitted twice.
 *
 * A part is a set of jobs of one (provider, model, endpoint) sent as one
 * provider batch.  Its jobs are listed in the manifest file
 * <spool>/part-N.ids (one line per job: ordinal, reservation in
 * picodollars, the user's custom_id as a JSON string) next to the upload
 * file <spool>/part-N.jsonl; spool = CHECKPOINT.batches.d.
 *
 * Part states (only INTENT and later are ever written):
 *   intent     the money is reserved and POST /batches may have been sent:
 *              on resume the provider's listing decides (adopt / resubmit)
 *   submitted  the batch id is known: poll and collect
 *   closed     every row has its line or went back to pending; kept for
 *              the report only (set only after a commit made its lines durable)
 */
#ifndef LLMB_BATCH_STATE_H
#define LLMB_BATCH_STATE_H
#include <stdint.h>
#include <stddef.h>
#include "money.h"
#include "batchfmt.h"

enum bpart_state { BP_PLANNED = 0, BP_INTENT, BP_SUBMITTED, BP_CLOSED };

typedef struct bpart {
    int      n;                    /* part number, 1-based, never reused */
    int      dialect;              /* dialect_t */
    int      state;                /* BP_* */
    char     model[128];
    char     endpoint[40];         /* "/v1/chat/completions", ... */
    char     key[72];              /* the key's printable name (label or ...abcd) */
    uint64_t jobs;
    uint64_t tokens;               /* estimated prompt tokens enqueued (bytes / 4) */
    money_t  reserve;              /* sum of its jobs' batch-price worst cases */
    char     file_id[128];         /* OpenAI input file */
    char     batch_id[128];
    int64_t  intent_at;            /* epoch seconds of the intent */
    /* last seen / outcome, for progress and the report */
    char     phase[24];
    uint64_t total, done, failed;
    uint64_t rows_ok, rows_failed, rows_back;   /* collected outcome */
    money_t  cost;                 /* settled at batch prices */
    char     created_at[40], ended_at[40];
    char     note[160];
} bpart_t;

typedef struct bstate {
    char     run[24];              /* this run's id (hex), sent as metadata */
    int      next_part;
    bpart_t *v;
    size_t   n, cap;
} bstate_t;

/* 1 loaded, 0 no file, -1 corrupt (message in err). */
int  bstate_load(const char *path, bstate_t *s, char *err, size_t errlen);
/* Atomic durable write.  0 or -1 (errno). */
int  bstate_save(const char *path, const bstate_t *s);
/* A new part (zeroed, numbered); NULL out of memory.  Pointers into v are
 * invalidated by the next call. */
bpart_t *bstate_add(bstate_t *s);
void bstate_release(bstate_t *s);
const char *bpart_state_name(int state);
/* One part as the JSON object the state file and the report use. */
struct json_t;
struct json_t *bpart_json(const bpart_t *b);

#endif
