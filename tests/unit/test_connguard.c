/* Unit tests for common/connguard.c: which connections a flood costs (the oldest idle
 * untrusted ones of the flooding address, then of all), that busy and trusted connections are
 * never chosen, the pending (handshake) timeout, and the bookkeeping through close. */
#include "connguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"

#define MAXE 64

static kos_guard_entry_t *evicted[256];
static int n_evicted;

static void on_evict(void *arg, kos_guard_entry_t *e)
{
        (void)arg;
        evicted[n_evicted++] = e;
}

static struct sockaddr_in v4(const char *ip)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(1234)};
        inet_pton(AF_INET, ip, &sa.sin_addr);
        return sa;
}

static int open4(kos_connguard_t *g, kos_guard_entry_t *e, const char *ip, int64_t now)
{
        struct sockaddr_in sa = v4(ip);
        return kos_connguard_open(g, e, (struct sockaddr *)&sa, sizeof(sa), now);
}

static int was_evicted(const kos_guard_entry_t *e)
{
        for (int i = 0; i < n_evicted; i++)
                if (evicted[i] == e)
                        return 1;
        return 0;
}

static kos_connguard_t *guard(int per_addr, int total, int64_t pending_ms)
{
        n_evicted = 0;
        kos_connguard_conf_t c = {.max_per_address = per_addr,
                                  .max_untrusted = total,
                                  .pending_timeout_ms = pending_ms,
                                  .evict = on_evict};
        return kos_connguard_new(&c);
}

static void test_per_address_oldest_idle_first(void)
{
        kos_guard_entry_t e[MAXE];
        memset(e, 0, sizeof(e));
        kos_connguard_t *g = guard(3, 100, 0);
        for (int i = 0; i < 3; i++)
                CHECK_INT(open4(g, &e[i], "10.0.0.1", i), 0);
        /* the fourth from the same address costs the oldest */
        CHECK_INT(open4(g, &e[3], "10.0.0.1", 3), 1);
        CHECK(was_evicted(&e[0]));
        /* a busy connection is skipped: e[1] serves a request, e[2] goes */
        kos_connguard_request_begin(g, &e[1]);
        CHECK_INT(open4(g, &e[4], "10.0.0.1", 4), 1);
        CHECK(was_evicted(&e[2]) && !was_evicted(&e[1]));
        /* another address is untouched by this one's flood */
        CHECK_INT(open4(g, &e[5], "10.0.0.2", 5), 0);
        for (int i = 6; i < 30; i++)
                open4(g, &e[i], "10.0.0.1", i);
        CHECK(!was_evicted(&e[5]) && !was_evicted(&e[1]));
        kos_connguard_stats_t st;
        kos_connguard_stats(g, &st);
        CHECK_INT(st.untrusted, 4); /* 3 of 10.0.0.1 + 1 of 10.0.0.2 */
        CHECK_INT(st.addresses, 2);
        CHECK_INT(st.evicted_per_address, n_evicted);
        /* after the request e[1] is idle again, and the oldest: the next one takes it */
        kos_connguard_request_end(g, &e[1]);
        CHECK_INT(open4(g, &e[30], "10.0.0.1", 30), 1);
        CHECK(was_evicted(&e[1]));
        for (int i = 0; i < 31; i++)
                kos_connguard_close(g, &e[i]);
        kos_connguard_stats(g, &st);
        CHECK_INT(st.untrusted, 0);
        CHECK_INT(st.addresses, 0);
        kos_connguard_destroy(g);
}

static void test_all_busy_refuses_the_newcomer(void)
{
        kos_guard_entry_t e[4];
        memset(e, 0, sizeof(e));
        kos_connguard_t *g = guard(2, 100, 0);
        open4(g, &e[0], "10.0.0.1", 0);
        open4(g, &e[1], "10.0.0.1", 1);
        kos_connguard_request_begin(g, &e[0]);
        kos_connguard_request_begin(g, &e[1]);
        CHECK_INT(open4(g, &e[2], "10.0.0.1", 2), 1);
        CHECK(was_evicted(&e[2]) && !was_evicted(&e[0]) && !was_evicted(&e[1]));
        kos_connguard_stats_t st;
        kos_connguard_stats(g, &st);
        CHECK_INT(st.refused, 1);
        CHECK_INT(st.untrusted, 2);
        /* an evicted entry's later request calls change nothing */
        kos_connguard_request_begin(g, &e[2]);
        kos_connguard_trust(g, &e[2]);
        kos_connguard_stats(g, &st);
        CHECK_INT(st.trusted, 0);
        for (int i = 0; i < 3; i++)
                kos_connguard_close(g, &e[i]);
        kos_connguard_close(g, &e[3]); /* never opened */
        kos_connguard_destroy(g);
}

