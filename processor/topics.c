/* The processor's topic policy (see topics.h) on common's topic administration. */
#include "topics.h"
#include "clock.h"
#include "log.h"
#include "topicadmin.h"

#include <stdio.h>
#include <time.h>

#define WAIT_POLL_MS 500
#define WAIT_LOG_MS  10000

/* One metadata request for the three topics, bounded by the connect timeout. */
static int describe(rd_kafka_t *rk, const kos_proc_conf_t *c, kos_topic_info_t t[KOS_T_ALL],
                    char *errstr, size_t errstr_size)
{
        kos_topic_admin_t a;
        kos_topic_admin_init(&a, rk, (int)c->connect_timeout_ms);
        return kos_topic_admin_describe(&a, t, KOS_T_ALL, errstr, errstr_size);
}

int kos_proc_topics_setup(rd_kafka_t *rk, const kos_proc_conf_t *c, volatile sig_atomic_t *stop,
                          char *errstr, size_t errstr_size)
{
        kos_topic_info_t t[KOS_T_ALL];
        for (int k = 0; k < KOS_T_ALL; k++)
                t[k] = (kos_topic_info_t){.name = c->topics[k]};
        kos_topic_info_t *rq = &t[KOS_T_REQUESTS], *rs = &t[KOS_T_RESPONSES];
        kos_topic_info_t *out = &t[KOS_T_SESSIONS];
        if (describe(rk, c, t, errstr, errstr_size) == -1)
                return -1;
        /* The inputs are someone else's to create (kos-datagen, an operator): wait for them. */
        int64_t last_log = 0;
        while (!rq->partitions || !rs->partitions) {
                if (*stop)
                        return 0;
                if (!last_log || kos_mono_ms() - last_log >= WAIT_LOG_MS) {
                        KOS_WARN("topics", "waiting for input topic %s to exist",
                                 !rq->partitions ? rq->name : rs->name);
                        last_log = kos_mono_ms();
                }
                struct timespec ts = {0, WAIT_POLL_MS * 1000000L};
                nanosleep(&ts, NULL);
                if (describe(rk, c, t, errstr, errstr_size) == -1)
                        KOS_WARN("topics", "%s", errstr);
        }
        if (rq->partitions != rs->partitions) {
                snprintf(errstr, errstr_size,
                         "input topics are not co-partitioned: %s has %d partitions and %s has "
                         "%d; the join pairs partition p of each, so both need the same count "
                         "(recreate one, or use --requests-topic/--responses-topic)",
                         rq->name, rq->partitions, rs->name, rs->partitions);
                return -1;
        }
        if (!out->partitions) {
                if (!c->create_topics) {
                        snprintf(errstr, errstr_size,
                                 "output topic %s does not exist (--no-create-topics)", out->name);
                        return -1;
                }
                kos_topic_admin_t a;
                kos_topic_admin_init(&a, rk, (int)c->connect_timeout_ms);
                if (kos_topic_admin_create(&a, out, 1, rq->partitions, c->replication, errstr,
                                           errstr_size) == -1 ||
                    kos_topic_admin_await_leaders(&a, out, 1, errstr, errstr_size) == -1)
                        return -1;
        }
        return rq->partitions;
}
