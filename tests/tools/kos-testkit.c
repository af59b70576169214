/* kos-testkit: a small librdkafka CLI that integration tests use to build exact Kafka scenarios
 * (topics, records with chosen timestamps, committed offsets, members holding partitions) in
 * milliseconds, where a JVM tool per step would cost a second or more. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "topicadmin.h"
#include "xalloc.h"

/* Admin requests and metadata waits give up after this; a healthy local broker needs far less. */
#define ADMIN_TIMEOUT_MS 30000
#define MAX_PROPS        64

static const char *prog = "kos-testkit";

struct opts {
        const char *bootstrap;
        const char *props[MAX_PROPS][2]; /* -X key=value, applied last so they override */
        int nprops;
        long long ts_ms; /* produce --ts-ms; -1 = now */
        long size;       /* produce --size; -1 = not given */
        const char *key; /* produce --key */
        char **pos;      /* positional args after the command name */
        int npos;
};

static volatile sig_atomic_t stop_requested;

_Noreturn static void usage(void)
{
        fprintf(stderr,
                "usage: %s -b BOOTSTRAP [-X prop=value]... COMMAND ARGS...\n"
                "  create-topic NAME PARTITIONS   create (existing is ok; the broker's default\n"
                "                                 replication) and wait for leaders\n"
                "  delete-topic NAME              delete (missing is ok) and wait until gone\n"
                "  produce TOPIC PARTITION COUNT [--ts-ms MS] [--size N] [--key K]\n"
                "                                 produce COUNT records, print the last offset\n"
                "  commit GROUP TOPIC:PARTITION=OFFSET...\n"
                "                                 commit offsets for GROUP without joining it\n"
                "  txn-open TOPIC PARTITION COUNT produce COUNT records in a transaction, print\n"
                "                                 'open <offset>', abort it on SIGTERM/SIGINT\n"
                "  member GROUP CLIENT_ID TOPIC[,TOPIC...]\n"
                "                                 join GROUP, print 'assigned T:P ...' on each\n"
                "                                 rebalance, never commit; stop on SIGTERM/SIGINT\n"
                "options may appear before or after COMMAND; -X sets any librdkafka property\n",
                prog);
        exit(2);
}

__attribute__((format(printf, 1, 2))) _Noreturn static void fail(const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "%s: error: ", prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(1);
}

__attribute__((format(printf, 1, 2))) _Noreturn static void usage_error(const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "%s: ", prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nusage: %s -b BOOTSTRAP COMMAND ARGS... (--help lists commands)\n", prog);
        exit(2);
}

/* Parses a non-negative decimal integer that must fill the whole string. */
static long long parse_num(const char *s, const char *what, long long max)
{
        char *end;
        long long v;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < 0 || v > max)
                usage_error("invalid %s '%s' (want an integer 0..%lld)", what, s, max);
        return v;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        (void)rk;
        (void)opaque;
        fprintf(stderr, "%s: kafka: %s: %s\n", prog, rd_kafka_err2name((rd_kafka_resp_err_t)err),
                reason);
}

static void set_prop(rd_kafka_conf_t *conf, const char *k, const char *v)
{
        char errstr[512];
        if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
                fail("config %s=%s: %s", k, v, errstr);
}

/* Builds a conf with the bootstrap, the given defaults (NULL-terminated key/value pairs), then
 * the user's -X overrides. */
static rd_kafka_conf_t *make_conf(const struct opts *o, const char *const *defaults)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        set_prop(conf, "bootstrap.servers", o->bootstrap);
        for (; defaults && defaults[0]; defaults += 2)
                set_prop(conf, defaults[0], defaults[1]);
        for (int i = 0; i < o->nprops; i++)
                set_prop(conf, o->props[i][0], o->props[i][1]);
        rd_kafka_conf_set_error_cb(conf, on_error);
        return conf;
}

static rd_kafka_t *make_client(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
        char errstr[512];
        rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
        if (!rk)
                fail("cannot create client: %s", errstr);
        return rk;
}

/* Returns 1 if the metadata lists TOPIC (in any state), 0 if not, -1 on no answer. */
static int topic_listed(rd_kafka_t *rk, const char *topic)
{
        const struct rd_kafka_metadata *md;
        if (rd_kafka_metadata(rk, 1, NULL, &md, 5000))
                return -1; /* transient: retried by the caller until its deadline */
        int listed = 0;
        for (int i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].topic, topic) &&
                    md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                        listed = 1;
        rd_kafka_metadata_destroy(md);
        return listed;
}

