/* The generator's topic policy (see topics.h) on common's topic administration. */
#include "topics.h"
#include "log.h"
#include "topicadmin.h"

#include <stdio.h>

static int co_partitioned(const kos_topic_info_t t[2])
{
        return !t[0].partitions || !t[1].partitions || t[0].partitions == t[1].partitions;
}

int kos_dg_topics_ensure(rd_kafka_t *rk, const kos_dg_topics_conf_t *tc, char *errstr,
                         size_t errstr_size)
{
        kos_topic_admin_t a;
        kos_topic_info_t t[2] = {{.name = tc->names[0]}, {.name = tc->names[1]}};
        kos_topic_admin_init(&a, rk, tc->timeout_ms);
        if (kos_topic_admin_describe(&a, t, 2, errstr, errstr_size) == -1)
                return -1;
        if (!co_partitioned(t)) {
                snprintf(errstr, errstr_size,
                         "topics %s (%d partitions) and %s (%d partitions) are not co-partitioned; "
                         "the join needs equal counts: use other topics or recreate one",
                         t[0].name, t[0].partitions, t[1].name, t[1].partitions);
                return -1;
        }
        if (!t[0].partitions || !t[1].partitions) {
                const char *missing = !t[0].partitions ? t[0].name : t[1].name;
                if (!tc->create) {
                        snprintf(errstr, errstr_size,
                                 "topic %s does not exist (--no-create-topics)", missing);
                        return -1;
                }
                int want = t[0].partitions   ? t[0].partitions
                           : t[1].partitions ? t[1].partitions
                                             : tc->partitions;
                if (want != tc->partitions)
                        KOS_INFO("topics", "%s exists with %d partitions: creating %s with %d too",
                                 t[0].partitions ? t[0].name : t[1].name, want, missing, want);
                if (kos_topic_admin_create(&a, t, 2, want, tc->replication, errstr, errstr_size) ==
                    -1)
                        return -1;
        }
        int ready = kos_topic_admin_await_leaders(&a, t, 2, errstr, errstr_size);
        /* Another replica may have created one of them a moment ago, with another count. */
        if (!co_partitioned(t)) {
                snprintf(errstr, errstr_size,
                         "topics %s (%d partitions) and %s (%d partitions) are not "
                         "co-partitioned",
                         t[0].name, t[0].partitions, t[1].name, t[1].partitions);
                return -1;
        }
        return ready == -1 ? -1 : t[0].partitions;
}
