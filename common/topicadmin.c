/* Metadata, CreateTopics and the wait for leaders (see topicadmin.h). */
#include "topicadmin.h"
#include "clock.h"
#include "log.h"
#include "strbuf.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEADER_POLL_MS 100

void kos_topic_admin_init(kos_topic_admin_t *a, rd_kafka_t *rk, int timeout_ms)
{
        a->rk = rk;
        a->timeout_ms = timeout_ms;
        a->deadline = kos_mono_ms() + timeout_ms;
}

static int remaining(const kos_topic_admin_t *a)
{
        int64_t r = a->deadline - kos_mono_ms();
        return r > 0 ? (int)r : 0;
}

int kos_topic_admin_describe(const kos_topic_admin_t *a, kos_topic_info_t *t, int n, char *errstr,
                             size_t errstr_size)
{
        const struct rd_kafka_metadata *md = NULL;
        int left = remaining(a);
        rd_kafka_resp_err_t err = rd_kafka_metadata(a->rk, 1, NULL, &md, left > 0 ? left : 1);
        if (err) {
                snprintf(errstr, errstr_size, "cannot get metadata from Kafka within %d ms: %s",
                         a->timeout_ms, rd_kafka_err2str(err));
                return -1;
        }
        for (int k = 0; k < n; k++)
                t[k].partitions = t[k].led = 0;
        for (int i = 0; i < md->topic_cnt; i++) {
                const struct rd_kafka_metadata_topic *mt = &md->topics[i];
                for (int k = 0; k < n; k++) {
                        if (strcmp(mt->topic, t[k].name) != 0 ||
                            mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                                continue;
                        if (mt->err && mt->err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
                                snprintf(errstr, errstr_size, "topic %s: %s", mt->topic,
                                         rd_kafka_err2str(mt->err));
                                rd_kafka_metadata_destroy(md);
                                return -1;
                        }
                        t[k].partitions = mt->partition_cnt;
                        t[k].led = mt->partition_cnt > 0;
                        for (int p = 0; p < mt->partition_cnt; p++)
                                if (mt->partitions[p].err || mt->partitions[p].leader < 0)
                                        t[k].led = 0;
                }
        }
        rd_kafka_metadata_destroy(md);
        return 0;
}

/* Checks one CreateTopics answer; the first error goes to errstr. */
static int created(rd_kafka_event_t *ev, int timeout_ms, char *errstr, size_t errstr_size)
{
        if (!ev) {
                snprintf(errstr, errstr_size, "creating topics: no answer within %d ms",
                         timeout_ms);
                return -1;
        }
        if (rd_kafka_event_error(ev)) {
                snprintf(errstr, errstr_size, "creating topics: %s",
                         rd_kafka_event_error_string(ev));
                return -1;
        }
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
                /* Another replica may have created it a moment ago. */
                if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        const char *msg = rd_kafka_topic_result_error_string(res[i]);
                        snprintf(errstr, errstr_size, "creating topic %s: %s",
                                 rd_kafka_topic_result_name(res[i]),
                                 msg ? msg : rd_kafka_err2str(e));
                        return -1;
                }
        }
        return 0;
}

int kos_topic_admin_create(const kos_topic_admin_t *a, const kos_topic_info_t *t, int n,
                           int partitions, int replication, char *errstr, size_t errstr_size)
{
        rd_kafka_NewTopic_t **nt = kos_xcalloc((size_t)n, sizeof(*nt));
        size_t k = 0;
        int rc = 0;
        char err[256];
        for (int i = 0; i < n && rc == 0; i++) {
                if (t[i].partitions)
                        continue;
                nt[k] = rd_kafka_NewTopic_new(t[i].name, partitions, replication, err, sizeof(err));
                if (!nt[k]) {
                        snprintf(errstr, errstr_size, "topic %s: %s", t[i].name, err);
                        rc = -1;
                        break;
                }
                k++;
                KOS_INFO("topics", "creating %s with %d partitions", t[i].name, partitions);
        }
        if (rc == 0 && k > 0) {
                rd_kafka_queue_t *q = rd_kafka_queue_new(a->rk);
                rd_kafka_AdminOptions_t *opt =
                    rd_kafka_AdminOptions_new(a->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
                int left = remaining(a);
                rd_kafka_AdminOptions_set_request_timeout(opt, left + 1, err, sizeof(err));
                rd_kafka_AdminOptions_set_operation_timeout(opt, left + 1, err, sizeof(err));
                rd_kafka_CreateTopics(a->rk, nt, k, opt, q);
                rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left + 1000);
                rc = created(ev, a->timeout_ms, errstr, errstr_size);
                if (ev)
                        rd_kafka_event_destroy(ev);
                rd_kafka_AdminOptions_destroy(opt);
                rd_kafka_queue_destroy(q);
        }
        rd_kafka_NewTopic_destroy_array(nt, k);
        free(nt);
        return rc;
}

int kos_topic_admin_await_leaders(const kos_topic_admin_t *a, kos_topic_info_t *t, int n,
                                  char *errstr, size_t errstr_size)
{
        for (;;) {
                if (kos_topic_admin_describe(a, t, n, errstr, errstr_size) == -1)
                        return -1;
                int ready = 1;
                for (int k = 0; k < n; k++)
                        ready &= t[k].led;
                if (ready)
                        return 0;
                if (remaining(a) == 0) {
                        kos_strbuf_t names = {0};
                        for (int k = 0; k < n; k++)
                                kos_strbuf_printf(&names, "%s%s", k ? " and " : "", t[k].name);
                        snprintf(errstr, errstr_size,
                                 "topic%s %s not ready (partitions with leaders) within %d ms",
                                 n > 1 ? "s" : "", names.data ? names.data : "", a->timeout_ms);
                        kos_strbuf_free(&names);
                        return -1;
                }
                struct timespec ts = {0, LEADER_POLL_MS * 1000000L};
                nanosleep(&ts, NULL);
        }
}
