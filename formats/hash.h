/*
 * hash: fast non-cryptographic digests over bytes.  hash64 indexes
 * custom_id sets (the validation pass) and in-run dedup; hash_body128 is the
 * JOB_RAW_KEY index of a request.  Neither is an identity: every user
 * compares the bytes (or recounts exactly) before trusting a match.
 * For a cryptographic identity (the cache) see canon.h / sha256.h.
 */
#ifndef LLMB_HASH_H
#define LLMB_HASH_H
#include <stddef.h>
#include <stdint.h>

/* 64-bit FNV-1a with a splitmix64 finaliser; never 0 (0 marks an empty
 * slot in open-addressing tables). */
uint64_t hash64(const void *p, size_t n);

/* 128-bit digest of (dialect name, endpoint number, body bytes) into
 * out[0..15]; out[16..31] are zeroed (the key field is 32 bytes wide). */
void hash_body128(const char *dialect, unsigned endpoint, const void *body, size_t n,
                  unsigned char out[32]);

#endif
