/* Connection admission for the HTTP servers (the adapter's TLS port, the plain-HTTP ports of
 * kos-processor and kos-datagen). It bounds the connections nobody vouches for yet ("untrusted":
 * before the first request head arrived, or whose peer is anything but the aggregator's front
 * proxy), per client address and in total, and picks which to close when a new connection
 * would exceed a bound: the idle untrusted one of the same address (or, for the total, of any
 * address) whose peer has been silent longest (since its last byte, or since connect if it
 * never sent one; the oldest on a tie), one with input waiting (a request about to be served)
 * only when there is no other. Whether a peer spoke at all is no sign: a flood that completes
 * TLS handshakes and then says nothing has spoken, and a legitimate client slow to send its
 * ClientHello (a loaded node) has not. What a legitimate client does is make progress, so its
 * silences are short, while a flood socket's grows from its last byte on. A flood from one
 * address therefore costs that address its own stalest sockets, while a probe's fresh
 * connection from anywhere still gets through; a connection
 * marked trusted (a verified front-proxy certificate) leaves the accounting altogether, so the
 * aggregator's many connections from one address are never throttled. An untrusted
 * connection that has not delivered a complete request head within pending_timeout_ms (TLS
 * handshake included) is closed at the next admission, whatever bytes it trickles.
 *
 * No sockets here: victims are handed to conf.evict, which must make the connection close
 * (e.g. shutdown(2) on its descriptor). Thread-safe: one mutex; evict is called with it held,
 * so a victim cannot be closed and freed concurrently (kos_connguard_close takes the mutex). */
#ifndef KOS_CONNGUARD_H
#define KOS_CONNGUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct kos_guard_entry_s kos_guard_entry_t;

/* One connection's record, embedded in the caller's per-connection state. The caller sets
 * handle (e.g. the descriptor, for evict); everything else is the guard's. */
struct kos_guard_entry_s {
        int handle;
        /* --- the guard's --- */
        kos_guard_entry_t *all_prev, *all_next;   /* untrusted, oldest first */
        kos_guard_entry_t *addr_prev, *addr_next; /* same address, oldest first */
        struct guard_addr_s *addr;
        int64_t opened_ms;
        int state; /* pending / idle / busy / trusted / evicting */
        int linked;
};

typedef struct {
        int max_per_address;        /* untrusted connections from one address; > 0 */
        int max_untrusted;          /* untrusted connections in total; > 0 */
        int64_t pending_timeout_ms; /* 0 = none */
        /* Makes e's connection close soon; called with the guard's mutex held. */
        void (*evict)(void *arg, kos_guard_entry_t *e);
        /* Whether e's peer is talking: returns 1 when input is waiting to be read; else 0,
         * and may set *silent_ms to the milliseconds since its peer's last byte arrived
         * (since connect if none; left alone, it is e's age). NULL: all 0, silent since
         * connect. Called with the mutex held, on eviction candidates only;
         * kos_connguard_peer_activity does it for a socket handle. */
        int (*activity)(void *arg, const kos_guard_entry_t *e, int64_t *silent_ms);
        void *arg;
} kos_connguard_conf_t;

typedef struct kos_connguard_s kos_connguard_t;

/* @returns a new guard (free with kos_connguard_destroy); aborts when out of memory (xalloc). */
kos_connguard_t *kos_connguard_new(const kos_connguard_conf_t *conf);
/* Entries still linked are forgotten (not evicted). NULL is a no-op. */
void kos_connguard_destroy(kos_connguard_t *g);

/* A new connection from addr: links e (untrusted, pending) and evicts what the bounds and the
 * pending timeout require. When nothing older can make room (every other untrusted connection
 * of the address is busy), e itself is evicted. Returns how many were evicted, e included.
 * -1 when out of memory (e is then not linked; refuse the connection). */
int kos_connguard_open(kos_connguard_t *g, kos_guard_entry_t *e, const struct sockaddr *addr,
                       socklen_t addr_len, int64_t now_ms);
/* A request on e has begun (its head is complete): e is no longer pending, and is not evicted
 * while busy. */
void kos_connguard_request_begin(kos_connguard_t *g, kos_guard_entry_t *e);
/* The request ended (answered or aborted): e is idle again, evictable while untrusted. */
void kos_connguard_request_end(kos_connguard_t *g, kos_guard_entry_t *e);
/* e proved to be the front proxy: it leaves the accounting for good. */
void kos_connguard_trust(kos_connguard_t *g, kos_guard_entry_t *e);
/* e's connection is gone: unlinks it. Safe on an entry never linked. */
void kos_connguard_close(kos_connguard_t *g, kos_guard_entry_t *e);

typedef struct {
        uint64_t untrusted;     /* now */
        uint64_t trusted;       /* now */
        uint64_t addresses;     /* addresses with an untrusted connection now */
        uint64_t evicted_total; /* since start, by reason: */
        uint64_t evicted_per_address, evicted_untrusted, evicted_pending, refused;
} kos_connguard_stats_t;

void kos_connguard_stats(kos_connguard_t *g, kos_connguard_stats_t *st);

/* The activity callback for entries whose handle is a TCP socket: unread input (FIONREAD),
 * else the kernel's time since the last data segment arrived (TCP_INFO tcpi_last_data_recv,
 * counted from the handshake when nothing came). */
int kos_connguard_peer_activity(void *arg, const kos_guard_entry_t *e, int64_t *silent_ms);

/* The evict callback for entries whose handle is a socket the server owns: shutdown(2) makes
 * the server's thread see end-of-stream and close it (the descriptor stays the server's). */
void kos_connguard_shutdown_peer(void *arg, kos_guard_entry_t *e);

#endif
