/*
 * promtext: the Prometheus text exposition format's escaping rules, kept
 * apart from the metrics they format (progress.c).
 */
#ifndef LLMB_PROMTEXT_H
#define LLMB_PROMTEXT_H
#include "buf.h"

/* Appends s as a label value, without the quotes: backslash, double quote
 * and newline escaped as \\, \" and \n.  0, or -1 on out of memory. */
int prom_label_value(buf_t *b, const char *s);

#endif
