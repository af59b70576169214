/* Tasks (see task.h): the per-partition queues, the timestamp-ordered merge of the two inputs,
 * and the hand-over of each record to the topology. */
#include "task.h"
#include "clock.h"
#include "delivery.h"
#include "kicker.h"
#include "log.h"
#include "recwarn.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void emit(void *arg, const kos_session_view_t *s)
{
        kos_task_t *t = arg;
        kos_delivery_emit(t->proc->delivery, t, s);
}

kos_task_t *kos_task_new(kos_proc_t *p, int32_t partition)
{
        kos_task_t *t = kos_xcalloc(1, sizeof(*t));
        t->partition = partition;
        t->proc = p;
        t->incarnation = ++p->next_incarnation;
        kos_topo_conf_t tc = {.window_ms = p->conf->window_ms,
                              .grace_ms = p->conf->grace_ms,
                              .max_session_hits = (size_t)p->conf->max_session_hits,
                              .coalesce = p->conf->coalesce};
        t->topo = kos_topo_new(&tc, &p->stats.topo, emit, t);
        t->replay_floor_ts = INT64_MIN;
        for (int s = 0; s < KOS_SIDES; s++) {
                kos_side_t *sd = &t->side[s];
                sd->cap = 256;
                sd->q = kos_xcalloc(sd->cap, sizeof(*sd->q));
                sd->replay_end = sd->fetched_next = sd->next = sd->committed = -1;
        }
        return t;
}

void kos_task_destroy(kos_task_t *t)
{
        if (!t)
                return;
        kos_task_release_queues(t);
        for (int s = 0; s < KOS_SIDES; s++) {
                kos_side_t *sd = &t->side[s];
                for (size_t i = 0; i < sd->len; i++)
                        rd_kafka_message_destroy(sd->q[(sd->head + i) & (sd->cap - 1)]);
                free(sd->q);
        }
        kos_topo_destroy(t->topo);
        free(t);
}

static const char *topic_of(const kos_task_t *t, int side)
{
        return t->proc->conf->topics[side == KOS_SIDE_RQ ? KOS_T_REQUESTS : KOS_T_RESPONSES];
}

int kos_task_attach_queues(kos_task_t *t)
{
        int rc = 0;
        for (int s = 0; s < KOS_SIDES; s++) {
                kos_side_t *sd = &t->side[s];
                if (sd->pq)
                        continue;
                sd->pq =
                    rd_kafka_queue_get_partition(t->proc->consumer, topic_of(t, s), t->partition);
                if (!sd->pq) {
                        rc = -1;
                        continue;
                }
                rd_kafka_queue_forward(sd->pq, NULL);
                rd_kafka_queue_io_event_enable(sd->pq, t->proc->wake_fd[1], "p", 1);
        }
        return rc;
}

void kos_task_release_queues(kos_task_t *t)
{
        for (int s = 0; s < KOS_SIDES; s++) {
                kos_side_t *sd = &t->side[s];
                if (!sd->pq)
                        continue;
                rd_kafka_queue_io_event_enable(sd->pq, -1, NULL, 0);
                rd_kafka_queue_destroy(sd->pq);
                sd->pq = NULL;
        }
}

static void grow(kos_side_t *sd)
{
        size_t cap = sd->cap * 2;
        rd_kafka_message_t **q = kos_xcalloc(cap, sizeof(*q));
        for (size_t i = 0; i < sd->len; i++)
                q[i] = sd->q[(sd->head + i) & (sd->cap - 1)];
        free(sd->q);
        sd->q = q;
        sd->cap = cap;
        sd->head = 0;
}

void kos_task_push(kos_task_t *t, int side, rd_kafka_message_t *m)
{
        kos_side_t *sd = &t->side[side];
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                /* Queued behind the records it follows, at the fetch position. */
                sd->heard = sd->at_eof = 1;
                if (m->offset > sd->fetched_next)
                        sd->fetched_next = m->offset;
                rd_kafka_message_destroy(m);
                return;
        }
        if (m->err) {
                kos_proc_record_warn(KOS_WARN_BAD, topic_of(t, side), t->partition, m->offset,
                                     rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                return;
        }
        if (sd->len == sd->cap)
                grow(sd);
        sd->q[(sd->head + sd->len) & (sd->cap - 1)] = m;
        sd->len++;
        sd->fetched_next = m->offset + 1;
        sd->heard = 1;
        sd->at_eof = 0;
}

