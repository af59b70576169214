/* Record parsing on the processor's hot path. Keys and values in the exact bytes kos-datagen
 * writes (frame.h) - no spaces, fields in order, no escapes - are read by a strict
 * hand-written scanner without allocating; anything else goes to frame.c's jansson parsers,
 * which decide. Both paths accept and reject the same inputs (fuzz_records checks this), the
 * fast one only exists because jansson was 40 % of the processor's CPU. */
#ifndef KOS_PROC_RECORDS_H
#define KOS_PROC_RECORDS_H

#include "frame.h"

#include <stddef.h>

/* 0 when key is a FrameHeader, -1 with why otherwise. */
int kos_rec_header_check(const char *key, size_t len, char *why, size_t why_size);

#define KOS_REC_LOCAL_HITS 16

/* A parsed FrameBody. hits points into local or to a heap array; clear with kos_rec_body_clear. */
typedef struct {
        int approval;     /* KOS_APPROVAL_* */
        size_t n_strings; /* strings in "bytes" */
        size_t n_hits;    /* strings that decoded */
        size_t n_bad;     /* strings that are not hits */
        kos_hit_t *hits;
        kos_hit_t local[KOS_REC_LOCAL_HITS];
        kos_frame_body_t slow; /* owned when the jansson path was taken */
} kos_rec_body_t;

/* Parses a FrameBody as kos_body_parse does. @returns 0 (clear with kos_rec_body_clear), or -1
 * with why (nothing to clear). */
int kos_rec_body_parse(const char *json, size_t len, kos_rec_body_t *out, char *why,
                       size_t why_size);
void kos_rec_body_clear(kos_rec_body_t *b);

/* Exposed for the fuzzer's equivalence check: the fast paths alone. 1 parsed (body: out
 * filled, clear it), 0 not in the canonical form (the slow path decides). */
int kos_rec_header_fast(const char *key, size_t len);
int kos_rec_body_fast(const char *json, size_t len, kos_rec_body_t *out);

#endif
