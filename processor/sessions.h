/* The aggregate store of one task: per key (FrameHeader bytes), the GameSession so far, i.e.
 * the hits appended in join order. A session expires once stream time passes its last update
 * by the retention the caller gives (a key holds the frame's timestamp, so no join can touch it
 * after window + grace); each session is capped at max_hits so its JSON fits in one record.
 * Dirty sessions (coalescing mode) are remembered until kos_sessions_flush. */
#ifndef KOS_PROC_SESSIONS_H
#define KOS_PROC_SESSIONS_H

#include "frame.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kos_sessions_s kos_sessions_t;
typedef struct kos_session_s kos_session_t;

/* What a flush or an emit hands out; borrowed, valid during the callback only. */
typedef struct {
        const uint8_t *key;
        size_t key_len;
        const kos_hit_t *hits;
        size_t n_hits;
        int64_t ts; /* the latest update's timestamp (the output record's timestamp) */
} kos_session_view_t;

typedef void (*kos_session_fn)(void *arg, const kos_session_view_t *s);

/* @returns a new, empty store; free with kos_sessions_destroy. */
kos_sessions_t *kos_sessions_new(size_t max_hits);
void kos_sessions_destroy(kos_sessions_t *ss);

/* The session of key, created empty if missing. The pointer is valid until the next
 * kos_sessions_expire. */
kos_session_t *kos_sessions_get(kos_sessions_t *ss, const void *key, size_t key_len, uint64_t hash);
/* Looks a session up without creating it. */
kos_session_t *kos_sessions_find(kos_sessions_t *ss, const void *key, size_t key_len,
                                 uint64_t hash);

/* Appends hits updated at ts. @returns how many did not fit under max_hits (dropped). */
size_t kos_sessions_append(kos_sessions_t *ss, kos_session_t *s, const kos_hit_t *hits, size_t n,
                           int64_t ts);

void kos_session_view(const kos_session_t *s, kos_session_view_t *out);

/* Remembers s for the next flush (once, however often it is marked). */
void kos_sessions_mark_dirty(kos_sessions_t *ss, kos_session_t *s);
/* Calls fn for each dirty session in the order they became dirty and clears the marks.
 * @returns the number of sessions flushed. */
size_t kos_sessions_flush(kos_sessions_t *ss, kos_session_fn fn, void *arg);
size_t kos_sessions_dirty_count(const kos_sessions_t *ss);

/* Frees sessions whose last update is older than cutoff, in update order; stops at a dirty
 * one (it goes after the next flush). */
void kos_sessions_expire(kos_sessions_t *ss, int64_t cutoff);

size_t kos_sessions_count(const kos_sessions_t *ss);
size_t kos_sessions_bytes(const kos_sessions_t *ss);

#endif