/* Returns the partition count of TOPIC, 0 if the broker does not know it, -1 on no answer. */
static int topic_partitions(rd_kafka_t *rk, const char *topic)
{
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
        int n = -1;
        rd_kafka_topic_destroy(rkt);
        if (err)
                return -1;
        if (md->topic_cnt == 1)
                n = md->topics[0].err ? 0 : md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        return n;
}

/* Waits for an admin result event of TYPE on Q; fails on timeout or request-level error. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type,
                                    const char *what)
{
        int64_t deadline = kos_mono_ms() + ADMIN_TIMEOUT_MS + 5000;
        while (kos_mono_ms() < deadline) {
                rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 1000);
                if (!ev)
                        continue;
                if (rd_kafka_event_type(ev) != type) {
                        rd_kafka_event_destroy(ev);
                        continue;
                }
                if (rd_kafka_event_error(ev))
                        fail("%s: %s", what, rd_kafka_event_error_string(ev));
                return ev;
        }
        fail("%s: no answer from the broker within %d ms", what, ADMIN_TIMEOUT_MS + 5000);
}

static rd_kafka_AdminOptions_t *admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op)
{
        char errstr[512];
        rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, op);
        if (rd_kafka_AdminOptions_set_request_timeout(ao, ADMIN_TIMEOUT_MS, errstr,
                                                      sizeof(errstr)) ||
            rd_kafka_AdminOptions_set_operation_timeout(ao, ADMIN_TIMEOUT_MS, errstr,
                                                        sizeof(errstr)))
                fail("admin options: %s", errstr);
        return ao;
}

/* Polls metadata until TOPIC is gone. The admin result only says the controller accepted the
 * deletion; clients of the next test step need it gone from broker metadata. */
static void wait_topic_gone(rd_kafka_t *rk, const char *topic)
{
        int64_t deadline = kos_mono_ms() + ADMIN_TIMEOUT_MS;
        while (topic_listed(rk, topic) != 0) {
                if (kos_mono_ms() >= deadline)
                        fail("topic '%s' did not become absent within %d ms", topic,
                             ADMIN_TIMEOUT_MS);
                struct timespec ts = {0, 50 * 1000000};
                nanosleep(&ts, NULL);
        }
}

/* The programs' own topic administration (common/topicadmin.h): an existing topic is fine
 * and keeps its partition count; either way the topic is waited for until every partition has
 * a leader, so the next test step's clients see it. */
static int cmd_create_topic(const struct opts *o)
{
        char errstr[512];
        if (o->npos != 2)
                usage_error("create-topic wants NAME PARTITIONS");
        const char *name = o->pos[0];
        int parts = (int)parse_num(o->pos[1], "partition count", 1000000);
        if (parts < 1)
                usage_error("partition count must be >= 1");
        rd_kafka_t *rk = make_client(RD_KAFKA_PRODUCER, make_conf(o, NULL));
        /* Replication -1: the broker's default.replication.factor (1 on a single broker, 3 on a
         * kafka.sh cluster), so a test's topics survive a stopped node there. */
        kos_topic_admin_t a;
        kos_topic_info_t t = {.name = name};
        kos_topic_admin_init(&a, rk, ADMIN_TIMEOUT_MS);
        if (kos_topic_admin_describe(&a, &t, 1, errstr, sizeof(errstr)) == -1 ||
            kos_topic_admin_create(&a, &t, 1, parts, -1, errstr, sizeof(errstr)) == -1 ||
            kos_topic_admin_await_leaders(&a, &t, 1, errstr, sizeof(errstr)) == -1)
                fail("create-topic '%s': %s", name, errstr);
        rd_kafka_destroy(rk);
        return 0;
}

static int cmd_delete_topic(const struct opts *o)
{
        if (o->npos != 1)
                usage_error("delete-topic wants NAME");
        const char *name = o->pos[0];
        rd_kafka_t *rk = make_client(RD_KAFKA_PRODUCER, make_conf(o, NULL));
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(name);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *ao = admin_options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
        rd_kafka_DeleteTopics(rk, &dt, 1, ao, q);
        rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, "delete-topic");
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
                rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
                if (err && err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                        fail("delete-topic '%s': %s: %s", name, rd_kafka_err2name(err),
                             rd_kafka_topic_result_error_string(res[i]));
        }
        rd_kafka_event_destroy(ev);
        wait_topic_gone(rk, name);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_DeleteTopic_destroy(dt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return 0;
}

