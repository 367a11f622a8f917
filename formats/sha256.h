/*
 * sha256: SHA-256 (FIPS 180-4), streaming and one-shot.  No allocation; the
 * context is a plain struct the caller owns.  After sha256_final the context
 * is wiped and must be re-initialised before reuse.
 */
#ifndef LLMB_SHA256_H
#define LLMB_SHA256_H
#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32

typedef struct sha256_ctx {
    uint32_t      h[8];
    uint64_t      total;      /* bytes hashed so far */
    unsigned char block[64];
    size_t        used;       /* bytes pending in block (< 64) */
} sha256_ctx_t;

void sha256_init(sha256_ctx_t *c);
void sha256_update(sha256_ctx_t *c, const void *p, size_t n);
void sha256_final(sha256_ctx_t *c, unsigned char out[SHA256_DIGEST_LEN]);
/* One-shot digest of n bytes at p. */
void sha256(const void *p, size_t n, unsigned char out[SHA256_DIGEST_LEN]);
/* Lowercase hex of a digest: out gets 64 characters and a NUL. */
void sha256_hex(const unsigned char d[SHA256_DIGEST_LEN], char out[65]);

#endif
