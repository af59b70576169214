/* Lag engine: Kafka Admin calls → a new immutable snapshot. See lag.h for the sequence.
 * Every Kafka call here has a timeout; the request path never waits on anything in this file. */
#include "lag.h"
#include "clock.h"
#include "xalloc.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct kos_lag_s {
        kos_lag_opts_t opts;
        /* Both NULL while Kafka is unreachable (see refresh_main); refresh thread only after
         * kos_lag_start. */
        rd_kafka_t *admin; /* admin calls + end/log-start offsets (isolation as configured) */
        rd_kafka_t *heads; /* assign()-only consumer that reads the first unconsumed records */
        /* Owned templates the clients are (re)created from, and the probe's: a plain client
         * without group.id, so without a consumer-group handle. heads_conf NULL with
         * --no-lag-seconds. */
        rd_kafka_conf_t *admin_conf, *heads_conf, *probe_conf;
        int reconnect_backoff_ms, reconnect_backoff_max_ms;
        int unreachable; /* the current refresh failed because no broker answered Metadata */
        pthread_t thread;
        int started;
        pthread_mutex_t lock; /* guards stats and stop */
        pthread_cond_t wake;
        int stop;
        kos_lag_stats_t stats;
        kos_history_t *history; /* refresh thread only */
        /* The current refresh (refresh thread only): its Kafka requests time out at
         * deadline_us, and waits for their answers end poll_slack_ms later, at the refresh's
         * --kafka-timeout, so the requests' own timed-out answers arrive before it. */
        int64_t deadline_us;
        int poll_slack_ms;
};

#define POLL_SLACK_MAX_MS 100
/* Consecutive refreshes whose Metadata request no broker answered before the clients are
 * closed and Kafka is probed instead (refresh_main). */
#define UNREACHABLE_REFRESHES 2

/* Milliseconds left for the current refresh's Kafka requests (at least 1): the calls of one
 * refresh share --kafka-timeout, so a refresh never runs past it however many calls it makes. */
static int refresh_left_ms(const kos_lag_t *lag)
{
        int64_t left = (lag->deadline_us - kos_mono_us()) / 1000;
        return left > 0 ? (int)left : 1;
}

void kos_lag_opts_defaults(kos_lag_opts_t *o)
{
        o->refresh_interval_ms = 1000;
        o->kafka_timeout_ms = 5000;
        o->policy = KOS_NOCOMMIT_EARLIEST;
        o->read_committed = 0;
        o->head_timestamps = 1;
        o->head_budget_ms = 500;
        kos_history_opts_defaults(&o->history);
}

/* A copy of the user's Kafka config for our own clients: never joins or commits to a group. */
static rd_kafka_conf_t *client_conf(const kos_kconf_t *kc, int read_committed, char *errstr,
                                    size_t errstr_size)
{
        rd_kafka_conf_t *conf = kos_kconf_dup(kc);
        if (rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
            rd_kafka_conf_set(conf, "isolation.level",
                              read_committed ? "read_committed" : "read_uncommitted", errstr,
                              errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        return conf;
}

/* librdkafka's integer property KEY of conf, or def when unset or unreadable. */
static int conf_int(const rd_kafka_conf_t *conf, const char *key, int def)
{
        char buf[32];
        size_t size = sizeof(buf);
        if (rd_kafka_conf_get(conf, key, buf, &size) != RD_KAFKA_CONF_OK)
                return def;
        char *end;
        long v = strtol(buf, &end, 10);
        return end != buf && *end == '\0' && v >= 0 && v <= 3600000 ? (int)v : def;
}

/* Creates the admin and head clients from their templates. -1 with errstr. */
static int open_clients(kos_lag_t *lag, char *errstr, size_t errstr_size)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_dup(lag->admin_conf);
        if (!(lag->admin = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size))) {
                rd_kafka_conf_destroy(conf);
                return -1;
        }
        if (lag->heads_conf) {
                conf = rd_kafka_conf_dup(lag->heads_conf);
                if (!(lag->heads = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size))) {
                        rd_kafka_conf_destroy(conf);
                        return -1;
                }
        }
        return 0;
}

/* Destroys the clients without the consumer close handshake: it needs a coordinator, and
 * neither client ever joins a group. */