struct produce_state {
        long long delivered;
        long long failed;
        int64_t last_offset;
        rd_kafka_resp_err_t first_err;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        struct produce_state *st = opaque;
        (void)rk;
        if (m->err) {
                if (!st->failed++)
                        st->first_err = m->err;
                return;
        }
        st->delivered++;
        if (m->offset > st->last_offset)
                st->last_offset = m->offset;
}

static int cmd_produce(const struct opts *o)
{
        if (o->npos != 3)
                usage_error("produce wants TOPIC PARTITION COUNT");
        const char *topic = o->pos[0];
        int32_t part = (int32_t)parse_num(o->pos[1], "partition", INT32_MAX);
        long long count = parse_num(o->pos[2], "count", LLONG_MAX);
        if (count < 1)
                usage_error("count must be >= 1");
        int64_t ts = o->ts_ms >= 0 ? o->ts_ms : kos_wall_ms();

        /* Idempotence: a retried batch must not add duplicates, or offsets would not be exact.
         * 30 s instead of the 5 min default so a dead broker fails a test quickly. */
        static const char *const defaults[] = {"enable.idempotence", "true",  "linger.ms", "5",
                                               "message.timeout.ms", "30000", NULL};
        rd_kafka_conf_t *conf = make_conf(o, defaults);
        struct produce_state st = {0, 0, -1, RD_KAFKA_RESP_ERR_NO_ERROR};
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, &st);
        rd_kafka_t *rk = make_client(RD_KAFKA_PRODUCER, conf);

        /* librdkafka would retry an unknown topic until message.timeout.ms; say so at once. */
        int nparts = topic_partitions(rk, topic);
        if (nparts < 0)
                fail("produce: no metadata for topic '%s' from %s", topic, o->bootstrap);
        if (nparts == 0)
                fail("produce: topic '%s' does not exist", topic);
        if (part >= nparts)
                fail("produce: topic '%s' has %d partitions, no partition %d", topic, nparts, part);

        char *value = kos_xmalloc((size_t)o->size);
        for (long i = 0; i < o->size; i++)
                value[i] = (char)('a' + i % 26);
        size_t keylen = o->key ? strlen(o->key) : 0;

        for (long long i = 0; i < count && !st.failed;) {
                /* librdkafka's macros cast to void * although RD_KAFKA_MSG_F_COPY only reads. */
                rd_kafka_resp_err_t err =
                    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_VALUE(value, (size_t)o->size),
                                      RD_KAFKA_V_KEY((void *)(uintptr_t)o->key, keylen),
                                      RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END);
                if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        rd_kafka_poll(rk, 50); /* serve delivery reports to make room */
                        continue;
                }
                if (err)
                        fail("produce to %s:%d: %s", topic, part, rd_kafka_err2str(err));
                rd_kafka_poll(rk, 0);
                i++;
        }
        rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 60000);
        free(value);
        if (st.failed)
                fail("produce to %s:%d: %lld of %lld records failed, first error %s: %s", topic,
                     part, st.failed, count, rd_kafka_err2name(st.first_err),
                     rd_kafka_err2str(st.first_err));
        if (ferr || st.delivered != count)
                fail("produce to %s:%d: only %lld of %lld records delivered after 60 s flush",
                     topic, part, st.delivered, count);
        printf("%" PRId64 "\n", st.last_offset);
        rd_kafka_destroy(rk);
        return 0;
}

/* Leaves a transaction open so tests can see the last stable offset (LSO) stay behind the
 * high watermark: produces COUNT records in a transaction, prints "open <last offset>", waits
 * for SIGTERM/SIGINT, then aborts the transaction. */
static void on_signal(int sig);

