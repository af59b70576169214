/* Assignment, revocation and replay (see rebalance.h).
 *
 * Rebuilding a task: its committed offsets carry the stream time st at commit. Everything the
 * committed state can still hold was recorded at or after the horizon of st
 * (kos_topo_horizon: st - 2·window - grace). So the task starts fetching at the first offset
 * with a timestamp at or after the horizon (offsets_for_times) and processes everything below
 * the committed offset with output suppressed; a join emits only when one of its two records is
 * past the committed offset, which is exactly what the previous owner had not yet committed. */
#include "rebalance.h"
#include "clock.h"
#include "assignment.h"
#include "delivery.h"
#include "log.h"
#include "task.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KAFKA_TIMEOUT_MS 10000

static const kos_kconf_t *probe_kc;

void kos_rebalance_set_kconf(const kos_kconf_t *kc)
{
        probe_kc = kc;
}

static const char *tname(const kos_proc_t *p, int side)
{
        return p->conf->topics[side == KOS_SIDE_RQ ? KOS_T_REQUESTS : KOS_T_RESPONSES];
}

/* Where a side without a committed offset starts, as auto.offset.reset says. A concrete
 * offset lets the task know when that input has caught up; a logical one is the fallback. */
static int64_t reset_offset(kos_proc_t *p, const char *topic, int32_t part)
{
        char v[32] = "";
        size_t sz = sizeof(v);
        rd_kafka_conf_get(rd_kafka_conf(p->consumer), "auto.offset.reset", v, &sz);
        int latest = !strcmp(v, "largest") || !strcmp(v, "latest") || !strcmp(v, "end");
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(p->consumer, topic, part, &lo, &hi,
                                             KAFKA_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return latest ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
        return latest ? hi : lo;
}

/* The timestamp of the record at offset, read with a short-lived consumer: for offsets
 * committed without our metadata (by another tool). -1 when it cannot be had. */
static int64_t probe_ts(const char *topic, int32_t part, int64_t offset)
{
        char err[512];
        if (!probe_kc)
                return -1;
        rd_kafka_t *rk = kos_kafka_new(probe_kc, RD_KAFKA_CONSUMER, err, sizeof(err));
        if (!rk)
                return -1;
        int64_t ts = -1;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, part)->offset = offset;
        if (!rd_kafka_assign(rk, l)) {
                int64_t deadline = kos_mono_ms() + 5000;
                while (ts < 0 && kos_mono_ms() < deadline) {
                        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                        if (!m)
                                continue;
                        if (!m->err && m->offset >= offset)
                                ts = rd_kafka_message_timestamp(m, NULL);
                        rd_kafka_message_destroy(m);
                }
        }
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return ts;
}

static int64_t max64(int64_t a, int64_t b)
{
        return a > b ? a : b;
}

/* Step 1: the committed offsets of both inputs of parts, in the order (parts[i], side) at
 * [2 * i + side], with their metadata. A rebalance callback cannot be repeated, so a failed
 * read is retried, and in the end stops the process (p->fatal) so that a restart resumes from
 * them rather than from auto.offset.reset. */
static rd_kafka_topic_partition_list_t *read_committed(kos_proc_t *p, const int32_t *parts, int n)
{
        rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new(2 * n);
        for (int i = 0; i < n; i++)
                for (int s = 0; s < KOS_SIDES; s++)
                        rd_kafka_topic_partition_list_add(c, tname(p, s), parts[i]);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int attempt = 0; attempt < 6; attempt++) {
                for (int i = 0; i < c->cnt; i++)
                        c->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
                if (!(err = rd_kafka_committed(p->consumer, c, KAFKA_TIMEOUT_MS)))
                        return c;
                KOS_WARN("rebalance", "reading committed offsets: %s (retrying)",
                         rd_kafka_err2str(err));
        }
        KOS_ERR("rebalance",
                "cannot read committed offsets: %s; stopping so that a restart resumes from them",
                rd_kafka_err2str(err));
        atomic_store(&p->fatal, 1);
        rd_kafka_topic_partition_list_destroy(c);
        return NULL;
}