static void close_clients(kos_lag_t *lag)
{
        if (lag->heads)
                rd_kafka_destroy_flags(lag->heads, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        if (lag->admin)
                rd_kafka_destroy_flags(lag->admin, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        lag->heads = lag->admin = NULL;
}

kos_lag_t *kos_lag_new(const kos_kconf_t *kc, const kos_lag_opts_t *opts, char *errstr,
                       size_t errstr_size)
{
        kos_lag_t *lag = kos_xcalloc(1, sizeof(*lag));
        lag->opts = *opts;
        if (!(lag->history = kos_history_new(&opts->history))) {
                snprintf(errstr, errstr_size, "out of memory");
                free(lag);
                return NULL;
        }
        pthread_mutex_init(&lag->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* immune to wall-clock steps */
        pthread_cond_init(&lag->wake, &ca);
        pthread_condattr_destroy(&ca);

        /* ListOffsets uses the client's isolation.level: read_uncommitted gives the high
         * watermark (what kafka-consumer-groups reports), read_committed the LSO. */
        if (!(lag->probe_conf = client_conf(kc, opts->read_committed, errstr, errstr_size)))
                goto fail;
        lag->reconnect_backoff_ms = conf_int(lag->probe_conf, "reconnect.backoff.ms", 100);
        lag->reconnect_backoff_max_ms =
            conf_int(lag->probe_conf, "reconnect.backoff.max.ms", 10000);
        if (lag->reconnect_backoff_max_ms < lag->reconnect_backoff_ms)
                lag->reconnect_backoff_max_ms = lag->reconnect_backoff_ms;
        lag->admin_conf = rd_kafka_conf_dup(lag->probe_conf);
        /* A probe tries each bootstrap broker once (its reconnect backoff, jittered -25 %, is
         * longer than the probe): the pauses between probes are the backoff. Sparse connections
         * off, or a waiting Metadata request has librdkafka force a connection every second
         * past the reconnect backoff. */
        char probe_backoff[16];
        snprintf(probe_backoff, sizeof(probe_backoff), "%d", 2 * opts->kafka_timeout_ms);
        if (rd_kafka_conf_set(lag->probe_conf, "reconnect.backoff.max.ms", probe_backoff, errstr,
                              errstr_size) ||
            rd_kafka_conf_set(lag->probe_conf, "reconnect.backoff.ms", probe_backoff, errstr,
                              errstr_size) ||
            rd_kafka_conf_set(lag->probe_conf, "enable.sparse.connections", "false", errstr,
                              errstr_size))
                goto fail;
        /* librdkafka (2.0.2, still in 2.4: issue 5040) handles a NOT_COORDINATOR answer to
         * ListConsumerGroupOffsets by asking the client's own group handle to look up its
         * coordinator again, and dereferences NULL when the client has no group.id: every
         * group-coordinator move (a broker stopping) crashed the adapter. With a group id the
         * handle exists; this client never subscribes or commits, so the group never exists. */
        if (rd_kafka_conf_set(lag->admin_conf, "group.id", "__kos-adapter-admin", errstr,
                              errstr_size))
                goto fail;
        if (opts->head_timestamps) {
                if (!(lag->heads_conf = client_conf(kc, 0, errstr, errstr_size)))
                        goto fail;
                rd_kafka_conf_t *conf = lag->heads_conf;
                char e[256];
                /* One record per partition is all we need, but a broker returns only whole
                 * record batches and skips (after the first partition) any partition whose
                 * first batch exceeds max.partition.fetch.bytes: too small a limit serialises
                 * the fetch to one partition per round trip. Rounds are small instead
                 * (HEADS_PER_ROUND), which bounds the prefetch. */
                /* assign() and consumer_poll() need a group id; this one never subscribes or
                 * commits, so it never appears in the group list. */
                if (rd_kafka_conf_set(conf, "group.id", "__kos-adapter-heads", e, sizeof(e)) ||
                    rd_kafka_conf_set(conf, "fetch.max.bytes", "4194304", e, sizeof(e)) ||
                    rd_kafka_conf_set(conf, "max.partition.fetch.bytes", "262144", e, sizeof(e)) ||
                    rd_kafka_conf_set(conf, "queued.max.messages.kbytes", "4096", e, sizeof(e)) ||
                    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", e, sizeof(e)) ||
                    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", e, sizeof(e)) ||
                    rd_kafka_conf_set(conf, "enable.partition.eof", "true", e, sizeof(e))) {
                        snprintf(errstr, errstr_size, "head consumer config: %s", e);
                        goto fail;
                }
        }
        if (open_clients(lag, errstr, errstr_size) == -1)
                goto fail;
        return lag;
fail:
        kos_lag_destroy(lag);
        return NULL;
}

/* ---- one refresh ------------------------------------------------------------------------- */

typedef struct {
        char *group_id;
        char *state;
        rd_kafka_topic_partition_list_t *offsets; /* committed, from ListConsumerGroupOffsets */
        rd_kafka_resp_err_t offsets_err;
        int offsets_done;
        kos_member_t *members;
        size_t n_members;
        rd_kafka_topic_partition_list_t **assignments; /* per member */
        int described;
} group_work_t;

static char *xstrdup(const char *s)
{
        return kos_xstrdup(s ? s : "");
}

static void group_work_free(group_work_t *w, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(w[i].group_id);
                free(w[i].state);
                if (w[i].offsets)
                        rd_kafka_topic_partition_list_destroy(w[i].offsets);
                for (size_t m = 0; m < w[i].n_members; m++) {
                        free(w[i].members[m].member_id);
                        free(w[i].members[m].client_id);
                        free(w[i].members[m].host);
                        if (w[i].assignments[m])
                                rd_kafka_topic_partition_list_destroy(w[i].assignments[m]);
                }
                free(w[i].members);
                free(w[i].assignments);
        }
        free(w);
}

static int cmp_work(const void *a, const void *b)
{
        return strcmp(((const group_work_t *)a)->group_id, ((const group_work_t *)b)->group_id);
}

static group_work_t *find_work(group_work_t *w, size_t n, const char *group)
{
        group_work_t key = {.group_id = (char *)(uintptr_t)group}; /* only read by cmp_work */
        return bsearch(&key, w, n, sizeof(*w), cmp_work);
}

/* Adds the groups one broker listed to (*w, *n, *cap); a group listed twice (it moved between
 * coordinators while we asked) is kept once, after the sort. */
static void add_listings(const rd_kafka_ListConsumerGroups_result_t *res, group_work_t **w,
                         size_t *n, size_t *cap)
{
        size_t cnt = 0;
        const rd_kafka_ConsumerGroupListing_t **valid =
            rd_kafka_ListConsumerGroups_result_valid(res, &cnt);
        for (size_t i = 0; i < cnt; i++) {
                if (*n == *cap) {
                        size_t c = *cap ? *cap * 2 : 64;
                        *w = kos_xrealloc(*w, c * sizeof(**w));
                        *cap = c;
                }
                group_work_t *g = &(*w)[(*n)++];
                memset(g, 0, sizeof(*g));
                g->group_id = xstrdup(rd_kafka_ConsumerGroupListing_group_id(valid[i]));
                g->state = xstrdup(rd_kafka_consumer_group_state_name(
                    rd_kafka_ConsumerGroupListing_state(valid[i])));
        }
}

/* Every group of the cluster: ListConsumerGroups to each broker of the cluster's current
 * metadata, one request per broker. (librdkafka 2.0 sends one ListConsumerGroups to every
 * broker the client ever knew and waits for each to be up, so a broker that left the cluster —
 * stopped, replaced — made every refresh time out until it came back.) A broker of the
 * metadata that does not answer fails the refresh: the list could be missing its groups. */
static int list_groups(kos_lag_t *lag, group_work_t **out, size_t *n_out, char *errstr,
                       size_t errstr_size)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(lag->admin, 0, NULL, &md, refresh_left_ms(lag));
        if (err) {
                snprintf(errstr, errstr_size, "Metadata: %s", rd_kafka_err2str(err));
                lag->unreachable = 1;
                return -1;
        }
        int n_brokers = md->broker_cnt;
        rd_kafka_queue_t *q = rd_kafka_queue_new(lag->admin);
        char e[256];
        for (int i = 0; i < n_brokers; i++) {
                rd_kafka_AdminOptions_t *opt =
                    rd_kafka_AdminOptions_new(lag->admin, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
                rd_kafka_AdminOptions_set_request_timeout(opt, refresh_left_ms(lag), e, sizeof(e));
                rd_kafka_AdminOptions_set_broker(opt, md->brokers[i].id, e, sizeof(e));
                rd_kafka_ListConsumerGroups(lag->admin, opt, q);
                rd_kafka_AdminOptions_destroy(opt);
        }
        rd_kafka_metadata_destroy(md);
        group_work_t *w = NULL;
        size_t n = 0, cap = 0;
        int rc = n_brokers > 0 ? 0 : -1;
        if (rc)
                snprintf(errstr, errstr_size, "Metadata: no brokers");
        for (int answered = 0; rc == 0 && answered < n_brokers; answered++) {
                rd_kafka_event_t *ev =
                    rd_kafka_queue_poll(q, refresh_left_ms(lag) + lag->poll_slack_ms);
                if (!ev) {
                        snprintf(errstr, errstr_size, "ListConsumerGroups: timed out");
                        rc = -1;
                        break;
                }
                const rd_kafka_ListConsumerGroups_result_t *res =
                    rd_kafka_event_ListConsumerGroups_result(ev);
                size_t n_err = 0;
                const rd_kafka_error_t **errs =
                    res ? rd_kafka_ListConsumerGroups_result_errors(res, &n_err) : NULL;
                if (rd_kafka_event_error(ev) || !res) {
                        snprintf(errstr, errstr_size, "ListConsumerGroups: %s",
                                 rd_kafka_event_error_string(ev));
                        rc = -1;
                } else if (n_err) {
                        /* A broker that could not answer means the group list may be
                         * incomplete: better no snapshot than one silently missing groups. */
                        snprintf(errstr, errstr_size, "ListConsumerGroups: %s",
                                 rd_kafka_error_string(errs[0]));
                        rc = -1;
                } else {
                        add_listings(res, &w, &n, &cap);
                }
                rd_kafka_event_destroy(ev);
        }
        rd_kafka_queue_destroy(q);
        if (rc == 0 && n > 1) {
                qsort(w, n, sizeof(*w), cmp_work);
                size_t k = 1;
                for (size_t i = 1; i < n; i++) {
                        if (strcmp(w[i].group_id, w[k - 1].group_id) == 0) {
                                free(w[i].group_id);
                                free(w[i].state);
                                continue;
                        }
                        w[k++] = w[i];
                }
                n = k;
        }
        if (rc == 0 && !w)
                w = kos_xcalloc(1, sizeof(*w));
        if (rc != 0) {
                group_work_free(w, n);
                return -1;
        }
        *out = w;
        *n_out = n;
        return 0;
}

/* Committed offsets of every group and the members of every group, all requests in flight at
 * once on one queue (librdkafka 2.0.2 takes one group per ListConsumerGroupOffsets call). */
static int fetch_groups(kos_lag_t *lag, group_work_t *w, size_t n, char *errstr, size_t errstr_size)
{
        if (!n)
                return 0;
        rd_kafka_queue_t *q = rd_kafka_queue_new(lag->admin);
        char e[256];
        rd_kafka_AdminOptions_t *oopt =
            rd_kafka_AdminOptions_new(lag->admin, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
        rd_kafka_AdminOptions_set_request_timeout(oopt, refresh_left_ms(lag), e, sizeof(e));
        for (size_t i = 0; i < n; i++) {
                rd_kafka_ListConsumerGroupOffsets_t *req =
                    rd_kafka_ListConsumerGroupOffsets_new(w[i].group_id, NULL);
                rd_kafka_ListConsumerGroupOffsets(lag->admin, &req, 1, oopt, q);
                rd_kafka_ListConsumerGroupOffsets_destroy(req);
        }
        rd_kafka_AdminOptions_destroy(oopt);

        const char **ids = kos_xmalloc(n * sizeof(*ids));
        for (size_t i = 0; i < n; i++)
                ids[i] = w[i].group_id;
        rd_kafka_AdminOptions_t *dopt =
            rd_kafka_AdminOptions_new(lag->admin, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
        rd_kafka_AdminOptions_set_request_timeout(dopt, refresh_left_ms(lag), e, sizeof(e));
        rd_kafka_DescribeConsumerGroups(lag->admin, ids, n, dopt, q);
        rd_kafka_AdminOptions_destroy(dopt);
        free(ids);

        size_t pending = n + 1, failed = 0;
        int rc = 0;
        int64_t deadline = lag->deadline_us + (int64_t)lag->poll_slack_ms * 1000;
        while (pending > 0) {
                int64_t left_ms = (deadline - kos_mono_us()) / 1000;
                rd_kafka_event_t *ev = left_ms > 0 ? rd_kafka_queue_poll(q, (int)left_ms) : NULL;
                if (!ev) {
                        snprintf(errstr, errstr_size, "group offsets: timed out (%zu pending)",
                                 pending);
                        rc = -1;
                        break;
                }
                pending--;
                if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT) {
                        size_t cnt = 0;
                        const rd_kafka_group_result_t **gr =
                            rd_kafka_ListConsumerGroupOffsets_result_groups(
                                rd_kafka_event_ListConsumerGroupOffsets_result(ev), &cnt);
                        if (rd_kafka_event_error(ev) && !cnt)
                                failed++;
                        for (size_t i = 0; i < cnt; i++) {
                                group_work_t *g =
                                    find_work(w, n, rd_kafka_group_result_name(gr[i]));
                                if (!g)
                                        continue;
                                g->offsets_done = 1;
                                const rd_kafka_error_t *ge = rd_kafka_group_result_error(gr[i]);
                                if (ge) {
                                        g->offsets_err = rd_kafka_error_code(ge);
                                        continue;
                                }
                                const rd_kafka_topic_partition_list_t *pl =
                                    rd_kafka_group_result_partitions(gr[i]);
                                if (pl)
                                        g->offsets = rd_kafka_topic_partition_list_copy(pl);
                        }
                } else if (rd_kafka_event_type(ev) ==
                           RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT) {
                        size_t cnt = 0;
                        const rd_kafka_ConsumerGroupDescription_t **gd =
                            rd_kafka_DescribeConsumerGroups_result_groups(
                                rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);
                        for (size_t i = 0; i < cnt; i++) {
                                group_work_t *g = find_work(
                                    w, n, rd_kafka_ConsumerGroupDescription_group_id(gd[i]));
                                if (!g || rd_kafka_ConsumerGroupDescription_error(gd[i]))
                                        continue;
                                g->described = 1;
                                free(g->state);
                                g->state = xstrdup(rd_kafka_consumer_group_state_name(
                                    rd_kafka_ConsumerGroupDescription_state(gd[i])));
                                size_t mc = rd_kafka_ConsumerGroupDescription_member_count(gd[i]);
                                g->members = kos_xcalloc(mc ? mc : 1, sizeof(*g->members));
                                g->assignments = kos_xcalloc(mc ? mc : 1, sizeof(*g->assignments));
                                g->n_members = mc;
                                for (size_t m = 0; m < mc; m++) {
                                        const rd_kafka_MemberDescription_t *md =
                                            rd_kafka_ConsumerGroupDescription_member(gd[i], m);
                                        g->members[m].member_id =
                                            xstrdup(rd_kafka_MemberDescription_consumer_id(md));
                                        g->members[m].client_id =
                                            xstrdup(rd_kafka_MemberDescription_client_id(md));
                                        g->members[m].host =
                                            xstrdup(rd_kafka_MemberDescription_host(md));
                                        const rd_kafka_MemberAssignment_t *ma =
                                            rd_kafka_MemberDescription_assignment(md);
                                        const rd_kafka_topic_partition_list_t *ap =
                                            ma ? rd_kafka_MemberAssignment_partitions(ma) : NULL;
                                        if (ap)
                                                g->assignments[m] =
                                                    rd_kafka_topic_partition_list_copy(ap);
                                }
                        }
                }
                rd_kafka_event_destroy(ev);
        }
        rd_kafka_queue_destroy(q);
        if (rc == 0 && failed) {
                snprintf(errstr, errstr_size, "group offsets: %zu requests failed", failed);
                rc = -1;
        }
        return rc;
}

/* ---- building the snapshot --------------------------------------------------------------- */

/* Partition counts of every topic the cluster shows us, asked for after the groups were read:
 * any partition a group could have been given before then is in this answer. Topics hidden by
 * ACLs are missing from it; their entries are left to ListOffsets (groupparts.h). *md_out
 * owns the names; destroy it after the last use of *out. */
static int fetch_topic_counts(kos_lag_t *lag, const struct rd_kafka_metadata **md_out,
                              kos_topic_counts_t *out, char *errstr, size_t errstr_size)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err =
            rd_kafka_metadata(lag->admin, 1, NULL, &md, lag->opts.kafka_timeout_ms);
        if (err) {
                snprintf(errstr, errstr_size, "Metadata: %s", rd_kafka_err2str(err));
                return -1;
        }
        out->n = 0;
        out->v = kos_xcalloc(md->topic_cnt > 0 ? (size_t)md->topic_cnt : 1, sizeof(*out->v));
        for (int i = 0; i < md->topic_cnt; i++)
                if (md->topics[i].partition_cnt > 0)
                        out->v[out->n++] =
                            (kos_topic_count_t){md->topics[i].topic, md->topics[i].partition_cnt};
        kos_topic_counts_sort(out);
        *md_out = md;
        return 0;
}

/* The group's partitions: every committed offset plus every assigned partition (an assigned
 * partition without a commit is lag by the no-commit policy), as kafka-consumer-groups lists,
 * each checked against the topic's partition count (groupparts.h). -1 when out of memory. */
static int build_group(kos_group_lag_t *g, group_work_t *w, const kos_topic_counts_t *topics,
                       kos_gp_rejects_t *rej)
{
        size_t n = 0;
        if (w->offsets)
                n += (size_t)w->offsets->cnt;
        for (size_t m = 0; m < w->n_members; m++)
                if (w->assignments[m])
                        n += (size_t)w->assignments[m]->cnt;
        kos_gp_entry_t *in = kos_xmalloc((n ? n : 1) * sizeof(*in));
        g->parts = kos_xcalloc(n ? n : 1, sizeof(*g->parts));
        size_t k = 0;
        for (int i = 0; w->offsets && i < w->offsets->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &w->offsets->elems[i];
                if (tp->err || tp->offset < 0)
                        continue;
                in[k++] = (kos_gp_entry_t){tp->topic, tp->partition, -1, tp->offset};
        }
        for (size_t m = 0; m < w->n_members; m++)
                for (int i = 0; w->assignments[m] && i < w->assignments[m]->cnt; i++) {
                        const rd_kafka_topic_partition_t *tp = &w->assignments[m]->elems[i];
                        in[k++] = (kos_gp_entry_t){tp->topic, tp->partition, (int)m, 0};
                }
        long got = kos_group_parts_build(topics, in, k, g->parts, rej);
        free(in);
        if (got < 0) {
                free(g->parts);
                g->parts = NULL;
                return -1;
        }
        g->n_parts = (size_t)got;
        g->group_id = w->group_id;
        w->group_id = NULL;
        g->state = w->state;
        w->state = NULL;
        g->members = w->members;
        g->n_members = w->n_members;
        w->members = NULL;
        for (size_t m = 0; m < w->n_members; m++)
                if (w->assignments[m]) {
                        rd_kafka_topic_partition_list_destroy(w->assignments[m]);
                        w->assignments[m] = NULL;
                }
        w->n_members = 0;
        return 0;
}

/* One line for each group whose metadata had refused entries, when that changed since the
 * previous snapshot (a rogue member's assignment is read on every refresh: it is logged once,
 * not every second), at most a few per refresh; the counters on /metrics count them all. */
#define REJECT_LINES_PER_REFRESH 5
static void log_rejects(const kos_snapshot_t *s, const kos_gp_rejects_t *rej,
                        const kos_snapshot_t *prev)
{
        size_t lines = 0, quiet = 0;
        for (size_t i = 0; i < s->n_groups; i++) {
                const kos_group_lag_t *g = &s->groups[i];
                const kos_gp_rejects_t *r = &rej[i];
                if (!g->rejected)
                        continue;
                const kos_group_lag_t *pg = prev ? kos_snapshot_group(prev, g->group_id) : NULL;
                if (pg && pg->rejected == g->rejected)
                        continue;
                if (lines == REJECT_LINES_PER_REFRESH) {
                        quiet++;
                        continue;
                }
                lines++;
                char group[128], client[128] = "", member[128] = "";
                kos_gp_printable(group, sizeof(group), g->group_id);
                if (r->first_member >= 0 && (size_t)r->first_member < g->n_members) {
                        kos_gp_printable(client, sizeof(client),
                                         g->members[r->first_member].client_id);
                        kos_gp_printable(member, sizeof(member),
                                         g->members[r->first_member].member_id);
                }
                KOS_WARN("lag",
                         "group %s: ignoring %llu entries of its metadata (bad partition %llu, "
                         "unknown topic %llu, duplicate %llu), first: %s [%d] (%s) %s%s%s%s%s; "
                         "its lag counts its real partitions only",
                         group, (unsigned long long)g->rejected,
                         (unsigned long long)r->count[KOS_GP_BAD_PARTITION],
                         (unsigned long long)r->count[KOS_GP_UNKNOWN_TOPIC],
                         (unsigned long long)r->count[KOS_GP_DUPLICATE], r->first_topic,
                         (int)r->first_partition, kos_gp_reason_name(r->first_reason),
                         r->first_member >= 0 ? "assigned to member " : "committed offset", member,
                         r->first_member >= 0 ? " (client.id " : "", client,
                         r->first_member >= 0 ? ")" : "");
        }
        if (quiet)
                KOS_WARN("lag", "%zu more groups with ignored metadata entries (see /metrics)",
                         quiet);
}

/* A group whose offsets or members could not be read this refresh (its coordinator is moving,
 * say) is published with the partitions and members it had in the previous snapshot and every
 * value unknown, so its requests answer 503 until a refresh reads it again. Left out, it would
 * read as "no such group" (404, an empty External list) or, without its members, as pods with
 * nothing assigned (0). A group the previous snapshot did not have, or had without partitions,
 * stays out. Groups built by build_group() no longer own their work's group_id. */
static void carry_unknown_groups(kos_snapshot_t *s, const kos_snapshot_t *prev, group_work_t *w,
                                 size_t n)
{
        size_t added = 0;
        for (size_t i = 0; prev && i < n; i++) {
                if (!w[i].group_id)
                        continue;
                const kos_group_lag_t *pg = kos_snapshot_group(prev, w[i].group_id);
                if (pg && pg->n_parts > 0 &&
                    kos_group_copy_unknown(&s->groups[s->n_groups], pg) == 0) {
                        s->n_groups++;
                        added++;
                }
        }
        if (added)
                kos_snapshot_finish(s);
}

/* Unique (topic, partition) list over all groups, for the batched ListOffsets. */
static int tp_cmp(const char *t1, int32_t p1, const char *t2, int32_t p2)
{
        int c = strcmp(t1, t2);
        return c ? c : (p1 > p2) - (p1 < p2);
}

/* librdkafka's list_find is a linear scan; with thousands of partitions per refresh we bisect
 * lists kept sorted by (topic, partition). */
static rd_kafka_topic_partition_t *tp_find(rd_kafka_topic_partition_list_t *l, const char *topic,
                                           int32_t partition)
{
        int lo = 0, hi = l->cnt - 1;
        while (lo <= hi) {
                int mid = lo + (hi - lo) / 2;
                int c = tp_cmp(l->elems[mid].topic, l->elems[mid].partition, topic, partition);
                if (c == 0)
                        return &l->elems[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid - 1;
        }
        return NULL;
}

static int elem_cmp(const void *a, const void *b, void *opaque)
{
        (void)opaque;
        const rd_kafka_topic_partition_t *x = a, *y = b;
        return tp_cmp(x->topic, x->partition, y->topic, y->partition);
}

/* Sorts and drops duplicates in place. */
static void tp_sort_unique(rd_kafka_topic_partition_list_t *l)
{
        rd_kafka_topic_partition_list_sort(l, elem_cmp, NULL);
        int k = 0;
        for (int i = 0; i < l->cnt; i++) {
                if (k > 0 && elem_cmp(&l->elems[k - 1], &l->elems[i], NULL) == 0)
                        continue;
                if (k != i) {
                        rd_kafka_topic_partition_t tmp = l->elems[k];
                        l->elems[k] = l->elems[i];
                        l->elems[i] = tmp;
                }
                k++;
        }
        while (l->cnt > k)
                rd_kafka_topic_partition_list_del_by_idx(l, l->cnt - 1);
}

static rd_kafka_topic_partition_list_t *all_partitions(kos_snapshot_t *s)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(64);
        for (size_t i = 0; i < s->n_groups; i++)
                for (size_t j = 0; j < s->groups[i].n_parts; j++) {
                        kos_part_lag_t *p = &s->groups[i].parts[j];
                        rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
                }
        tp_sort_unique(l);
        return l;
}

/* Fills end (or log start) offsets of every partition from one offsets_for_times call, which
 * librdkafka splits into one ListOffsets request per partition leader. */
static int fetch_offsets(kos_lag_t *lag, kos_snapshot_t *s, int64_t which, char *errstr,
                         size_t errstr_size)
{
        int log_start = which == RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_topic_partition_list_t *l = all_partitions(s);
        if (l->cnt == 0) {
                rd_kafka_topic_partition_list_destroy(l);
                return 0;
        }
        for (int i = 0; i < l->cnt; i++)
                l->elems[i].offset = which;
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(lag->admin, l, refresh_left_ms(lag));
        if (err && err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
                snprintf(errstr, errstr_size, "ListOffsets (%s): %s",
                         log_start ? "log start" : "end", rd_kafka_err2str(err));
                rd_kafka_topic_partition_list_destroy(l);
                return -1;
        }
        for (size_t i = 0; i < s->n_groups; i++)
                for (size_t j = 0; j < s->groups[i].n_parts; j++) {
                        kos_part_lag_t *p = &s->groups[i].parts[j];
                        rd_kafka_topic_partition_t *tp = tp_find(l, p->topic, p->partition);
                        if (tp && tp->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                                p->end = KOS_OFFSET_GONE; /* deleted topic: dropped below */
                                continue;
                        }
                        if (!tp || tp->err || tp->offset < 0)
                                continue; /* stays unknown: never served as 0 */
                        if (log_start)
                                p->log_start = tp->offset;
                        else
                                p->end = tp->offset;
                }
        rd_kafka_topic_partition_list_destroy(l);
        return 0;
}

/* Committed offsets can outlive their topic for a while after it is deleted; such partitions
 * have no lag to report (kafka-consumer-groups leaves them out as well). A member assigned a
 * topic that does not exist is refused like a bad partition number (rej[i] for group i). */
static void drop_gone_partitions(kos_snapshot_t *s, kos_gp_rejects_t *rej)
{
        for (size_t i = 0; i < s->n_groups; i++) {
                kos_group_lag_t *g = &s->groups[i];
                size_t k = 0;
                for (size_t j = 0; j < g->n_parts; j++) {
                        if (g->parts[j].end == KOS_OFFSET_GONE) {
                                if (g->parts[j].member >= 0)
                                        kos_gp_reject(&rej[i], g->parts[j].topic,
                                                      g->parts[j].partition, g->parts[j].member,
                                                      KOS_GP_UNKNOWN_TOPIC);
                                free(g->parts[j].topic);
                                continue;
                        }
                        g->parts[k++] = g->parts[j];
                }
                g->n_parts = k;
        }
}

/* Where the first unconsumed record of a partition is, or -1 when nothing is unconsumed. */
static int64_t head_offset(const kos_part_lag_t *p)
{
        if (p->lag <= 0)
                return -1;
        return p->committed >= 0 ? p->committed : p->log_start;
}

/* The timestamp of the record at an offset never changes, so a value the previous snapshot
 * holds for the same partition and offset is reused as it is. When the committed offset has
 * moved, the previous (older) head timestamp is carried over as a provisional value until
 * fetch_heads() reads the new head: the age served meanwhile is an upper bound taken from a
 * real record, never an interpolation, and never a made-up 0. Returns how many partitions
 * need a fetch. */
static size_t reuse_heads(kos_snapshot_t *s, const kos_snapshot_t *prev)
{
        size_t missing = 0;
        for (size_t i = 0; i < s->n_groups; i++) {
                kos_group_lag_t *g = &s->groups[i];
                const kos_group_lag_t *pg = prev ? kos_snapshot_group(prev, g->group_id) : NULL;
                for (size_t j = 0; j < g->n_parts; j++) {
                        kos_part_lag_t *p = &g->parts[j];
                        int64_t off = head_offset(p);
                        if (off < 0)
                                continue;
                        const kos_part_lag_t *q =
                            pg ? kos_group_part(pg, p->topic, p->partition) : NULL;
                        int64_t q_ts = q ? q->head_ts_ms : -1;
                        if (q_ts >= 0 && q->head_ts_offset <= off) {
                                p->head_ts_ms = q_ts;
                                p->head_ts_offset = q->head_ts_offset;
                        }
                        if (p->head_ts_ms < 0 || p->head_ts_offset != off)
                                missing++;
                }
        }
        return missing;
}

static int head_cmp(const void *a, const void *b)
{
        const kos_part_lag_t *x = *(kos_part_lag_t *const *)a, *y = *(kos_part_lag_t *const *)b;
        int c = tp_cmp(x->topic, x->partition, y->topic, y->partition);
        if (c)
                return c;
        int64_t ox = head_offset(x), oy = head_offset(y);
        return (ox > oy) - (ox < oy);
}

enum { HEAD_PENDING, HEAD_DONE, HEAD_FAILED };

/* librdkafka 2.0's assign()/unassign() cost grows quickly with the number of partitions;
 * small rounds keep each one cheap and each fetch response within fetch.max.bytes. */
#define HEADS_PER_ROUND  1024
#define HEAD_SCAN_WINDOW 2000 /* records read forward per partition and round */

/* Index of the first entry of (topic, partition) in need, or n. */
static size_t need_first(kos_part_lag_t **need, size_t n, const char *topic, int32_t partition)
{
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (tp_cmp(need[mid]->topic, need[mid]->partition, topic, partition) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* A record at `offset` read from (topic, partition) is the first unconsumed record of every
 * pending entry waiting at or below that offset (records arrive in offset order; offsets
 * without a record, like transaction markers, are skipped by the log). ts < 0 marks those
 * entries failed for this refresh. Returns the number of entries settled. */
static size_t need_settle(kos_part_lag_t **need, char *state, size_t n, const char *topic,
                          int32_t partition, int64_t offset, int64_t ts)
{
        size_t k = 0;
        for (size_t i = need_first(need, n, topic, partition);
             i < n && need[i]->partition == partition && strcmp(need[i]->topic, topic) == 0 &&
             head_offset(need[i]) <= offset;
             i++) {
                if (state[i] != HEAD_PENDING)
                        continue;
                if (ts >= 0) {
                        need[i]->head_ts_offset = head_offset(need[i]);
                        need[i]->head_ts_ms = ts; /* atomic: readers may be looking */
                        state[i] = HEAD_DONE;
                } else {
                        state[i] = HEAD_FAILED;
                }
                k++;
        }
        return k;
}

/* Reads the first unconsumed record of every partition whose head is not exact yet, within
 * the time budget. Works on a snapshot that is already published: only the atomic head fields
 * change. `need` is sorted by (topic, partition, offset): each round assigns a partition at
 * its lowest pending offset and reads forward up to HEAD_SCAN_WINDOW records, which settles
 * every group waiting in that window with one fetch (groups on one topic tend to be close). */
static void fetch_heads(kos_lag_t *lag, kos_snapshot_t *s)
{
        size_t n = 0, cap = 64;
        kos_part_lag_t **need = kos_xmalloc(cap * sizeof(*need));
        for (size_t i = 0; i < s->n_groups; i++)
                for (size_t j = 0; j < s->groups[i].n_parts; j++) {
                        kos_part_lag_t *p = &s->groups[i].parts[j];
                        int64_t off = head_offset(p);
                        if (off < 0 || (p->head_ts_ms >= 0 && p->head_ts_offset == off))
                                continue;
                        if (n == cap)
                                need = kos_xrealloc(need, (cap *= 2) * sizeof(*need));
                        need[n++] = p;
                }
        qsort(need, n, sizeof(*need), head_cmp);
        char *state = kos_xcalloc(n ? n : 1, 1);
        uint64_t fetched = 0;
        int64_t t0 = kos_mono_us();
        int64_t deadline = t0 + (int64_t)lag->opts.head_budget_ms * 1000;
        for (int round = 0; kos_mono_us() < deadline; round++) {
                /* Per partition: from its lowest pending offset to the highest one in the
                 * window (stashed in the element's opaque). */
                rd_kafka_topic_partition_list_t *want = rd_kafka_topic_partition_list_new(64);
                for (size_t i = 0; i < n && want->cnt < HEADS_PER_ROUND; i++) {
                        kos_part_lag_t *p = need[i];
                        if (state[i] != HEAD_PENDING)
                                continue;
                        rd_kafka_topic_partition_t *last =
                            want->cnt ? &want->elems[want->cnt - 1] : NULL;
                        int64_t off = head_offset(p);
                        if (last &&
                            tp_cmp(last->topic, last->partition, p->topic, p->partition) == 0) {
                                if (off < last->offset + HEAD_SCAN_WINDOW)
                                        last->opaque = (void *)(intptr_t)off;
                                continue;
                        }
                        rd_kafka_topic_partition_t *e =
                            rd_kafka_topic_partition_list_add(want, p->topic, p->partition);
                        e->offset = off;
                        e->opaque = (void *)(intptr_t)off;
                }
                if (want->cnt == 0) {
                        rd_kafka_topic_partition_list_destroy(want);
                        break;
                }
                rd_kafka_assign(lag->heads, want);
                int remaining = want->cnt;
                while (remaining > 0) {
                        int64_t left_ms = (deadline - kos_mono_us()) / 1000;
                        if (left_ms <= 0)
                                break;
                        rd_kafka_message_t *m =
                            rd_kafka_consumer_poll(lag->heads, left_ms > 100 ? 100 : (int)left_ms);
                        if (!m)
                                continue;
                        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
                        rd_kafka_topic_partition_t *w =
                            topic ? tp_find(want, topic, m->partition) : NULL;
                        if (w && w->err == 0) {
                                int64_t hi = (int64_t)(intptr_t)w->opaque;
                                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                        w->err = RD_KAFKA_RESP_ERR__NOENT; /* nothing more */
                                        remaining--;
                                } else if (m->err) {
                                        need_settle(need, state, n, topic, m->partition, hi, -1);
                                        w->err = m->err;
                                        remaining--;
                                } else {
                                        rd_kafka_timestamp_type_t tt;
                                        int64_t ts = rd_kafka_message_timestamp(m, &tt);
                                        fetched += need_settle(need, state, n, topic, m->partition,
                                                               m->offset, ts) > 0;
                                        if (m->offset >= hi) {
                                                w->err = RD_KAFKA_RESP_ERR__NOENT;
                                                remaining--;
                                        }
                                }
                        }
                        rd_kafka_message_destroy(m);
                }
                KOS_DBG("lag", "heads round %d: %d partitions, %d unfinished", round, want->cnt,
                        remaining);
                rd_kafka_assign(lag->heads, NULL);
                rd_kafka_topic_partition_list_destroy(want);
        }
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
                done += state[i] == HEAD_DONE;
        KOS_DBG("lag", "heads: %zu of %zu settled, %llu records read in %.1f ms", done, n,
                (unsigned long long)fetched, (double)(kos_mono_us() - t0) / 1000.0);
        pthread_mutex_lock(&lag->lock);
        lag->stats.head_fetched += fetched;
        pthread_mutex_unlock(&lag->lock);
        free(state);
        free(need);
}

int kos_lag_refresh_once(kos_lag_t *lag, char *errstr, size_t errstr_size)
{
        int64_t t0 = kos_mono_us();
        lag->unreachable = 0;
        if (!lag->admin) {
                snprintf(errstr, errstr_size, "Kafka clients closed (Kafka unreachable)");
                lag->unreachable = 1;
                return -1;
        }
        lag->poll_slack_ms = lag->opts.kafka_timeout_ms / 10 < POLL_SLACK_MAX_MS
                                 ? lag->opts.kafka_timeout_ms / 10
                                 : POLL_SLACK_MAX_MS;
        lag->deadline_us = t0 + (int64_t)(lag->opts.kafka_timeout_ms - lag->poll_slack_ms) * 1000;
        group_work_t *w = NULL;
        size_t n = 0;
        kos_snapshot_t *s = NULL;
        const struct rd_kafka_metadata *md = NULL;
        kos_topic_counts_t topics = {0};
        kos_gp_rejects_t *rej = NULL;
        uint64_t rejected[KOS_GP_REASONS] = {0};
        int rc = -1;
        if (list_groups(lag, &w, &n, errstr, errstr_size) == -1)
                goto done;
        int64_t t_list = kos_mono_us();
        if (fetch_groups(lag, w, n, errstr, errstr_size) == -1)
                goto done;
        int64_t t_groups = kos_mono_us();
        if (fetch_topic_counts(lag, &md, &topics, errstr, errstr_size) == -1)
                goto done;
        int64_t t_meta = kos_mono_us();
        s = kos_snapshot_new();
        rej = kos_xcalloc(n ? n : 1, sizeof(*rej));
        s->groups = kos_xcalloc(n ? n : 1, sizeof(*s->groups));
        /* Groups are built in group-id order (w is sorted), so kos_snapshot_finish leaves them
         * where rej[] has them. */
        for (size_t i = 0; i < n; i++) {
                if (!w[i].offsets_done || w[i].offsets_err || !w[i].described) {
                        /* Built below from the previous snapshot, as unknown (503). */
                        char gid[128];
                        kos_gp_printable(gid, sizeof(gid), w[i].group_id);
                        KOS_WARN("lag", "group %s: %s unavailable (%s): its values are unknown",
                                 gid, w[i].described ? "offsets" : "members",
                                 !w[i].offsets_done ? "no answer"
                                 : w[i].offsets_err ? rd_kafka_err2str(w[i].offsets_err)
                                                    : "describe failed");
                        continue;
                }
                if (build_group(&s->groups[s->n_groups], &w[i], &topics, &rej[s->n_groups]) == -1) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto done;
                }
                s->n_groups++;
        }
        kos_snapshot_finish(s);
        if (fetch_offsets(lag, s, RD_KAFKA_OFFSET_END, errstr, errstr_size) == -1)
                goto done;
        drop_gone_partitions(s, rej);
        /* After the drop: only partitions that exist lend their owner to another topic's. */
        for (size_t i = 0; i < s->n_groups; i++) {
                kos_group_lag_t *g = &s->groups[i];
                if (kos_group_parts_attribute(g->parts, g->n_parts) == -1) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto done;
                }
                for (int r = 0; r < KOS_GP_REASONS; r++) {
                        g->rejected += rej[i].count[r];
                        rejected[r] += rej[i].count[r];
                }
        }
        /* Log start offsets of every partition, whatever the policy: a commit below it counts
         * from there (retention), and a request may choose offsetResetPolicy=earliest. */
        if (fetch_offsets(lag, s, RD_KAFKA_OFFSET_BEGINNING, errstr, errstr_size) == -1)
                goto done;
        int64_t t_offsets = kos_mono_us();
        for (size_t i = 0; i < s->n_groups; i++)
                for (size_t j = 0; j < s->groups[i].n_parts; j++) {
                        kos_part_lag_t *p = &s->groups[i].parts[j];
                        p->lag = kos_part_lag_compute(p->committed, p->end, p->log_start,
                                                      lag->opts.policy);
                }
        /* Rates, stuck partitions and status need what earlier refreshes saw; the snapshot is
         * served without them (503 for those metrics) if memory runs out. */
        if (kos_history_update(lag->history, s, kos_mono_us() / 1000, kos_wall_ms()) == -1)
                KOS_WARN("lag", "out of memory: rates, stuck partitions and status start over");
        kos_snapshot_t *prev = kos_snapshot_current();
        /* Before the carried groups are added: rej[] is indexed like the built groups. */
        log_rejects(s, rej, prev);
        carry_unknown_groups(s, prev, w, n);
        size_t missing_heads = lag->heads ? reuse_heads(s, prev) : 0;
        kos_snapshot_unref(prev);
        s->taken_ms = kos_wall_ms();
        s->refresh_us = kos_mono_us() - t0;
        if (kos_log_get_level() >= KOS_LOG_DEBUG) {
                size_t parts = 0;
                for (size_t i = 0; i < s->n_groups; i++)
                        parts += s->groups[i].n_parts;
                KOS_DBG("lag",
                        "refresh: %zu groups, %zu partitions (list %.1f, groups %.1f, metadata "
                        "%.1f, offsets %.1f, heads %.1f ms) %.1f ms",
                        s->n_groups, parts, (double)(t_list - t0) / 1000.0,
                        (double)(t_groups - t_list) / 1000.0, (double)(t_meta - t_groups) / 1000.0,
                        (double)(t_offsets - t_meta) / 1000.0,
                        (double)(s->refresh_us - (t_offsets - t0)) / 1000.0,
                        (double)s->refresh_us / 1000.0);
        }
        rc = 0;
done:
        group_work_free(w, n);
        free(rej);
        free(topics.v);
        if (md)
                rd_kafka_metadata_destroy(md);
        pthread_mutex_lock(&lag->lock);
        if (rc == 0) {
                for (int r = 0; r < KOS_GP_REASONS; r++) {
                        lag->stats.rejected_total[r] += rejected[r];
                        lag->stats.rejected_last[r] = rejected[r];
                }
                lag->stats.refreshes_ok++;
                lag->stats.last_refresh_us = s->refresh_us;
                lag->stats.last_ok_ms = s->taken_ms;
                lag->stats.last_error[0] = '\0';
        } else {
                lag->stats.refreshes_failed++;
                snprintf(lag->stats.last_error, sizeof(lag->stats.last_error), "%s", errstr);
        }
        pthread_mutex_unlock(&lag->lock);
        if (rc != 0) {
                kos_snapshot_unref(s);
                return rc;
        }
        /* Lag is published before the head records are read, so a slow fetch never delays
         * the numbers the HPA scales on; heads fill in place (atomically) right after. */
        kos_snapshot_publish(kos_snapshot_ref(s));
        if (missing_heads)
                fetch_heads(lag, s);
        kos_snapshot_unref(s);
        return 0;
}

/* Whether a broker answers Metadata within --kafka-timeout, asked by a short-lived client
 * without group.id: no consumer-group handle, so no coordinator lookups (see refresh_main). */
static int probe_kafka(kos_lag_t *lag)
{
        char e[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_dup(lag->probe_conf);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                KOS_WARN("lag", "Kafka probe client: %s", e);
                return -1;
        }
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, lag->opts.kafka_timeout_ms);
        int ok = !err && md->broker_cnt > 0;
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        return ok ? 0 : -1;
}

