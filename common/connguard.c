/* Connection admission: per-address and total bounds on untrusted connections, oldest idle
 * evicted first (see connguard.h). */
#include "connguard.h"
#include "xalloc.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

enum { PENDING = 1, IDLE, BUSY, TRUSTED, EVICTING };

/* The untrusted connections of one client address. */
typedef struct guard_addr_s {
        unsigned char key[17]; /* family byte + address */
        size_t key_len;
        int counted;                    /* untrusted and not being evicted */
        kos_guard_entry_t *head, *tail; /* every untrusted entry, evicting ones too */
        struct guard_addr_s *next;      /* hash chain */
} guard_addr_t;

struct kos_connguard_s {
        kos_connguard_conf_t conf;
        pthread_mutex_t lock;
        guard_addr_t *buckets[BUCKETS];
        kos_guard_entry_t *head, *tail; /* untrusted, oldest first */
        int counted;
        kos_connguard_stats_t st;
};

kos_connguard_t *kos_connguard_new(const kos_connguard_conf_t *conf)
{
        kos_connguard_t *g = kos_xcalloc(1, sizeof(*g));
        g->conf = *conf;
        if (g->conf.max_per_address < 1)
                g->conf.max_per_address = 1;
        if (g->conf.max_untrusted < 1)
                g->conf.max_untrusted = 1;
        pthread_mutex_init(&g->lock, NULL);
        return g;
}

void kos_connguard_destroy(kos_connguard_t *g)
{
        if (!g)
                return;
        for (int i = 0; i < BUCKETS; i++) {
                guard_addr_t *a = g->buckets[i];
                while (a) {
                        guard_addr_t *next = a->next;
                        free(a);
                        a = next;
                }
        }
        pthread_mutex_destroy(&g->lock);
        free(g);
}

/* An IPv4-mapped IPv6 address counts as the IPv4 address (dual-stack listeners). */
static size_t addr_key(const struct sockaddr *sa, socklen_t len, unsigned char key[17])
{
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (sa && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
                key[0] = 4;
                memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
                return 5;
        }
        if (sa && sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
                const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
                if (memcmp(b, mapped, 12) == 0) {
                        key[0] = 4;
                        memcpy(key + 1, b + 12, 4);
                        return 5;
                }
                key[0] = 6;
                memcpy(key + 1, b, 16);
                return 17;
        }
        key[0] = 0; /* unix sockets and the like: one shared bucket */
        return 1;
}

static size_t bucket_of(const unsigned char *key, size_t len)
{
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < len; i++)
                h = (h ^ key[i]) * 16777619u;
        return h % BUCKETS;
}

static guard_addr_t *addr_get(kos_connguard_t *g, const unsigned char *key, size_t len)
{
        size_t b = bucket_of(key, len);
        for (guard_addr_t *a = g->buckets[b]; a; a = a->next)
                if (a->key_len == len && memcmp(a->key, key, len) == 0)
                        return a;
        guard_addr_t *a = kos_xcalloc(1, sizeof(*a));
        memcpy(a->key, key, len);
        a->key_len = len;
        a->next = g->buckets[b];
        g->buckets[b] = a;
        g->st.addresses++;
        return a;
}

static void addr_free_if_empty(kos_connguard_t *g, guard_addr_t *a)
{
        if (a->head)
                return;
        guard_addr_t **pp = &g->buckets[bucket_of(a->key, a->key_len)];
        while (*pp && *pp != a)
                pp = &(*pp)->next;
        if (*pp)
                *pp = a->next;
        g->st.addresses--;
        free(a);
}

static void unlink_untrusted(kos_connguard_t *g, kos_guard_entry_t *e)
{
        guard_addr_t *a = e->addr;
        if (e->all_prev)
                e->all_prev->all_next = e->all_next;
        else
                g->head = e->all_next;
        if (e->all_next)
                e->all_next->all_prev = e->all_prev;
        else
                g->tail = e->all_prev;
        if (e->addr_prev)
                e->addr_prev->addr_next = e->addr_next;
        else
                a->head = e->addr_next;
        if (e->addr_next)
                e->addr_next->addr_prev = e->addr_prev;
        else
                a->tail = e->addr_prev;
        e->all_prev = e->all_next = e->addr_prev = e->addr_next = NULL;
        if (e->state != EVICTING) {
                a->counted--;
                g->counted--;
        }
        e->addr = NULL;
        addr_free_if_empty(g, a);
}

static void evict(kos_connguard_t *g, kos_guard_entry_t *e, uint64_t *reason)
{
        e->state = EVICTING;
        e->addr->counted--;
        g->counted--;
        g->st.evicted_total++;
        (*reason)++;
        if (g->conf.evict)
                g->conf.evict(g->conf.arg, e);
}

static int evictable(const kos_guard_entry_t *e)
{
        return e->state == PENDING || e->state == IDLE;
}

/* The evictable entry other than e, following the list from first (oldest first), whose peer
 * has been silent longest, one with input waiting only when no other is left; the oldest on a
 * tie. A peer is never silent for longer than its connection is old, so the walk stops at the
 * first entry younger than the longest silence found. */