/* The stream time a task's committed offsets e[KOS_SIDES] carry: the larger "kos1 st=" of its
 * two sides. Offsets committed by another tool carry none: then the timestamp of the record
 * before each committed offset tells. INT64_MIN when there is none (nothing committed, or no
 * record to read). */
static int64_t committed_stream_time(const rd_kafka_topic_partition_t *e, int32_t part)
{
        int64_t st = INT64_MIN, v;
        int committed = 0;
        for (int s = 0; s < KOS_SIDES; s++) {
                if (e[s].offset < 0)
                        continue;
                committed = 1;
                if (kos_delivery_parse_meta(e[s].metadata, e[s].metadata_size, &v) == 0)
                        st = max64(st, v);
        }
        if (!committed || st != INT64_MIN)
                return st;
        for (int s = 0; s < KOS_SIDES; s++)
                if (e[s].offset > 0)
                        st = max64(st, probe_ts(e[s].topic, part, e[s].offset - 1));
        return st < 0 ? INT64_MIN : st;
}

/* Step 2: the task of partition part, each side starting at its committed offset e[side]
 * (start[side]), or where auto.offset.reset says when none is committed. With a stream time,
 * records below the committed offsets are replayed from the task's horizon (topology.h): a
 * request for the first offset at or after it goes into times, for step 3. */
static kos_task_t *new_task(kos_proc_t *p, int32_t part, const rd_kafka_topic_partition_t *e,
                            int64_t *start, rd_kafka_topic_partition_list_t *times)
{
        kos_task_t *t = kos_task_new(p, part);
        int64_t st = committed_stream_time(e, part);
        int64_t horizon = st == INT64_MIN
                              ? INT64_MIN
                              : kos_topo_horizon(st, p->conf->window_ms, p->conf->grace_ms);
        int committed = 0;
        for (int s = 0; s < KOS_SIDES; s++) {
                kos_side_t *sd = &t->side[s];
                if (e[s].offset >= 0) {
                        committed = 1;
                        sd->committed = sd->next = sd->replay_end = e[s].offset;
                        start[s] = e[s].offset;
                        if (horizon != INT64_MIN)
                                rd_kafka_topic_partition_list_add(times, tname(p, s), part)
                                    ->offset = max64(0, horizon);
                } else {
                        start[s] = reset_offset(p, tname(p, s), part);
                }
                sd->fetched_next = start[s] >= 0 ? start[s] : -1;
        }
        /* Replayed records older than the horizon cannot matter: skipped. */
        t->replay_floor_ts = horizon;
        if (committed && horizon == INT64_MIN)
                KOS_WARN("rebalance",
                         "task %" PRId32 ": no stream time for the committed offsets; state "
                         "starts empty",
                         part);
        return t;
}

/* Step 3: moves each side's start back to the first offset at its task's horizon, which
 * offsets_for_times found for the requests in times. Left where it is when there is no
 * record that recent (offset -1) or the lookup failed: then state starts empty. */
static void replay_from_horizon(kos_proc_t *p, const int32_t *parts, int n, int64_t *start,
                                rd_kafka_topic_partition_list_t *times)
{
        if (!times->cnt)
                return;
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(p->consumer, times, KAFKA_TIMEOUT_MS);
        if (err) {
                KOS_WARN("rebalance", "offsets_for_times: %s; state starts empty",
                         rd_kafka_err2str(err));
                return;
        }
        for (int i = 0; i < times->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &times->elems[i];
                int s = strcmp(tp->topic, tname(p, KOS_SIDE_RQ)) == 0 ? KOS_SIDE_RQ : KOS_SIDE_RS;
                for (int k = 0; k < n; k++) {
                        if (parts[k] != tp->partition)
                                continue;
                        if (!tp->err && tp->offset >= 0 && tp->offset < start[2 * k + s]) {
                                start[2 * k + s] = tp->offset;
                                p->tasks[parts[k]]->side[s].fetched_next = tp->offset;
                        }
                }
        }
}

