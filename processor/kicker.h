/* Wakes librdkafka 2.0.2's fetcher for partitions it has stopped fetching (task.h says why):
 * a ListOffsets request for a partition goes to its leader, and any request to send wakes
 * that broker thread, which then decides again which of its partitions to fetch. The
 * requests go out from a thread of their own, so the poll loop never waits for them, at most
 * one round every few milliseconds (one small request per leader), so a backlog costs a few
 * hundred tiny requests a second and a caught-up consumer none. Nothing is paused, resumed
 * or sought: in librdkafka 2.0.2 each of those purges the fetched records and fetches again.
 *
 * Threads: kos_kicker_want is called from the poll thread; the rest from the main thread. */
#ifndef KOS_PROC_KICKER_H
#define KOS_PROC_KICKER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kos_kicker_s kos_kicker_t;

/* Starts the kicker thread for partitions [0, n_partitions) of topics[0] and topics[1]
 * (borrowed: they and consumer outlive the kicker). @returns NULL with errstr set on
 * failure. */
kos_kicker_t *kos_kicker_new(rd_kafka_t *consumer, const char *const topics[2], int n_partitions,
                             char *errstr, size_t errstr_size);

/* Asks for a wake-up of the broker thread that fetches partition of topics[side]; cheap and
 * non-blocking. Requests made while a round is pending are merged into it. */
void kos_kicker_want(kos_kicker_t *k, int side, int32_t partition);

/* Wake-up rounds sent so far. */
uint64_t kos_kicker_rounds(const kos_kicker_t *k);

/* Stops and joins the thread (before the consumer closes); later wants are ignored. */
void kos_kicker_stop(kos_kicker_t *k);

/* Stops it if running and frees it. NULL is a no-op. */
void kos_kicker_destroy(kos_kicker_t *k);

#endif
