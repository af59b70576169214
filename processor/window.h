/* The join buffers of one task (one partition of each input): the records of both sides seen
 * within the retention, indexed by key bytes, so that a new record finds every record of the
 * other side with the same key whose timestamp is at most the join window away. Expiry follows
 * stream time; nothing here knows Kafka. */
#ifndef KOS_PROC_WINDOW_H
#define KOS_PROC_WINDOW_H

#include "frame.h"
#include "keytable.h" /* kos_key_hash */

#include <stddef.h>
#include <stdint.h>

enum { KOS_SIDE_RQ = 0, KOS_SIDE_RS = 1, KOS_SIDES = 2 };

typedef struct kos_window_s kos_window_t;

/* One buffered record as the match callback sees it. Everything is borrowed from the buffer
 * and valid only during the callback. Responses carry no hits (the joiner keeps the request
 * body). */
typedef struct {
        const uint8_t *key;
        size_t key_len;
        int64_t ts;
        int replayed; /* added during a replay: its joins were already emitted before */
        const kos_hit_t *hits;
        size_t n_hits;
        size_t n_bad; /* strings of the body that did not decode */
} kos_wrec_t;

typedef void (*kos_window_match_fn)(void *arg, const kos_wrec_t *other);

/* A record joins one of the other side when |ts - other.ts| <= window_ms. @returns a new,
 * empty buffer; free with kos_window_destroy. */
kos_window_t *kos_window_new(int64_t window_ms);
void kos_window_destroy(kos_window_t *w);

/* Buffers a copy of rec on side (KOS_SIDE_RQ keeps rec->hits, KOS_SIDE_RS drops them). */
void kos_window_add(kos_window_t *w, int side, const kos_wrec_t *rec, uint64_t hash);

/* Calls fn for every record buffered on the other side of `side` whose key equals key and
 * whose timestamp is within the window of ts, in timestamp order (ties: insertion order).
 * @returns the number of matches. */
size_t kos_window_match(kos_window_t *w, int side, const void *key, size_t key_len, uint64_t hash,
                        int64_t ts, kos_window_match_fn fn, void *arg);

/* Drops buffered records with ts < cutoff, oldest first in arrival order: a record that
 * arrived after a newer one may outlive the cutoff by the lateness the caller allows. */
void kos_window_expire(kos_window_t *w, int64_t cutoff);

/* Buffered records (both sides) and the bytes they hold. */
size_t kos_window_count(const kos_window_t *w);
size_t kos_window_bytes(const kos_window_t *w);

#endif