/* Step 4: where the new tasks' partitions are fetched from, each task logged. */
static rd_kafka_topic_partition_list_t *fetch_positions(kos_proc_t *p, const int32_t *parts, int n,
                                                        const int64_t *start)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2 * n);
        for (int i = 0; i < n; i++) {
                const kos_task_t *t = p->tasks[parts[i]];
                for (int s = 0; s < KOS_SIDES; s++)
                        rd_kafka_topic_partition_list_add(l, tname(p, s), parts[i])->offset =
                            start[2 * i + s];
                char replay[96] = ", no replay";
                if (t->replay_floor_ts != INT64_MIN)
                        snprintf(replay, sizeof(replay), ", replaying records since %" PRId64,
                                 t->replay_floor_ts);
                KOS_INFO("rebalance",
                         "task %" PRId32 ": %s from %" PRId64 " (committed %" PRId64
                         "), %s from %" PRId64 " (committed %" PRId64 ")%s",
                         parts[i], tname(p, KOS_SIDE_RQ), start[2 * i], t->side[0].committed,
                         tname(p, KOS_SIDE_RS), start[2 * i + 1], t->side[1].committed, replay);
        }
        return l;
}

/* Creates the tasks of parts[0..n) and returns the partitions (both inputs) to fetch, with
 * their start offsets. NULL when the committed offsets cannot be read (p->fatal is set). */
static rd_kafka_topic_partition_list_t *prepare(kos_proc_t *p, const int32_t *parts, int n)
{
        rd_kafka_topic_partition_list_t *c = read_committed(p, parts, n);
        if (!c)
                return NULL;
        int64_t *start = kos_xcalloc((size_t)(2 * n), sizeof(*start));
        rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_new(2 * n);
        for (int i = 0; i < n; i++)
                p->tasks[parts[i]] = new_task(p, parts[i], &c->elems[2 * i], &start[2 * i], times);
        replay_from_horizon(p, parts, n, start, times);
        rd_kafka_topic_partition_list_t *l = fetch_positions(p, parts, n, start);
        rd_kafka_topic_partition_list_destroy(times);
        rd_kafka_topic_partition_list_destroy(c);
        free(start);
        return l;
}

/* One line for what the group leader handed out and this member refused: at most every
 * REJECT_LOG_MS (a rogue leader can force one rebalance after another), with the count of
 * entries refused in between; kos_processor_assignment_rejected_total counts them all. */
#define REJECT_LOG_MS 10000
static void log_rejects(kos_proc_t *p, const kos_as_rejects_t *r)
{
        static int64_t last;
        static uint64_t quiet;
        uint64_t total = 0;
        for (int i = 0; i < KOS_AS_REASONS; i++) {
                KOS_ADD(p->stats.assign_rejected[i], r->count[i]);
                total += r->count[i];
        }
        if (!total)
                return;
        int64_t now = kos_mono_ms();
        if (last && now - last < REJECT_LOG_MS) {
                quiet += total;
                return;
        }
        char *member = rd_kafka_memberid(p->consumer);
        char more[64] = "";
        if (quiet)
                snprintf(more, sizeof(more), " (+%" PRIu64 " since the last line)", quiet);
        KOS_WARN("rebalance",
                 "group %s, member %s: the group leader assigned %" PRIu64 " entries this member "
                 "ignores (bad partition %" PRIu64 ", other topic %" PRIu64 ", duplicate %" PRIu64
                 "), first: %s [%" PRId32 "] (%s; %s has %d partitions here: a bogus assignment, "
                 "or the topic grew since start and a restart takes the new ones)%s",
                 p->conf->group, member ? member : "?", total, r->count[KOS_AS_BAD_PARTITION],
                 r->count[KOS_AS_OTHER_TOPIC], r->count[KOS_AS_DUPLICATE], r->first_topic,
                 r->first_partition, kos_as_reason_name(r->first_reason), tname(p, KOS_SIDE_RQ),
                 p->n_partitions, more);
        if (member)
                rd_kafka_mem_free(p->consumer, member);
        last = now;
        quiet = 0;
}