static kos_guard_entry_t *pick(kos_connguard_t *g, kos_guard_entry_t *first, int by_addr,
                               const kos_guard_entry_t *e, int64_t now_ms)
{
        kos_guard_entry_t *best = NULL;
        int best_unread = 1;
        int64_t best_silent = -1;
        for (kos_guard_entry_t *v = first; v; v = by_addr ? v->addr_next : v->all_next) {
                int64_t age = now_ms - v->opened_ms;
                if (best && !best_unread && age < best_silent)
                        break;
                if (v == e || !evictable(v))
                        continue;
                int64_t silent = age;
                int unread = g->conf.activity ? g->conf.activity(g->conf.arg, v, &silent) : 0;
                if (silent > age) /* the kernel's clock ticks coarser than ours */
                        silent = age;
                if (!best || (unread < best_unread) ||
                    (unread == best_unread && silent > best_silent)) {
                        best = v;
                        best_unread = unread;
                        best_silent = silent;
                }
        }
        return best;
}

int kos_connguard_open(kos_connguard_t *g, kos_guard_entry_t *e, const struct sockaddr *addr,
                       socklen_t addr_len, int64_t now_ms)
{
        unsigned char key[17];
        size_t len = addr_key(addr, addr_len, key);
        pthread_mutex_lock(&g->lock);
        guard_addr_t *a = addr_get(g, key, len);
        if (!a) {
                pthread_mutex_unlock(&g->lock);
                return -1;
        }
        e->all_prev = g->tail;
        e->all_next = NULL;
        if (g->tail)
                g->tail->all_next = e;
        else
                g->head = e;
        g->tail = e;
        e->addr_prev = a->tail;
        e->addr_next = NULL;
        if (a->tail)
                a->tail->addr_next = e;
        else
                a->head = e;
        a->tail = e;
        e->addr = a;
        e->opened_ms = now_ms;
        e->state = PENDING;
        e->linked = 1;
        a->counted++;
        g->counted++;

        int n = 0;
        /* Oldest first: past the first young entry nothing is overdue. */
        for (kos_guard_entry_t *v = g->head; v && g->conf.pending_timeout_ms > 0; v = v->all_next) {
                if (v->opened_ms + g->conf.pending_timeout_ms > now_ms)
                        break;
                if (v->state == PENDING && v != e) {
                        evict(g, v, &g->st.evicted_pending);
                        n++;
                }
        }
        while (e->state != EVICTING && a->counted > g->conf.max_per_address) {
                kos_guard_entry_t *v = pick(g, a->head, 1, e, now_ms);
                evict(g, v ? v : e, v ? &g->st.evicted_per_address : &g->st.refused);
                n++;
        }
        while (e->state != EVICTING && g->counted > g->conf.max_untrusted) {
                kos_guard_entry_t *v = pick(g, g->head, 0, e, now_ms);
                evict(g, v ? v : e, v ? &g->st.evicted_untrusted : &g->st.refused);
                n++;
        }
        pthread_mutex_unlock(&g->lock);
        return n;
}

void kos_connguard_request_begin(kos_connguard_t *g, kos_guard_entry_t *e)
{
        pthread_mutex_lock(&g->lock);
        if (e->state == PENDING || e->state == IDLE)
                e->state = BUSY;
        pthread_mutex_unlock(&g->lock);
}

void kos_connguard_request_end(kos_connguard_t *g, kos_guard_entry_t *e)
{
        pthread_mutex_lock(&g->lock);
        if (e->state == BUSY)
                e->state = IDLE;
        pthread_mutex_unlock(&g->lock);
}

void kos_connguard_trust(kos_connguard_t *g, kos_guard_entry_t *e)
{
        pthread_mutex_lock(&g->lock);
        if (e->linked && e->state != TRUSTED && e->state != EVICTING) {
                unlink_untrusted(g, e);
                e->state = TRUSTED;
                g->st.trusted++;
        }
        pthread_mutex_unlock(&g->lock);
}

void kos_connguard_close(kos_connguard_t *g, kos_guard_entry_t *e)
{
        pthread_mutex_lock(&g->lock);
        if (e->linked) {
                if (e->state == TRUSTED)
                        g->st.trusted--;
                else
                        unlink_untrusted(g, e);
                e->linked = 0;
                e->state = 0;
        }
        pthread_mutex_unlock(&g->lock);
}

void kos_connguard_stats(kos_connguard_t *g, kos_connguard_stats_t *st)
{
        pthread_mutex_lock(&g->lock);
        *st = g->st;
        st->untrusted = (uint64_t)g->counted;
        pthread_mutex_unlock(&g->lock);
}

int kos_connguard_peer_activity(void *arg, const kos_guard_entry_t *e, int64_t *silent_ms)
{
        (void)arg;
        int n = 0;
        if (ioctl(e->handle, FIONREAD, &n) == 0 && n > 0)
                return 1;
        struct tcp_info ti;
        socklen_t len = sizeof(ti);
        memset(&ti, 0, sizeof(ti));
        if (getsockopt(e->handle, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
            len >= offsetof(struct tcp_info, tcpi_last_data_recv) + sizeof(ti.tcpi_last_data_recv))
                *silent_ms = ti.tcpi_last_data_recv;
        return 0;
}

void kos_connguard_shutdown_peer(void *arg, kos_guard_entry_t *e)
{
        (void)arg;
        shutdown(e->handle, SHUT_RDWR);
}
