/* The structure under a task's state, shared by the join buffers (window.c) and the session
 * store (sessions.c): a chained hash table over key bytes whose entries also sit in an expiry
 * queue. The queue holds (entry, timestamp) pairs in the order they were pushed; expiry takes
 * pairs from its head while they are older than a cutoff. A task processes its records nearly
 * in timestamp order (task.h), so push order is nearly timestamp order and expiry costs O(1)
 * per entry without a heap; an entry pushed out of order merely waits behind older ones.
 *
 * Intrusive: the caller's entry structs embed a kos_kt_node_t, and the table links and
 * unlinks them but never allocates or frees them. An entry may be in the queue several times
 * (the session store pushes a session again at each newer update and skips pairs whose time
 * is no longer the session's). Keys are compared by the caller, who knows where they live.
 * Not thread-safe: one task, one thread. */
#ifndef KOS_PROC_KEYTABLE_H
#define KOS_PROC_KEYTABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct kos_kt_node_s {
        struct kos_kt_node_s *next; /* the hash chain: the table's */
        uint64_t hash;
} kos_kt_node_t;

/* The entry struct of type holding node as member. */
#define KOS_KT_ENTRY(node, type, member) ((type *)(void *)((char *)(node)-offsetof(type, member)))

typedef struct {
        kos_kt_node_t *node;
        int64_t ts;
} kos_kt_stamp_t;

/* Zeroed, then kos_kt_init. */
typedef struct {
        kos_kt_node_t **buckets;
        size_t n_buckets;      /* a power of two; doubles when count reaches twice it */
        size_t count;          /* linked entries */
        kos_kt_stamp_t *queue; /* a ring of queue_cap, a power of two */
        size_t queue_cap, queue_head, queue_len;
} kos_keytable_t;

/* 64-bit hash of key bytes (FNV-1a): both stores and their callers hash keys with it. */
uint64_t kos_key_hash(const void *key, size_t len);

void kos_kt_init(kos_keytable_t *t);
/* Frees the table's arrays; the entries are the caller's. */
void kos_kt_free(kos_keytable_t *t);

/* Links n under hash (n must not be linked). */
void kos_kt_link(kos_keytable_t *t, kos_kt_node_t *n, uint64_t hash);
/* Unlinks n (a no-op when it is not linked). */
void kos_kt_unlink(kos_keytable_t *t, kos_kt_node_t *n);
/* The first entry of hash's chain: walk ->next, comparing ->hash and the key. */
kos_kt_node_t *kos_kt_chain(const kos_keytable_t *t, uint64_t hash);

/* Appends (n, ts) to the queue. */
void kos_kt_push(kos_keytable_t *t, kos_kt_node_t *n, int64_t ts);
/* The oldest pair in the queue (valid until the next push or pop), NULL when it is empty. */
const kos_kt_stamp_t *kos_kt_head(const kos_keytable_t *t);
/* Drops the head pair. */
void kos_kt_pop(kos_keytable_t *t);

/* Bytes of the buckets and the queue (not the entries). */
size_t kos_kt_bytes(const kos_keytable_t *t);

#endif