/* Sleeps on lag->wake until kos_mono_us() reaches until_us or stop is asked; returns stop. */
static int wait_until_us(kos_lag_t *lag, int64_t until_us)
{
        pthread_mutex_lock(&lag->lock);
        while (!lag->stop && kos_mono_us() < until_us) {
                struct timespec ts = {.tv_sec = until_us / 1000000,
                                      .tv_nsec = (until_us % 1000000) * 1000};
                pthread_cond_timedwait(&lag->wake, &lag->lock, &ts);
        }
        int stop = lag->stop;
        pthread_mutex_unlock(&lag->lock);
        return stop;
}

int kos_lag_probe_backoff_ms(int failed_probes, int backoff_ms, int backoff_max_ms,
                             int refresh_interval_ms)
{
        int64_t b = backoff_ms > 0 ? backoff_ms : 1;
        for (int i = 1; i < failed_probes && b < backoff_max_ms; i++)
                b *= 2;
        if (b > backoff_max_ms)
                b = backoff_max_ms;
        return b > refresh_interval_ms ? (int)b : refresh_interval_ms;
}

/* Refreshes start every interval, measured start to start, so a commit is served at most one
 * interval plus one refresh after it happened; a refresh longer than the interval is followed
 * by the next one at once.
 * When no broker answers the Metadata requests of two refreshes in a row, the clients are
 * closed and Kafka is probed instead, at growing intervals (kos_lag_probe_backoff_ms), until a
 * broker answers; then the clients are created again and refreshes resume. librdkafka 2.0's clients
 * with a group.id (both of ours need one) look their group coordinator up while no broker is
 * reachable with each force-connecting a broker past reconnect.backoff.ms, and their main threads
 * spin on it: adapters left running against a stopped cluster used ~47 % of a core and ~2000
 * connect() a second. Snapshots age meanwhile, so requests answer 503 past --max-staleness as
 * always. */
