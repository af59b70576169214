/* The fetcher wake-ups (see kicker.h). */
#include "kicker.h"
#include "clock.h"
#include "xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KICK_INTERVAL_MS 5    /* between rounds: a refetch takes about that long anyway */
#define KICK_TIMEOUT_MS  2000 /* per round; the answer itself is not needed */

struct kos_kicker_s {
        rd_kafka_t *consumer;
        const char *topics[2];
        int n;
        pthread_t thread;
        int started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        unsigned char *pending; /* [2 * n], under lock */
        int any_pending;        /* under lock */
        int stop;               /* under lock */
        atomic_ullong rounds;
};

static int take_pending(kos_kicker_t *k, rd_kafka_topic_partition_list_t *l)
{
        for (int s = 0; s < 2; s++)
                for (int i = 0; i < k->n; i++)
                        if (k->pending[s * k->n + i]) {
                                k->pending[s * k->n + i] = 0;
                                rd_kafka_topic_partition_list_add(l, k->topics[s], i)->offset =
                                    RD_KAFKA_OFFSET_END;
                        }
        k->any_pending = 0;
        return l->cnt;
}

/* The condition variable waits on the monotonic clock (kos_kicker_new), so a step of the
 * system time cannot stretch the pause. */
static void sleep_ms(kos_kicker_t *k, int ms)
{
        int64_t until = kos_mono_ns() + (int64_t)ms * 1000000;
        struct timespec ts = {(time_t)(until / 1000000000), (long)(until % 1000000000)};
        pthread_mutex_lock(&k->lock);
        while (!k->stop && pthread_cond_timedwait(&k->cond, &k->lock, &ts) != ETIMEDOUT)
                ;
        pthread_mutex_unlock(&k->lock);
}

static void *run(void *arg)
{
        kos_kicker_t *k = arg;
        for (;;) {
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
                pthread_mutex_lock(&k->lock);
                while (!k->stop && !k->any_pending)
                        pthread_cond_wait(&k->cond, &k->lock);
                int stop = k->stop;
                if (!stop)
                        take_pending(k, l);
                pthread_mutex_unlock(&k->lock);
                if (stop) {
                        rd_kafka_topic_partition_list_destroy(l);
                        return NULL;
                }
                /* The request is the point; its answer (end offsets) is not used. */
                rd_kafka_offsets_for_times(k->consumer, l, KICK_TIMEOUT_MS);
                rd_kafka_topic_partition_list_destroy(l);
                atomic_fetch_add_explicit(&k->rounds, 1, memory_order_relaxed);
                sleep_ms(k, KICK_INTERVAL_MS);
        }
}

kos_kicker_t *kos_kicker_new(rd_kafka_t *consumer, const char *const topics[2], int n_partitions,
                             char *errstr, size_t errstr_size)
{
        kos_kicker_t *k = kos_xcalloc(1, sizeof(*k));
        k->pending = kos_xcalloc(2 * (size_t)n_partitions, 1);
        k->consumer = consumer;
        k->topics[0] = topics[0];
        k->topics[1] = topics[1];
        k->n = n_partitions;
        pthread_mutex_init(&k->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&k->cond, &ca);
        pthread_condattr_destroy(&ca);
        int err = pthread_create(&k->thread, NULL, run, k);
        if (err) {
                snprintf(errstr, errstr_size, "starting the fetch kicker thread: %s",
                         strerror(err));
                kos_kicker_destroy(k);
                return NULL;
        }
        k->started = 1;
        return k;
}

void kos_kicker_want(kos_kicker_t *k, int side, int32_t partition)
{
        if (!k || side < 0 || side > 1 || partition < 0 || partition >= k->n)
                return;
        pthread_mutex_lock(&k->lock);
        if (!k->stop && !k->pending[side * k->n + partition]) {
                k->pending[side * k->n + partition] = 1;
                if (!k->any_pending) {
                        k->any_pending = 1;
                        pthread_cond_signal(&k->cond);
                }
        }
        pthread_mutex_unlock(&k->lock);
}

uint64_t kos_kicker_rounds(const kos_kicker_t *k)
{
        return k ? atomic_load_explicit(&k->rounds, memory_order_relaxed) : 0;
}

void kos_kicker_stop(kos_kicker_t *k)
{
        if (!k)
                return;
        pthread_mutex_lock(&k->lock);
        k->stop = 1;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->lock);
        if (k->started) {
                pthread_join(k->thread, NULL);
                k->started = 0;
        }
}

void kos_kicker_destroy(kos_kicker_t *k)
{
        if (!k)
                return;
        kos_kicker_stop(k);
        pthread_mutex_destroy(&k->lock);
        pthread_cond_destroy(&k->cond);
        free(k->pending);
        free(k);
}
