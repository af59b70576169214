/* benchkit: builds the lag-refresh benchmark's Kafka cluster state fast: many topics created
 * in one CreateTopics call, records produced to every partition, and many groups' committed
 * offsets written with AlterConsumerGroupOffsets, all requests in flight at once.
 *
 *   benchkit -b BOOTSTRAP scenario TOPICS PARTITIONS GROUPS RECORDS
 *
 * Topic i is "bench-%03d"; group g ("bench-g%04d") commits on topics 2g and 2g+1 (mod TOPICS),
 * at an offset drawn from [0, RECORDS] per partition (seeded, so runs are comparable). Prints
 * the total lag it committed, which the benchmark checks the adapter against. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what, const char *why)
{
        fprintf(stderr, "benchkit: %s: %s\n", what, why);
        exit(1);
}

static rd_kafka_t *client(const char *bootstrap, rd_kafka_type_t type)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof(err)) ||
            rd_kafka_conf_set(c, "linger.ms", "20", err, sizeof(err)) ||
            rd_kafka_conf_set(c, "enable.idempotence", "true", err, sizeof(err)))
                die("config", err);
        rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
        if (!rk)
                die("client", err);
        return rk;
}

static void topic_name(char *buf, size_t n, int i)
{
        snprintf(buf, n, "bench-%03d", i);
}

static void create_topics(rd_kafka_t *rk, int topics, int parts)
{
        rd_kafka_NewTopic_t **nt = calloc((size_t)topics, sizeof(*nt));
        char err[256], name[64];
        for (int i = 0; i < topics; i++) {
                topic_name(name, sizeof(name), i);
                nt[i] = rd_kafka_NewTopic_new(name, parts, 1, err, sizeof(err));
        }
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(o, 60000, err, sizeof(err));
        rd_kafka_CreateTopics(rk, nt, (size_t)topics, o, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 120000);
        if (!ev || rd_kafka_event_error(ev))
                die("CreateTopics", ev ? rd_kafka_event_error_string(ev) : "timed out");
        size_t n;
        const rd_kafka_topic_result_t **r =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(r[i]);
                if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                        die(rd_kafka_topic_result_name(r[i]), rd_kafka_err2str(e));
        }
        rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_queue_destroy(q);
        rd_kafka_NewTopic_destroy_array(nt, (size_t)topics);
        free(nt);
}

static void produce_all(rd_kafka_t *rk, int topics, int parts, int records)
{
        char name[64];
        char payload[100];
        memset(payload, 'x', sizeof(payload));
        for (int i = 0; i < topics; i++) {
                topic_name(name, sizeof(name), i);
                for (int p = 0; p < parts; p++)
                        for (int r = 0; r < records; r++) {
                                rd_kafka_resp_err_t e;
                                while ((e = rd_kafka_producev(
                                            rk, RD_KAFKA_V_TOPIC(name), RD_KAFKA_V_PARTITION(p),
                                            RD_KAFKA_V_VALUE(payload, sizeof(payload)),
                                            RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                        rd_kafka_poll(rk, 10);
                                if (e)
                                        die("produce", rd_kafka_err2str(e));
                        }
                rd_kafka_poll(rk, 0);
        }
        if (rd_kafka_flush(rk, 120000))
                die("flush", "timed out");
}

static long long commit_groups(rd_kafka_t *rk, int topics, int parts, int groups, int records)
{
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        char err[256], name[64], gname[64];
        long long lag = 0;
        unsigned seed = 42;
        for (int g = 0; g < groups; g++) {
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2 * parts);
                for (int k = 0; k < 2; k++) {
                        topic_name(name, sizeof(name), (2 * g + k) % topics);
                        for (int p = 0; p < parts; p++) {
                                int off = (int)(rand_r(&seed) % (unsigned)(records + 1));
                                rd_kafka_topic_partition_list_add(l, name, p)->offset = off;
                                lag += records - off;
                        }
                }
                snprintf(gname, sizeof(gname), "bench-g%04d", g);
                rd_kafka_AlterConsumerGroupOffsets_t *a =
                    rd_kafka_AlterConsumerGroupOffsets_new(gname, l);
                rd_kafka_AdminOptions_t *o =
                    rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
                rd_kafka_AdminOptions_set_request_timeout(o, 60000, err, sizeof(err));
                rd_kafka_AlterConsumerGroupOffsets(rk, &a, 1, o, q);
                rd_kafka_AdminOptions_destroy(o);
                rd_kafka_AlterConsumerGroupOffsets_destroy(a);
                rd_kafka_topic_partition_list_destroy(l);
        }
        for (int g = 0; g < groups; g++) {
                rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 120000);
                if (!ev || rd_kafka_event_error(ev))
                        die("AlterConsumerGroupOffsets",
                            ev ? rd_kafka_event_error_string(ev) : "timed out");
                size_t n;
                const rd_kafka_group_result_t **gr =
                    rd_kafka_AlterConsumerGroupOffsets_result_groups(
                        rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
                for (size_t i = 0; i < n; i++) {
                        const rd_kafka_error_t *ge = rd_kafka_group_result_error(gr[i]);
                        if (ge && rd_kafka_error_code(ge) ==
                                      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS) {
                                /* A fresh broker loads __consumer_offsets for a moment. */
                                fprintf(stderr, "benchkit: coordinator loading, retry\n");
                                rd_kafka_event_destroy(ev);
                                rd_kafka_queue_destroy(q);
                                sleep(1);
                                return commit_groups(rk, topics, parts, groups, records);
                        }
                        if (ge)
                                die(rd_kafka_group_result_name(gr[i]), rd_kafka_error_string(ge));
                        const rd_kafka_topic_partition_list_t *pl =
                            rd_kafka_group_result_partitions(gr[i]);
                        for (int j = 0; pl && j < pl->cnt; j++)
                                if (pl->elems[j].err)
                                        die(rd_kafka_group_result_name(gr[i]),
                                            rd_kafka_err2str(pl->elems[j].err));
                }
                rd_kafka_event_destroy(ev);
        }
        rd_kafka_queue_destroy(q);
        return lag;
}

int main(int argc, char **argv)
{
        if (argc != 8 || strcmp(argv[1], "-b") != 0 || strcmp(argv[3], "scenario") != 0) {
                fprintf(stderr, "usage: benchkit -b BOOTSTRAP scenario TOPICS PARTITIONS GROUPS "
                                "RECORDS\n");
                return 2;
        }
        int topics = atoi(argv[4]), parts = atoi(argv[5]), groups = atoi(argv[6]),
            records = atoi(argv[7]);
        if (topics < 1 || parts < 1 || groups < 0 || records < 1) {
                fprintf(stderr, "benchkit: counts must be positive\n");
                return 2;
        }
        rd_kafka_t *rk = client(argv[2], RD_KAFKA_PRODUCER);
        create_topics(rk, topics, parts);
        fprintf(stderr, "benchkit: %d topics x %d partitions created\n", topics, parts);
        produce_all(rk, topics, parts, records);
        fprintf(stderr, "benchkit: %d records per partition produced\n", records);
        long long lag = commit_groups(rk, topics, parts, groups, records);
        fprintf(stderr, "benchkit: %d groups committed\n", groups);
        printf("%lld\n", lag);
        rd_kafka_destroy(rk);
        return 0;
}