static void *refresh_main(void *arg)
{
        kos_lag_t *lag = arg;
        int was_failing = 0, failed_probes = 0, unreachable_refreshes = 0;
        for (;;) {
                int64_t t0 = kos_mono_us();
                int64_t next_us = t0 + (int64_t)lag->opts.refresh_interval_ms * 1000;
                char err[512];
                if (!lag->admin) {
                        if (probe_kafka(lag) == 0 && open_clients(lag, err, sizeof(err)) == 0) {
                                KOS_INFO("lag",
                                         "Kafka answers again after %d probes: clients "
                                         "reopened",
                                         failed_probes);
                                failed_probes = 0;
                        } else {
                                close_clients(lag); /* a half-opened pair */
                                failed_probes++;
                                /* Counted as failed refreshes: /metrics shows the outage. */
                                pthread_mutex_lock(&lag->lock);
                                lag->stats.refreshes_failed++;
                                snprintf(lag->stats.last_error, sizeof(lag->stats.last_error),
                                         "no broker answers (Kafka probe %d failed)",
                                         failed_probes);
                                pthread_mutex_unlock(&lag->lock);
                                int pause = kos_lag_probe_backoff_ms(
                                    failed_probes, lag->reconnect_backoff_ms,
                                    lag->reconnect_backoff_max_ms, lag->opts.refresh_interval_ms);
                                KOS_DBG("lag", "Kafka probe %d failed after %.1f ms; next in %d ms",
                                        failed_probes, (double)(kos_mono_us() - t0) / 1000.0,
                                        pause);
                                if (wait_until_us(lag, kos_mono_us() + (int64_t)pause * 1000))
                                        break;
                                continue;
                        }
                }
                if (kos_lag_refresh_once(lag, err, sizeof(err)) == -1) {
                        double ms = (double)(kos_mono_us() - t0) / 1000.0;
                        if (!was_failing)
                                KOS_WARN("lag", "refresh failed after %.1f ms: %s", ms, err);
                        else
                                KOS_DBG("lag", "refresh failed after %.1f ms: %s", ms, err);
                        was_failing = 1;
                        /* One failed Metadata request can be a broker of a live cluster
                         * shutting down under it: only consecutive ones close the clients. */
                        unreachable_refreshes = lag->unreachable ? unreachable_refreshes + 1 : 0;
                        if (unreachable_refreshes >= UNREACHABLE_REFRESHES) {
                                unreachable_refreshes = 0;
                                KOS_WARN("lag",
                                         "no broker answers: Kafka clients closed, probing "
                                         "every %d..%d ms until one does",
                                         kos_lag_probe_backoff_ms(1, lag->reconnect_backoff_ms,
                                                                  lag->reconnect_backoff_max_ms,
                                                                  lag->opts.refresh_interval_ms),
                                         kos_lag_probe_backoff_ms(64, lag->reconnect_backoff_ms,
                                                                  lag->reconnect_backoff_max_ms,
                                                                  lag->opts.refresh_interval_ms));
                                close_clients(lag);
                        }
                } else {
                        unreachable_refreshes = 0;
                        if (was_failing)
                                KOS_INFO("lag", "refresh recovered");
                        was_failing = 0;
                }
                if (wait_until_us(lag, next_us))
                        break;
        }
        return NULL;
}