/* The aggregator: one address, many connections, none of them counted once trusted. */
static void test_trusted_connections_are_not_counted(void)
{
        kos_guard_entry_t e[MAXE];
        memset(e, 0, sizeof(e));
        kos_connguard_t *g = guard(2, 4, 0);
        for (int i = 0; i < 40; i++) {
                CHECK_INT(open4(g, &e[i], "10.0.0.9", i), 0);
                kos_connguard_request_begin(g, &e[i]);
                kos_connguard_trust(g, &e[i]);
                kos_connguard_request_end(g, &e[i]);
        }
        CHECK_INT(n_evicted, 0);
        kos_connguard_stats_t st;
        kos_connguard_stats(g, &st);
        CHECK_INT(st.trusted, 40);
        CHECK_INT(st.untrusted, 0);
        /* a flood from the same address costs only its own untrusted sockets */
        for (int i = 40; i < 60; i++)
                open4(g, &e[i], "10.0.0.9", i);
        for (int i = 0; i < 40; i++)
                CHECK(!was_evicted(&e[i]));
        kos_connguard_stats(g, &st);
        CHECK_INT(st.untrusted, 2);
        for (int i = 0; i < 60; i++)
                kos_connguard_close(g, &e[i]);
        kos_connguard_stats(g, &st);
        CHECK_INT(st.trusted, 0);
        CHECK_INT(st.untrusted, 0);
        kos_connguard_destroy(g);
}

static void test_total_bound_takes_the_oldest_anywhere(void)
{
        kos_guard_entry_t e[8];
        memset(e, 0, sizeof(e));
        kos_connguard_t *g = guard(10, 3, 0);
        open4(g, &e[0], "10.0.0.1", 0);
        open4(g, &e[1], "10.0.0.2", 1);
        open4(g, &e[2], "10.0.0.3", 2);
        kos_connguard_request_begin(g, &e[0]);
        CHECK_INT(open4(g, &e[3], "10.0.0.4", 3), 1);
        CHECK(was_evicted(&e[1])); /* e[0] is busy */
        for (int i = 0; i < 4; i++)
                kos_connguard_close(g, &e[i]);
        kos_connguard_destroy(g);
}

static void test_pending_timeout(void)
{
        kos_guard_entry_t e[4];
        memset(e, 0, sizeof(e));
        kos_connguard_t *g = guard(10, 10, 1000);
        open4(g, &e[0], "10.0.0.1", 0); /* never sends a request head */
        open4(g, &e[1], "10.0.0.2", 0); /* does */
        kos_connguard_request_begin(g, &e[1]);
        kos_connguard_request_end(g, &e[1]);
        CHECK_INT(open4(g, &e[2], "10.0.0.3", 999), 0); /* not yet */
        CHECK_INT(open4(g, &e[3], "10.0.0.3", 1000), 1);
        CHECK(was_evicted(&e[0]) && !was_evicted(&e[1]) && !was_evicted(&e[2]));
        kos_connguard_stats_t st;
        kos_connguard_stats(g, &st);
        CHECK_INT(st.evicted_pending, 1);
        for (int i = 0; i < 4; i++)
                kos_connguard_close(g, &e[i]);
        kos_connguard_destroy(g);
}

static kos_guard_entry_t *talking;

static int has_input(void *arg, const kos_guard_entry_t *e, int64_t *silent_ms)
{
        (void)arg;
        (void)silent_ms;
        return e == talking;
}

/* A client whose request is waiting to be read is passed over for a silent one. */
static void test_talking_peer_is_spared(void)
{
        kos_guard_entry_t e[4];
        memset(e, 0, sizeof(e));
        n_evicted = 0;
        kos_connguard_conf_t c = {
            .max_per_address = 2, .max_untrusted = 10, .evict = on_evict, .activity = has_input};
        kos_connguard_t *g = kos_connguard_new(&c);
        open4(g, &e[0], "10.0.0.1", 0);
        open4(g, &e[1], "10.0.0.1", 100);
        talking = &e[0];
        CHECK_INT(open4(g, &e[2], "10.0.0.1", 200), 1);
        CHECK(!was_evicted(&e[0]) && was_evicted(&e[1]));
        /* only talking ones left: the oldest of them goes */
        talking = NULL;
        kos_connguard_request_begin(g, &e[2]);
        talking = &e[0];
        CHECK_INT(open4(g, &e[3], "10.0.0.1", 300), 1);
        CHECK(was_evicted(&e[0]));
        talking = NULL;
        for (int i = 0; i < 4; i++)
                kos_connguard_close(g, &e[i]);
        kos_connguard_destroy(g);
}

/* The peers' last bytes, as the kernel would report them: spoke_at[i] for e_base[i], -1 none. */
static const kos_guard_entry_t *e_base;
static int64_t spoke_at[8];
static int64_t clock_ms;

