/*
 * sampling: whether a request is a draw from a distribution or a
 * deterministic question.  In-run dedup coalesces only deterministic
 * requests by default: identical prompts sent with sampling on are separate
 * draws the user asked for (OpenAI's and Anthropic's default temperature
 * is 1).
 */
#ifndef LLMB_SAMPLING_H
#define LLMB_SAMPLING_H
#include "job.h"

/* 1 for embeddings and for any request whose body sets "temperature" to an
 * explicit zero (0, 0.0, -0, 0e5, ...); 0 otherwise, and when the body
 * cannot be read without doubt (a repeated or escaped key). */
int job_is_deterministic(const job_t *j);

#endif
