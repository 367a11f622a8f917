/*
 * job: one input line parsed into the request to send.
 *
 * Three line shapes are accepted (job_shape_t in job.c, one function each):
 *   1. JOB_SHAPE_OPENAI_BATCH: {"custom_id","method":"POST","url":"/v1/...","body":{..}}
 *      urls: /v1/chat/completions, /v1/completions, /v1/embeddings,
 *      /v1/responses (also accepted without the /v1 prefix).
 *   2. JOB_SHAPE_ANTHROPIC_BATCH: {"custom_id","params":{..}} -> POST /v1/messages.
 *   3. JOB_SHAPE_BARE, a request body ({"model","messages",..}, {"input",..}) or
 *      {"prompt":"..."}: completed from the defaults (model, max_tokens) and
 *      given custom_id "line-N" (N = the 1-based line number).
 *
 * The job owns every pointer in it (job_release frees them).  body is the
 * compact JSON text to send.  The shapes and their files are listed in
 * formats/README.md.
 */
#ifndef LLMB_JOB_H
#define LLMB_JOB_H
#include <stddef.h>
#include <stdint.h>

typedef enum dialect {
    DIALECT_OPENAI = 0,
    DIALECT_ANTHROPIC = 1
} dialect_t;

typedef enum endpoint {
    EP_CHAT = 0,          /* /v1/chat/completions */
    EP_COMPLETIONS,       /* /v1/completions */
    EP_EMBEDDINGS,        /* /v1/embeddings */
    EP_RESPONSES,         /* /v1/responses */
    EP_MESSAGES           /* /v1/messages (Anthropic) */
} endpoint_t;

/* How bare lines (JOB_SHAPE_BARE) are completed. */
typedef struct job_defaults {
    const char *model;        /* --model, or NULL */
    uint64_t    max_tokens;   /* --max-tokens, 0 = not given */
    int         dialect;      /* -1 = infer (model "claude*" -> anthropic), else dialect_t */
    unsigned    flags;        /* JOB_* below */
} job_defaults_t;

enum {
    JOB_WANT_KEY = 1,   /* key = canon_request_key(): canonical identity (cache) */
    JOB_NO_BODY  = 2,   /* validation only: body stays NULL, body_len = line length */
    JOB_FAST     = 4,   /* OpenAI batch lines that need no rewriting are taken
                           apart with jsonscan, without a jansson tree: the body
                           is sent as written.  nontext_parts and has_tools are
                           then not counted (only exact cost bounds need them).
                           Anything unusual falls back to the full parser. */
    JOB_RAW_KEY  = 8    /* key = a fast 128-bit hash of dialect, endpoint and
                           body bytes (in-run dedup of byte-identical requests;
                           the caller compares bodies before trusting it) */
};

typedef struct job {
    uint64_t   ordinal;        /* index among the non-blank lines; set by the caller */
    uint64_t   lineno;         /* 1-based line number in the input */
    char      *custom_id;
    int        auto_id;        /* 1 when custom_id was made up as "line-N" */
    dialect_t  dialect;
    endpoint_t endpoint;
    const char *path;          /* static string: "/v1/chat/completions", ... */
    char      *body;           /* compact JSON, NUL-terminated */
    size_t     body_len;
    char      *model;          /* from the body; never NULL after a successful parse */
    uint64_t   max_output;     /* max_tokens / max_completion_tokens / max_output_tokens; 0 = unset */
    uint32_t   n;              /* completions per request (>= 1; n or best_of) */
    uint32_t   nontext_parts;  /* image/audio/file/document content parts */
    int        has_tools;      /* body has "tools" or "functions" */
    uint64_t   text_bytes;     /* bytes of prompt text (for token estimates) */
    int        server_context; /* responses with previous_response_id, conversation
                                  or a stored prompt: input not in the body */
    unsigned char key[32];     /* with JOB_WANT_KEY: canon_request_key() */
    int        has_key;
} job_t;

/* Parses one non-blank line.  Returns 0, or -1 with a one-line message in err
 * (without file or line number: the caller adds those). */
int  job_parse(const char *line, size_t len, uint64_t lineno,
               const job_defaults_t *defs, job_t *out, char *err, size_t errlen);
void job_release(job_t *j);
/* "/v1/chat/completions" etc.; NULL if the url is not supported.  Accepts
 * "/v1/x", "/x" and "v1/x". */
const char *job_endpoint_path(const char *url, endpoint_t *ep);
const char *dialect_name(dialect_t d);

#endif