static int last_byte(void *arg, const kos_guard_entry_t *e, int64_t *silent_ms)
{
        (void)arg;
        int64_t t = spoke_at[e - e_base];
        if (t >= 0)
                *silent_ms = clock_ms - t;
        return 0;
}

static int open_at(kos_connguard_t *g, kos_guard_entry_t *e, int64_t now)
{
        clock_ms = now;
        return open4(g, e, "10.0.0.1", now);
}

static kos_connguard_t *silence_guard(kos_guard_entry_t *e, int n)
{
        memset(e, 0, sizeof(*e) * (size_t)n);
        e_base = e;
        for (int i = 0; i < 8; i++)
                spoke_at[i] = -1;
        n_evicted = 0;
        kos_connguard_conf_t c = {
            .max_per_address = 2, .max_untrusted = 10, .evict = on_evict, .activity = last_byte};
        return kos_connguard_new(&c);
}

/* A flood that completes TLS handshakes and then says nothing, against a client slow to send
 * its ClientHello (a loaded node: 20 ms after connect): the socket silent longest goes, not
 * the one that has not spoken yet. Once the client has spoken it is spared again for as long
 * as its silences are shorter than the flood's. (Before: never-spoken ranked first after a
 * 10 ms grace, and the probe was evicted here.) */
static void test_longest_silence_goes_first(void)
{
        kos_guard_entry_t e[8];
        kos_connguard_t *g = silence_guard(e, 8);
        open_at(g, &e[0], 0);   /* the flood's */
        spoke_at[0] = 2;        /* its handshake, then nothing */
        open_at(g, &e[1], 100); /* a probe, no ClientHello yet */
        CHECK_INT(open_at(g, &e[2], 120), 1);
        CHECK(was_evicted(&e[0]) && !was_evicted(&e[1]));
        spoke_at[2] = 122; /* the flood's next handshake */
        spoke_at[1] = 125; /* the probe's ClientHello, at last */
        CHECK_INT(open_at(g, &e[3], 140), 1);
        CHECK(was_evicted(&e[2]) && !was_evicted(&e[1]));
        /* a probe that then stalls for good is the stalest in its turn */
        spoke_at[3] = 142;
        CHECK_INT(open_at(g, &e[4], 1000), 1);
        CHECK(was_evicted(&e[1]) && !was_evicted(&e[3]));
        for (int i = 0; i < 8; i++)
                kos_connguard_close(g, &e[i]);
        kos_connguard_destroy(g);
}

/* Silent since connect, with no activity callback: the oldest goes (TCP floods). */
static void test_silence_without_callback_is_age(void)
{
        kos_guard_entry_t e[4];
        memset(e, 0, sizeof(e));
        kos_connguard_t *g = guard(2, 10, 0);
        open4(g, &e[0], "10.0.0.1", 5);
        open4(g, &e[1], "10.0.0.1", 5); /* the same millisecond: list order decides */
        CHECK_INT(open4(g, &e[2], "10.0.0.1", 6), 1);
        CHECK(was_evicted(&e[0]) && !was_evicted(&e[1]));
        for (int i = 0; i < 3; i++)
                kos_connguard_close(g, &e[i]);
        kos_connguard_destroy(g);
}

static void test_address_forms(void)
{
        kos_guard_entry_t e[4];
        memset(e, 0, sizeof(e));
        kos_connguard_t *g = guard(1, 10, 0);
        struct sockaddr_in6 m = {.sin6_family = AF_INET6};
        inet_pton(AF_INET6, "::ffff:10.0.0.1", &m.sin6_addr);
        open4(g, &e[0], "10.0.0.1", 0);
        /* the same client over a dual-stack socket is the same address */
        CHECK_INT(kos_connguard_open(g, &e[1], (struct sockaddr *)&m, sizeof(m), 1), 1);
        CHECK(was_evicted(&e[0]));
        struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
        inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
        CHECK_INT(kos_connguard_open(g, &e[2], (struct sockaddr *)&v6, sizeof(v6), 2), 0);
        /* a truncated address does not crash: it lands in the shared "other" bucket */
        CHECK_INT(kos_connguard_open(g, &e[3], (struct sockaddr *)&v6, 4, 3), 0);
        for (int i = 0; i < 4; i++)
                kos_connguard_close(g, &e[i]);
        kos_connguard_destroy(g);
}

int main(void)
{
        test_per_address_oldest_idle_first();
        test_all_busy_refuses_the_newcomer();
        test_trusted_connections_are_not_counted();
        test_total_bound_takes_the_oldest_anywhere();
        test_pending_timeout();
        test_talking_peer_is_spared();
        test_longest_silence_goes_first();
        test_silence_without_callback_is_age();
        test_address_forms();
        return check_result("connguard");
}