/* The requests partitions of parts that are valid tasks whose p->tasks[] slot is (want_owned)
 * or is not (!want_owned) taken, ascending, each once; a new array (free()) of *n. Refusals go
 * to rej unless it is NULL. */
static int32_t *select_tasks(kos_proc_t *p, const rd_kafka_topic_partition_list_t *parts,
                             int want_owned, int *n, kos_as_rejects_t *rej)
{
        size_t cnt = parts->cnt > 0 ? (size_t)parts->cnt : 0;
        kos_as_entry_t *in = kos_xcalloc(cnt + 1, sizeof(*in));
        int32_t *out = kos_xcalloc(cnt + 1, sizeof(*out));
        unsigned char *owned = kos_xmalloc((size_t)p->n_partitions + 1);
        for (size_t i = 0; i < cnt; i++)
                in[i] = (kos_as_entry_t){parts->elems[i].topic, parts->elems[i].partition};
        for (int i = 0; i < p->n_partitions; i++)
                owned[i] = p->tasks[i] != NULL;
        *n = (int)kos_assignment_select(tname(p, KOS_SIDE_RQ), p->n_partitions, owned, want_owned,
                                        in, cnt, out, rej);
        free(in);
        free(owned);
        return out;
}

static void assign(kos_proc_t *p, rd_kafka_topic_partition_list_t *parts)
{
        int n = 0;
        kos_as_rejects_t rej = {0};
        int32_t *ps = select_tasks(p, parts, 0, &n, &rej);
        log_rejects(p, &rej);
        int64_t t0 = kos_mono_ms();
        rd_kafka_topic_partition_list_t *l = n ? prepare(p, ps, n) : NULL;
        if (!l)
                l = rd_kafka_topic_partition_list_new(0);
        /* Split the queues off before fetching starts, so no record goes the other way. */
        for (int i = 0; i < n; i++)
                if (p->tasks[ps[i]] && kos_task_attach_queues(p->tasks[ps[i]]) == -1)
                        KOS_WARN("rebalance",
                                 "task %" PRId32 ": no partition queue; its records "
                                 "come through the consumer queue",
                                 ps[i]);
        rd_kafka_error_t *e = rd_kafka_incremental_assign(p->consumer, l);
        if (e) {
                KOS_ERR("rebalance", "incremental_assign: %s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                atomic_store(&p->fatal, 1);
        }
        KOS_ADD(p->stats.assigned, 1);
        KOS_INFO("rebalance", "assigned %d task(s) in %" PRId64 " ms", n, kos_mono_ms() - t0);
        rd_kafka_topic_partition_list_destroy(l);
        free(ps);
        atomic_store(&p->ready, 1);
}

static void drop(kos_proc_t *p, int32_t part, rd_kafka_topic_partition_list_t *unassign)
{
        kos_task_destroy(p->tasks[part]);
        p->tasks[part] = NULL;
        for (int s = 0; s < KOS_SIDES; s++)
                rd_kafka_topic_partition_list_add(unassign, tname(p, s), part);
}

static void revoke(kos_proc_t *p, rd_kafka_topic_partition_list_t *parts)
{
        int lost = rd_kafka_assignment_lost(p->consumer);
        int rewind = 0;
        int64_t t0 = kos_mono_ms();
        if (lost) {
                KOS_ADD(p->stats.lost, 1);
                KOS_WARN("rebalance",
                         "%d partition(s) lost (session timed out?): dropping their "
                         "state without committing",
                         parts->cnt);
                /* The open transaction may hold outputs of lost tasks: none of it may commit. */
                if (p->conf->exactly_once) {
                        kos_delivery_abandon(p->delivery);
                        rewind = 1;
                }
        } else {
                KOS_ADD(p->stats.revoked, 1);
                rewind = kos_delivery_commit_now(p->delivery, (int)p->conf->shutdown_timeout_ms);
        }
        /* The bogus entries of an assignment come back here; they were counted when assigned. */
        int n = 0;
        int32_t *ps = select_tasks(p, parts, 1, &n, NULL);
        rd_kafka_topic_partition_list_t *un = rd_kafka_topic_partition_list_new(2 * n);
        for (int i = 0; i < n; i++)
                drop(p, ps[i], un);
        free(ps);
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(p->consumer, un);
        if (e) {
                KOS_ERR("rebalance", "incremental_unassign: %s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
        }
        KOS_INFO("rebalance", "revoked %d task(s) in %" PRId64 " ms", un->cnt / 2,
                 kos_mono_ms() - t0);
        rd_kafka_topic_partition_list_destroy(un);
        if (rewind && !p->closing)
                kos_rebalance_rewind(p);
}

void kos_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *partitions, void *opaque)
{
        (void)rk;
        kos_proc_t *p = opaque;
        p->kick_fetchers = 1;
        switch (err) {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
                assign(p, partitions);
                break;
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
                revoke(p, partitions);
                break;
        default:
                KOS_ERR("rebalance", "rebalance error: %s", rd_kafka_err2str(err));
                break;
        }
}

void kos_rebalance_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        kos_proc_t *p = rd_kafka_opaque(rk);
        if (p && !strcmp(fac, "CGRPJOINSTATE")) {
                /* "Group "g" changed join state wait-sync -> steady (state up)" */
                const char *to = strstr(buf, " -> ");
                if (to)
                        atomic_store(&p->rebalancing, strncmp(to + 4, "steady", 6) != 0);
        }
        int lvl = level <= 3   ? KOS_LOG_ERR
                  : level <= 5 ? KOS_LOG_WARN
                  : level == 6 ? KOS_LOG_INFO
                               : KOS_LOG_DEBUG;
        /* -X applies to both clients: a consumer property on the producer is expected. */
        if (!strcmp(fac, "CONFWARN") && strstr(buf, "will be ignored by this"))
                lvl = KOS_LOG_DEBUG;
        /* The cgrp debug lines we asked for ourselves are noise unless -d was given. */
        if (lvl <= kos_log_get_level())
                kos_log(lvl, "rdkafka", "%s: %s", fac, buf);
}

