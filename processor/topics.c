/* Topic checks and output creation (see topics.h). Metadata is asked for all topics, not by
 * name, so a broker that auto-creates topics cannot create an input with the wrong count. */
#include "topics.h"
#include "clock.h"
#include "log.h"
#include "proc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Partition counts of the three topics (0 = missing). -1 with errstr on a metadata error. */
static int describe(rd_kafka_t *rk, const kos_proc_conf_t *c, int timeout_ms, int count[KOS_T_ALL],
                    char *errstr, size_t errstr_size)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
        if (err) {
                snprintf(errstr, errstr_size, "cannot get metadata from Kafka within %d ms: %s",
                         timeout_ms, rd_kafka_err2str(err));
                return -1;
        }
        for (int k = 0; k < KOS_T_ALL; k++)
                count[k] = 0;
        for (int i = 0; i < md->topic_cnt; i++)
                for (int k = 0; k < KOS_T_ALL; k++)
                        if (!strcmp(md->topics[i].topic, c->topics[k]) && !md->topics[i].err)
                                count[k] = md->topics[i].partition_cnt;
        rd_kafka_metadata_destroy(md);
        return 0;
}

static int create_output(rd_kafka_t *rk, const kos_proc_conf_t *c, int partitions, char *errstr,
                         size_t errstr_size)
{
        char err[256];
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(c->topics[KOS_T_SESSIONS], partitions,
                                                        c->replication, err, sizeof(err));
        if (!nt) {
                snprintf(errstr, errstr_size, "topic %s: %s", c->topics[KOS_T_SESSIONS], err);
                return -1;
        }
        KOS_INFO("topics", "creating %s with %d partitions", c->topics[KOS_T_SESSIONS], partitions);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opt =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        int timeout = (int)c->connect_timeout_ms;
        rd_kafka_AdminOptions_set_request_timeout(opt, timeout, err, sizeof(err));
        rd_kafka_AdminOptions_set_operation_timeout(opt, timeout, err, sizeof(err));
        rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout + 1000);
        int rc = 0;
        if (!ev) {
                snprintf(errstr, errstr_size, "creating %s: no answer within %d ms",
                         c->topics[KOS_T_SESSIONS], timeout);
                rc = -1;
        } else if (rd_kafka_event_error(ev)) {
                snprintf(errstr, errstr_size, "creating %s: %s", c->topics[KOS_T_SESSIONS],
                         rd_kafka_event_error_string(ev));
                rc = -1;
        } else {
                size_t cnt;
                const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
                    rd_kafka_event_CreateTopics_result(ev), &cnt);
                for (size_t i = 0; i < cnt; i++) {
                        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
                        /* Another replica may have created it a moment ago. */
                        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                                const char *msg = rd_kafka_topic_result_error_string(res[i]);
                                snprintf(errstr, errstr_size, "creating %s: %s",
                                         c->topics[KOS_T_SESSIONS],
                                         msg ? msg : rd_kafka_err2str(e));
                                rc = -1;
                        }
                }
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opt);
        rd_kafka_queue_destroy(q);
        rd_kafka_NewTopic_destroy(nt);
        return rc;
}

static void sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
}

int kos_proc_topics_setup(rd_kafka_t *rk, const kos_proc_conf_t *c, volatile sig_atomic_t *stop,
                          char *errstr, size_t errstr_size)
{
        int count[KOS_T_ALL];
        const char *rq = c->topics[KOS_T_REQUESTS], *rs = c->topics[KOS_T_RESPONSES];
        if (describe(rk, c, (int)c->connect_timeout_ms, count, errstr, errstr_size) == -1)
                return -1;
        int64_t last_log = 0;
        while (!count[KOS_T_REQUESTS] || !count[KOS_T_RESPONSES]) {
                if (*stop)
                        return 0;
                if (!last_log || kos_mono_ms() - last_log >= 10000) {
                        KOS_WARN("topics", "waiting for input topic %s to exist",
                                 !count[KOS_T_REQUESTS] ? rq : rs);
                        last_log = kos_mono_ms();
                }
                sleep_ms(500);
                if (describe(rk, c, (int)c->connect_timeout_ms, count, errstr, errstr_size) == -1)
                        KOS_WARN("topics", "%s", errstr);
        }
        if (count[KOS_T_REQUESTS] != count[KOS_T_RESPONSES]) {
                snprintf(errstr, errstr_size,
                         "input topics are not co-partitioned: %s has %d partitions and %s has "
                         "%d; the join pairs partition p of each, so both need the same count "
                         "(recreate one, or use --requests-topic/--responses-topic)",
                         rq, count[KOS_T_REQUESTS], rs, count[KOS_T_RESPONSES]);
                return -1;
        }
        if (!count[KOS_T_SESSIONS]) {
                if (!c->create_topics) {
                        snprintf(errstr, errstr_size,
                                 "output topic %s does not exist (--no-create-topics)",
                                 c->topics[KOS_T_SESSIONS]);
                        return -1;
                }
                if (create_output(rk, c, count[KOS_T_REQUESTS], errstr, errstr_size) == -1)
                        return -1;
        }
        return count[KOS_T_REQUESTS];
}
