/*
 * keys: the pool of API keys and their states.
 *
 * Keys come from --keys-file (one per line: KEY [label=NAME] [rpm=N]
 * [tpm=N] [dialect=openai|anthropic]; '#' starts a comment) or from
 * OPENAI_API_KEY / ANTHROPIC_API_KEY.  A key without dialect= serves
 * Anthropic when it starts with "sk-ant-", else OpenAI.
 *
 * The pool owns the secrets.  A secret leaves this module only through
 * keys_auth_header(), which builds the request header; everything printed
 * names a key by key->name: its label, or "..." + its last 4 characters.
 *
 * States: ok; cooling (rate-limited until a time, see rl_key_t); exhausted
 * (quota/credit/spend limit: never used again this run); invalid (401/403).
 */
#ifndef LLMB_KEYS_H
#define LLMB_KEYS_H
#include <stdint.h>
#include <stddef.h>
#include "job.h"
#include "money.h"
#include "ratelimit.h"

typedef enum key_state {
    KEY_OK = 0,
    KEY_COOLING,
    KEY_EXHAUSTED,
    KEY_INVALID
} key_state_t;

typedef struct api_key {
    char        *secret;
    char         name[72];      /* label or "...a1b2": safe to print */
    dialect_t    dialect;
    key_state_t  state;         /* KEY_COOLING is derived: see keys_state() */
    char         reason[160];   /* why exhausted/invalid (server's words) */
    rl_key_t     rl;
    uint32_t     inflight;
    /* counters for the report */
    uint64_t     requests, tokens_in, tokens_out, n429;
    uint64_t     successes;     /* 2xx replies this run */
    money_t      cost;
} api_key_t;

typedef struct keys {
    api_key_t *v;
    size_t     n;
    size_t     rr;              /* round-robin cursor */
} keys_t;

/* Loads keys: from the file if path is non-NULL, else from the environment.
 * Returns 0, or -1 with a message (never containing a secret) in err. */
int  keys_load(keys_t *ks, const char *path, char *err, size_t errlen);
void keys_release(keys_t *ks);
/* The wait keys_pick reports for a key whose in-flight window is full: a
 * reply, not a timer, opens it (the loop wakes on replies anyway). */
#define KEYS_WINDOW_WAIT_NS 1000000000LL

/* Picks the usable key for this dialect that can start soonest; ties go
 * round-robin, then to the key with the fewest requests in flight.
 * Returns the key and sets *wait_ns (0 = may start now), or NULL when no
 * key of that dialect is usable (all exhausted/invalid, or none). */
api_key_t *keys_pick(keys_t *ks, dialect_t d, int64_t now_ns, int64_t *wait_ns);
/* 1 if some key of this dialect is not exhausted/invalid. */
int  keys_any_usable(const keys_t *ks, dialect_t d);
key_state_t keys_state(const api_key_t *k, int64_t now_ns);
const char *key_state_name(key_state_t s);
/* Writes "Authorization: Bearer ..." or "x-api-key: ..." into out. */
int  keys_auth_header(const api_key_t *k, char *out, size_t outlen);
/* Overwrites with '*' every occurrence of every loaded key in buf (server
 * text that may quote the caller's key, whatever the key's shape). */
void keys_redact(const keys_t *ks, char *buf, size_t len);
/* The name under which k's state is shared in a ledger (a one-way hash of
 * the secret, ledger_redis.h's rledger_key_fingerprint); outlen >= 19. */
void keys_shared_name(const api_key_t *k, char *out, size_t outlen);
/* Server text may hide a key behind JSON escapes ("tok\u002d..."): when
 * buf holds a "\u" escape and parses as JSON whose decoded strings contain
 * a loaded key, returns 1 with a malloc'd compact re-serialisation in *out
 * (*outlen) in which those keys are masked; 0 when nothing is hidden (or
 * buf is not JSON); -1 on ENOMEM. */
int  keys_redact_json(const keys_t *ks, const char *buf, size_t len, char **out,
                      size_t *outlen);
/* The printable name of a secret: "..." + last 4 characters. */
void key_fingerprint(const char *secret, char *out, size_t outlen);

#endif