/* 1 when side has nothing more on the broker as far as the consumer knows (task.h). */
static int caught_up(const kos_task_t *t, int side)
{
        const kos_side_t *sd = &t->side[side];
        if (sd->at_eof)
                return 1;
        int64_t lo, hi;
        return sd->heard &&
               rd_kafka_get_watermark_offsets(t->proc->consumer, topic_of(t, side), t->partition,
                                              &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
               hi >= 0 && sd->fetched_next >= hi;
}

size_t kos_task_pull(kos_task_t *t)
{
        rd_kafka_message_t *batch[512];
        size_t total = 0;
        size_t max = (size_t)t->proc->conf->max_buffered;
        for (int s = 0; s < KOS_SIDES; s++) {
                kos_side_t *sd = &t->side[s];
                while (sd->pq && sd->len < max) {
                        size_t want = max - sd->len;
                        if (want > sizeof(batch) / sizeof(batch[0]))
                                want = sizeof(batch) / sizeof(batch[0]);
                        ssize_t n = rd_kafka_consume_batch_queue(sd->pq, 0, batch, want);
                        if (n <= 0)
                                break;
                        for (ssize_t i = 0; i < n; i++)
                                kos_task_push(t, s, batch[i]);
                        total += (size_t)n;
                        if ((size_t)n < want)
                                break;
                }
                /* Below --max-buffered librdkafka's queue is under its limits (records under
                 * 512 bytes), so fetching may go on - if the broker thread wakes (task.h). */
                if (sd->pq && rd_kafka_queue_length(sd->pq) < max && !caught_up(t, s))
                        kos_kicker_want(t->proc->kicker, s, t->partition);
        }
        return total;
}

static int64_t ts_of(const rd_kafka_message_t *m)
{
        return rd_kafka_message_timestamp(m, NULL);
}

static void process_one(kos_task_t *t, int side, rd_kafka_message_t *m)
{
        kos_proc_t *p = t->proc;
        kos_side_t *sd = &t->side[side];
        int replay = m->offset < sd->replay_end;
        int64_t ts = ts_of(m);
        char why[256];
        if (replay && ts >= 0 && ts < t->replay_floor_ts) {
                /* Older than anything the committed state can still hold. */
                KOS_ADD(p->stats.replayed[side], 1);
                return;
        }
        kos_topo_result_t r;
        if (p->conf->max_future_ms && ts > kos_wall_ms() + p->conf->max_future_ms) {
                snprintf(why, sizeof(why),
                         "timestamp %" PRId64 " is more than %" PRId64
                         " ms ahead of the clock (it would make every later record late)",
                         ts, p->conf->max_future_ms);
                r = KOS_TOPO_BAD;
        } else {
                r = kos_topo_process(t->topo, side, m->key, m->key_len, m->payload, m->len, ts,
                                     replay, why, sizeof(why));
        }
        if (r == KOS_TOPO_BAD && !replay) {
                KOS_ADD(p->stats.bad[side], 1);
                kos_proc_record_warn(KOS_WARN_BAD, topic_of(t, side), t->partition, m->offset, why);
        } else if (r == KOS_TOPO_LATE && !replay) {
                snprintf(why, sizeof(why),
                         "late: timestamp %" PRId64 " is more than window + grace behind stream "
                         "time %" PRId64,
                         ts, kos_topo_stream_time(t->topo));
                kos_proc_record_warn(KOS_WARN_LATE, topic_of(t, side), t->partition, m->offset,
                                     why);
        }
        if (replay) {
                KOS_ADD(p->stats.replayed[side], 1);
        } else {
                KOS_ADD(p->stats.records_in[side], 1);
                sd->next = m->offset + 1;
        }
}

static rd_kafka_message_t *head(const kos_side_t *sd)
{
        return sd->len ? sd->q[sd->head] : NULL;
}

size_t kos_task_run(kos_task_t *t, size_t budget, int64_t now)
{
        size_t n = 0;
        while (n < budget) {
                kos_merge_input_t in[KOS_SIDES];
                for (int s = 0; s < KOS_SIDES; s++) {
                        rd_kafka_message_t *h = head(&t->side[s]);
                        in[s].queued = h != NULL;
                        in[s].ts = h ? ts_of(h) : 0;
                        in[s].caught_up = 0;
                }
                /* Asked only when it decides: get_watermark_offsets takes a lock. */
                if (in[0].queued != in[1].queued) {
                        int empty = in[0].queued ? 1 : 0;
                        in[empty].caught_up = caught_up(t, empty);
                }
                int ahead;
                int side =
                    kos_merge_next(&t->merge, in, t->proc->conf->max_task_idle_ms, now, &ahead);
                if (side < 0)
                        break;
                if (ahead)
                        KOS_ADD(t->proc->stats.merge_forced, 1);
                kos_side_t *sd = &t->side[side];
                rd_kafka_message_t *m = sd->q[sd->head];
                sd->head = (sd->head + 1) & (sd->cap - 1);
                sd->len--;
                process_one(t, side, m);
                rd_kafka_message_destroy(m);
                n++;
        }
        return n;
}

int kos_task_replaying(const kos_task_t *t)
{
        for (int s = 0; s < KOS_SIDES; s++) {
                const kos_side_t *sd = &t->side[s];
                int64_t done = sd->len ? sd->q[sd->head]->offset : sd->fetched_next;
                if (done < sd->replay_end)
                        return 1;
        }
        return 0;
}