int kos_lag_start(kos_lag_t *lag, char *errstr, size_t errstr_size)
{
        int e = pthread_create(&lag->thread, NULL, refresh_main, lag);
        if (e) {
                snprintf(errstr, errstr_size, "pthread_create: %s", strerror(e));
                return -1;
        }
        lag->started = 1;
        return 0;
}

void kos_lag_get_stats(kos_lag_t *lag, kos_lag_stats_t *out)
{
        pthread_mutex_lock(&lag->lock);
        *out = lag->stats;
        pthread_mutex_unlock(&lag->lock);
}

void kos_lag_destroy(kos_lag_t *lag)
{
        if (!lag)
                return;
        if (lag->started) {
                pthread_mutex_lock(&lag->lock);
                lag->stop = 1;
                pthread_cond_signal(&lag->wake);
                pthread_mutex_unlock(&lag->lock);
                pthread_join(lag->thread, NULL);
        }
        if (lag->heads) {
                rd_kafka_consumer_close(lag->heads);
                rd_kafka_destroy(lag->heads);
        }
        if (lag->admin)
                rd_kafka_destroy(lag->admin);
        kos_history_destroy(lag->history);
        if (lag->admin_conf)
                rd_kafka_conf_destroy(lag->admin_conf);
        if (lag->heads_conf)
                rd_kafka_conf_destroy(lag->heads_conf);
        if (lag->probe_conf)
                rd_kafka_conf_destroy(lag->probe_conf);
        pthread_mutex_destroy(&lag->lock);
        pthread_cond_destroy(&lag->wake);
        free(lag);
}