static int cmd_txn_open(const struct opts *o)
{
        if (o->npos != 3)
                usage_error("txn-open wants TOPIC PARTITION COUNT");
        const char *topic = o->pos[0];
        int32_t part = (int32_t)parse_num(o->pos[1], "partition", INT32_MAX);
        long long count = parse_num(o->pos[2], "count", 10000000);
        char txid[64];
        snprintf(txid, sizeof(txid), "kos-testkit-txn-%d", (int)getpid());
        static const char *const defaults[] = {"linger.ms", "5", "message.timeout.ms", "30000",
                                               NULL};
        rd_kafka_conf_t *conf = make_conf(o, defaults);
        set_prop(conf, "transactional.id", txid);
        struct produce_state st = {0, 0, -1, RD_KAFKA_RESP_ERR_NO_ERROR};
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, &st);
        rd_kafka_t *rk = make_client(RD_KAFKA_PRODUCER, conf);
        rd_kafka_error_t *e = rd_kafka_init_transactions(rk, ADMIN_TIMEOUT_MS);
        if (!e)
                e = rd_kafka_begin_transaction(rk);
        if (e)
                fail("txn-open: %s", rd_kafka_error_string(e));
        for (long long i = 0; i < count;) {
                rd_kafka_resp_err_t err =
                    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                      RD_KAFKA_V_VALUE("txn", 3),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        rd_kafka_poll(rk, 50);
                        continue;
                }
                if (err)
                        fail("txn-open produce: %s", rd_kafka_err2str(err));
                i++;
        }
        if (rd_kafka_flush(rk, 60000) || st.failed || st.delivered != count)
                fail("txn-open: %lld of %lld records delivered", st.delivered, count);
        printf("open %" PRId64 "\n", st.last_offset);
        fflush(stdout);
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        while (!stop_requested)
                rd_kafka_poll(rk, 100);
        e = rd_kafka_abort_transaction(rk, ADMIN_TIMEOUT_MS);
        if (e)
                fail("txn-open abort: %s", rd_kafka_error_string(e));
        rd_kafka_destroy(rk);
        return 0;
}

struct commit_state {
        int done;
        rd_kafka_resp_err_t err;
        int part_errors;
};

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
        struct commit_state *st = opaque;
        (void)rk;
        st->done = 1;
        st->err = err;
        for (int i = 0; offsets && i < offsets->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &offsets->elems[i];
                if (!tp->err)
                        continue;
                st->part_errors++;
                fprintf(stderr, "%s: error: commit %s:%" PRId32 "=%" PRId64 ": %s: %s\n", prog,
                        tp->topic, tp->partition, tp->offset, rd_kafka_err2name(tp->err),
                        rd_kafka_err2str(tp->err));
        }
}

static int cmd_commit(const struct opts *o)
{
        if (o->npos < 2)
                usage_error("commit wants GROUP TOPIC:PARTITION=OFFSET...");
        const char *group = o->pos[0];
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(o->npos - 1);
        for (int i = 1; i < o->npos; i++) {
                char *spec = kos_xstrdup(o->pos[i]);
                char *eq = strrchr(spec, '=');
                char *colon;
                if (!eq)
                        usage_error("bad offset spec '%s' (want TOPIC:PARTITION=OFFSET)",
                                    o->pos[i]);
                *eq = '\0';
                /* Last colon: partition and offset are numbers, the topic is the rest. */
                colon = strrchr(spec, ':');
                if (!colon || colon == spec)
                        usage_error("bad offset spec '%s' (want TOPIC:PARTITION=OFFSET)",
                                    o->pos[i]);
                *colon = '\0';
                int32_t part = (int32_t)parse_num(colon + 1, "partition", INT32_MAX);
                rd_kafka_topic_partition_list_add(list, spec, part)->offset =
                    parse_num(eq + 1, "offset", INT64_MAX);
                free(spec);
        }
        /* A consumer that never subscribes commits as a "simple" client (generation -1),
         * which the coordinator accepts while the group has no active members. */
        static const char *const defaults[] = {"enable.auto.commit", "false", NULL};
        rd_kafka_conf_t *conf = make_conf(o, defaults);
        set_prop(conf, "group.id", group);
        rd_kafka_t *rk = make_client(RD_KAFKA_CONSUMER, conf);
        struct commit_state st = {0, RD_KAFKA_RESP_ERR_NO_ERROR, 0};
        /* NULL queue: the call blocks and serves the callback itself, which reports the
         * per-partition errors a plain rd_kafka_commit() would fold into one code. */
        rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk, list, NULL, on_commit, &st);
        rd_kafka_topic_partition_list_destroy(list);
        if (!err && st.done)
                err = st.err;
        if (err || st.part_errors)
                fail("commit for group '%s' failed: %s", group,
                     err ? rd_kafka_err2str(err) : "see partition errors above");
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return 0;
}

static void print_parts(const char *what, const rd_kafka_topic_partition_list_t *parts)
{
        printf("%s", what);
        for (int i = 0; i < parts->cnt; i++)
                printf(" %s:%" PRId32, parts->elems[i].topic, parts->elems[i].partition);
        printf("\n");
        fflush(stdout); /* tests read these lines from a pipe while we keep running */
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        (void)opaque;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                rd_kafka_assign(rk, parts);
                print_parts("assigned", parts);
        } else {
                print_parts("revoked", parts);
                rd_kafka_assign(rk, NULL);
        }
}

