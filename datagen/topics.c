/* Topic check and creation (see topics.h). Metadata is asked for all topics: a request naming
 * the topics could make a broker with auto.create.topics.enable create them with its default
 * partition count, which is exactly the mismatch this check exists to prevent. */
#include "topics.h"
#include "clock.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int remaining(int64_t deadline)
{
        int64_t r = deadline - kos_mono_ms();
        return r > 0 ? (int)r : 0;
}

/* Partition counts of both topics: 0 if missing; *leaders is 1 when every partition of an
 * existing topic has a leader. -1 with errstr when metadata cannot be had. */
static int describe(rd_kafka_t *rk, const kos_topics_conf_t *tc, int64_t deadline, int count[2],
                    int *leaders, char *errstr, size_t errstr_size)
{
        const struct rd_kafka_metadata *md = NULL;
        int t = remaining(deadline);
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, t > 0 ? t : 1);
        if (err) {
                snprintf(errstr, errstr_size, "cannot get metadata from Kafka within %d ms: %s",
                         tc->timeout_ms, rd_kafka_err2str(err));
                return -1;
        }
        *leaders = 1;
        count[0] = count[1] = 0;
        for (int i = 0; i < md->topic_cnt; i++) {
                const struct rd_kafka_metadata_topic *mt = &md->topics[i];
                for (int k = 0; k < 2; k++) {
                        if (strcmp(mt->topic, tc->names[k]) != 0)
                                continue;
                        if (mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                                continue;
                        if (mt->err && mt->err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
                                snprintf(errstr, errstr_size, "topic %s: %s", mt->topic,
                                         rd_kafka_err2str(mt->err));
                                rd_kafka_metadata_destroy(md);
                                return -1;
                        }
                        count[k] = mt->partition_cnt;
                        for (int p = 0; p < mt->partition_cnt; p++)
                                if (mt->partitions[p].err || mt->partitions[p].leader < 0)
                                        *leaders = 0;
                        if (mt->partition_cnt == 0)
                                *leaders = 0;
                }
        }
        rd_kafka_metadata_destroy(md);
        return 0;
}

static int create(rd_kafka_t *rk, const kos_topics_conf_t *tc, const int count[2], int partitions,
                  int64_t deadline, char *errstr, size_t errstr_size)
{
        rd_kafka_NewTopic_t *nt[2];
        int n = 0, rc = 0;
        char err[256];
        for (int k = 0; k < 2; k++) {
                if (count[k])
                        continue;
                nt[n] = rd_kafka_NewTopic_new(tc->names[k], partitions, tc->replication, err,
                                              sizeof(err));
                if (!nt[n]) {
                        snprintf(errstr, errstr_size, "topic %s: %s", tc->names[k], err);
                        rd_kafka_NewTopic_destroy_array(nt, (size_t)n);
                        return -1;
                }
                n++;
                KOS_INFO("topics", "creating %s with %d partitions", tc->names[k], partitions);
        }
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opt =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(opt, remaining(deadline) + 1, err, sizeof(err));
        rd_kafka_AdminOptions_set_operation_timeout(opt, remaining(deadline) + 1, err, sizeof(err));
        rd_kafka_CreateTopics(rk, nt, (size_t)n, opt, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, remaining(deadline) + 1000);
        if (!ev) {
                snprintf(errstr, errstr_size, "creating topics: no answer within %d ms",
                         tc->timeout_ms);
                rc = -1;
        } else if (rd_kafka_event_error(ev)) {
                snprintf(errstr, errstr_size, "creating topics: %s",
                         rd_kafka_event_error_string(ev));
                rc = -1;
        } else {
                size_t cnt;
                const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
                    rd_kafka_event_CreateTopics_result(ev), &cnt);
                for (size_t i = 0; i < cnt && rc == 0; i++) {
                        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
                        /* Another replica may have created it a moment ago: checked below. */
                        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                                const char *msg = rd_kafka_topic_result_error_string(res[i]);
                                snprintf(errstr, errstr_size, "creating topic %s: %s",
                                         rd_kafka_topic_result_name(res[i]),
                                         msg ? msg : rd_kafka_err2str(e));
                                rc = -1;
                        }
                }
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opt);
        rd_kafka_queue_destroy(q);
        rd_kafka_NewTopic_destroy_array(nt, (size_t)n);
        return rc;
}

int kos_topics_ensure(rd_kafka_t *rk, const kos_topics_conf_t *tc, char *errstr, size_t errstr_size)
{
        int64_t deadline = kos_mono_ms() + tc->timeout_ms;
        int count[2], leaders;
        if (describe(rk, tc, deadline, count, &leaders, errstr, errstr_size) == -1)
                return -1;
        if (count[0] && count[1] && count[0] != count[1]) {
                snprintf(errstr, errstr_size,
                         "topics %s (%d partitions) and %s (%d partitions) are not co-partitioned; "
                         "the join needs equal counts: use other topics or recreate one",
                         tc->names[0], count[0], tc->names[1], count[1]);
                return -1;
        }
        if (!count[0] || !count[1]) {
                const char *missing = !count[0] ? tc->names[0] : tc->names[1];
                if (!tc->create) {
                        snprintf(errstr, errstr_size,
                                 "topic %s does not exist (--no-create-topics)", missing);
                        return -1;
                }
                int want = count[0] ? count[0] : count[1] ? count[1] : tc->partitions;
                if (want != tc->partitions)
                        KOS_INFO("topics", "%s exists with %d partitions: creating %s with %d too",
                                 count[0] ? tc->names[0] : tc->names[1], want, missing, want);
                if (create(rk, tc, count, want, deadline, errstr, errstr_size) == -1)
                        return -1;
        }
        /* New topics take a moment to get leaders; producing before that only queues. */
        for (;;) {
                if (describe(rk, tc, deadline, count, &leaders, errstr, errstr_size) == -1)
                        return -1;
                if (count[0] && count[1] && count[0] != count[1]) {
                        snprintf(errstr, errstr_size,
                                 "topics %s (%d partitions) and %s (%d partitions) are not "
                                 "co-partitioned",
                                 tc->names[0], count[0], tc->names[1], count[1]);
                        return -1;
                }
                if (count[0] && count[1] && leaders)
                        return count[0];
                if (remaining(deadline) == 0) {
                        snprintf(
                            errstr, errstr_size,
                            "topics %s and %s not ready (partitions with leaders) within %d ms",
                            tc->names[0], tc->names[1], tc->timeout_ms);
                        return -1;
                }
                struct timespec ts = {0, 100 * 1000000};
                nanosleep(&ts, NULL);
        }
}