void kos_rebalance_rewind(kos_proc_t *p)
{
        int32_t *ps = kos_xcalloc((size_t)p->n_partitions + 1, sizeof(*ps));
        int n = 0;
        KOS_ADD(p->stats.rewinds, 1);
        for (int i = 0; i < p->n_partitions; i++) {
                if (!p->tasks[i])
                        continue;
                kos_task_destroy(p->tasks[i]);
                p->tasks[i] = NULL;
                ps[n++] = i;
        }
        if (!n) {
                free(ps);
                return;
        }
        KOS_WARN("rebalance", "rebuilding %d task(s) from the committed offsets", n);
        rd_kafka_topic_partition_list_t *l = prepare(p, ps, n);
        for (int i = 0; l && i < n; i++)
                if (p->tasks[ps[i]])
                        kos_task_attach_queues(p->tasks[ps[i]]);
        if (l) {
                rd_kafka_error_t *e = rd_kafka_seek_partitions(p->consumer, l, KAFKA_TIMEOUT_MS);
                if (e) {
                        KOS_ERR("rebalance", "seek: %s", rd_kafka_error_string(e));
                        rd_kafka_error_destroy(e);
                        atomic_store(&p->fatal, 1);
                }
                rd_kafka_topic_partition_list_destroy(l);
        }
        free(ps);
}

void kos_rebalance_drop_all(kos_proc_t *p)
{
        for (int i = 0; p->tasks && i < p->n_partitions; i++) {
                kos_task_destroy(p->tasks[i]);
                p->tasks[i] = NULL;
        }
}