static void on_signal(int sig)
{
        (void)sig;
        stop_requested = 1;
}

static int cmd_member(const struct opts *o)
{
        if (o->npos != 3)
                usage_error("member wants GROUP CLIENT_ID TOPIC[,TOPIC...]");
        const char *group = o->pos[0];
        rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(4);
        char *tlist = kos_xstrdup(o->pos[2]);
        char *save = NULL;
        for (char *t = strtok_r(tlist, ",", &save); t; t = strtok_r(NULL, ",", &save))
                rd_kafka_topic_partition_list_add(topics, t, RD_KAFKA_PARTITION_UA);
        if (!topics->cnt)
                usage_error("member: empty topic list '%s'", o->pos[2]);

        /* The member only holds partitions: committing would change the lag under test. */
        static const char *const defaults[] = {"enable.auto.commit", "false",
                                               "enable.auto.offset.store", "false", NULL};
        rd_kafka_conf_t *conf = make_conf(o, defaults);
        set_prop(conf, "group.id", group);
        set_prop(conf, "client.id", o->pos[1]);
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
        rd_kafka_t *rk = make_client(RD_KAFKA_CONSUMER, conf);
        rd_kafka_poll_set_consumer(rk);

        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        free(tlist);
        if (err)
                fail("subscribe: %s", rd_kafka_err2str(err));
        /* A test killed hard cannot SIGTERM us; being reparented means our starter is gone. */
        pid_t parent = getppid();
        while (!stop_requested && getppid() == parent) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        fprintf(stderr, "%s: consumer: %s\n", prog, rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
        }
        /* Close leaves the group at once, so the next test step need not wait out the
         * session timeout for the broker to drop this member. */
        err = rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        if (err)
                fail("consumer close: %s", rd_kafka_err2str(err));
        return 0;
}

int main(int argc, char **argv)
{
        struct opts o = {.ts_ms = -1, .size = -1};
        const char *cmd = NULL;
        char **pos = kos_xcalloc((size_t)argc, sizeof(*pos));
        o.pos = pos;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (a[0] != '-' || a[1] == '\0') {
                        if (!cmd)
                                cmd = a;
                        else
                                pos[o.npos++] = argv[i];
                        continue;
                }
                if (!strcmp(a, "-h") || !strcmp(a, "--help"))
                        usage();
                if (i + 1 >= argc)
                        usage_error("option %s needs a value", a);
                char *v = argv[++i];
                if (!strcmp(a, "-b")) {
                        o.bootstrap = v;
                } else if (!strcmp(a, "-X")) {
                        char *eq = strchr(v, '=');
                        if (!eq || eq == v)
                                usage_error("-X wants prop=value, got '%s'", v);
                        if (o.nprops == MAX_PROPS)
                                usage_error("too many -X options (max %d)", MAX_PROPS);
                        *eq = '\0';
                        o.props[o.nprops][0] = v;
                        o.props[o.nprops++][1] = eq + 1;
                } else if (!strcmp(a, "--ts-ms")) {
                        o.ts_ms = parse_num(v, "--ts-ms", INT64_MAX);
                } else if (!strcmp(a, "--size")) {
                        o.size = (long)parse_num(v, "--size", 100 * 1024 * 1024);
                } else if (!strcmp(a, "--key")) {
                        o.key = v;
                } else {
                        usage_error("unknown option '%s'", a);
                }
        }
        if (!cmd)
                usage_error("missing COMMAND");
        if (!o.bootstrap)
                usage_error("missing -b BOOTSTRAP");
        int produce = !strcmp(cmd, "produce");
        if (!produce && (o.ts_ms >= 0 || o.size >= 0 || o.key))
                usage_error("--ts-ms, --size and --key only apply to produce");
        if (o.size < 0)
                o.size = 16;

        int rc = 0;
        if (!strcmp(cmd, "create-topic"))
                rc = cmd_create_topic(&o);
        else if (!strcmp(cmd, "delete-topic"))
                rc = cmd_delete_topic(&o);
        else if (produce)
                rc = cmd_produce(&o);
        else if (!strcmp(cmd, "commit"))
                rc = cmd_commit(&o);
        else if (!strcmp(cmd, "txn-open"))
                rc = cmd_txn_open(&o);
        else if (!strcmp(cmd, "member"))
                rc = cmd_member(&o);
        else
                usage_error("unknown command '%s'", cmd);
        free(pos);
        return rc;
}
