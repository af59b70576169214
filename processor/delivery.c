/* Output and offset commits (see delivery.h). */
#include "delivery.h"
#include "clock.h"
#include "log.h"
#include "recwarn.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPOCHS  64 /* commit intervals whose outputs may be in flight at once */
#define COMMITS 64 /* async commits awaiting their result, for latency */

typedef struct {
        uint64_t seq;
        int64_t outstanding;                  /* outputs produced, not yet reported */
        int failed;                           /* some output was not delivered */
        rd_kafka_topic_partition_list_t *pos; /* positions at seal time; owned */
} epoch_t;

struct kos_delivery_s {
        kos_proc_t *p;
        int eos;
        /* at-least-once */
        epoch_t ring[EPOCHS];
        uint64_t cur;    /* the open epoch */
        uint64_t oldest; /* the oldest epoch not yet settled */
        /* exactly-once */
        int txn_open;
        /* commit latency of async commits: start times by sequence */
        rd_kafka_topic_partition_list_t *ready; /* settled positions not yet committed */
        int64_t commit_start_us[COMMITS];
        uint64_t commit_seq;
        /* rendering */
        char *buf;
        size_t buf_size;
};

kos_delivery_t *kos_delivery_new(kos_proc_t *p)
{
        kos_delivery_t *d = kos_xcalloc(1, sizeof(*d));
        d->p = p;
        d->eos = p->conf->exactly_once;
        for (int i = 1; i < EPOCHS; i++)
                d->ring[i].seq = UINT64_MAX; /* ring[0] is the open epoch 0 */
        d->buf_size = 4096;
        d->buf = kos_xmalloc(d->buf_size);
        return d;
}

static void clear_epochs(kos_delivery_t *d)
{
        for (int i = 0; i < EPOCHS; i++) {
                if (d->ring[i].pos)
                        rd_kafka_topic_partition_list_destroy(d->ring[i].pos);
                d->ring[i] = (epoch_t){.seq = UINT64_MAX};
        }
        if (d->ready)
                rd_kafka_topic_partition_list_destroy(d->ready);
        d->ready = NULL;
        /* A fresh sequence: reports of what was in flight no longer match any epoch. */
        d->cur = d->oldest = d->cur + EPOCHS;
        d->ring[d->cur % EPOCHS].seq = d->cur;
}

void kos_delivery_destroy(kos_delivery_t *d)
{
        if (!d)
                return;
        for (int i = 0; i < EPOCHS; i++)
                if (d->ring[i].pos)
                        rd_kafka_topic_partition_list_destroy(d->ring[i].pos);
        if (d->ready)
                rd_kafka_topic_partition_list_destroy(d->ready);
        free(d->buf);
        free(d);
}

int kos_delivery_start(kos_delivery_t *d, int timeout_ms, char *errstr, size_t errstr_size)
{
        if (!d->eos)
                return 0;
        rd_kafka_error_t *e = rd_kafka_init_transactions(d->p->producer, timeout_ms);
        if (e) {
                snprintf(errstr, errstr_size, "init_transactions: %s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                return -1;
        }
        return 0;
}

/* ---- positions --------------------------------------------------------------------------- */

int kos_delivery_parse_meta(const void *meta, size_t size, int64_t *st)
{
        char buf[64];
        long long v;
        char tail;
        if (!meta || size == 0 || size >= sizeof(buf))
                return -1;
        memcpy(buf, meta, size);
        buf[size] = '\0';
        /* Any member of the group can commit any metadata: only a timestamp (>= 0; sscanf
         * clamps past int64) is a stream time, so its horizon (kos_topo_horizon) cannot overflow.
         */
        if (sscanf(buf, "kos1 st=%lld%c", &v, &tail) != 1 || v < 0 || v > INT64_MAX / 2)
                return -1;
        *st = v;
        return 0;
}

/* Every owned task's sides processed past their committed offset, with the task's stream time
 * as metadata and its incarnation as opaque. NULL when there is none. */
static rd_kafka_topic_partition_list_t *positions(kos_proc_t *p)
{
        rd_kafka_topic_partition_list_t *l = NULL;
        for (int i = 0; i < p->n_partitions; i++) {
                kos_task_t *t = p->tasks[i];
                if (!t)
                        continue;
                for (int s = 0; s < KOS_SIDES; s++) {
                        kos_side_t *sd = &t->side[s];
                        if (sd->next < 0 || sd->next <= sd->committed)
                                continue;
                        if (!l)
                                l = rd_kafka_topic_partition_list_new(2 * p->n_partitions);
                        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(
                            l, p->conf->topics[s == KOS_SIDE_RQ ? KOS_T_REQUESTS : KOS_T_RESPONSES],
                            t->partition);
                        tp->offset = sd->next;
                        tp->opaque = (void *)(uintptr_t)t->incarnation;
                        int64_t st = kos_topo_stream_time(t->topo);
                        if (st != INT64_MIN) {
                                char meta[64];
                                int n = snprintf(meta, sizeof(meta), "kos1 st=%" PRId64, st);
                                tp->metadata = kos_xmemdup(meta, (size_t)n);
                                tp->metadata_size = (size_t)n;
                        }
                }
        }
        return l;
}

static kos_task_t *owner(kos_proc_t *p, const rd_kafka_topic_partition_t *tp)
{
        if (tp->partition < 0 || tp->partition >= p->n_partitions)
                return NULL;
        kos_task_t *t = p->tasks[tp->partition];
        if (!t || (tp->opaque && (uint64_t)(uintptr_t)tp->opaque != t->incarnation))
                return NULL;
        return t;
}

static int side_of(kos_proc_t *p, const char *topic)
{
        return strcmp(topic, p->conf->topics[KOS_T_REQUESTS]) == 0 ? KOS_SIDE_RQ : KOS_SIDE_RS;
}

/* Drops entries of tasks that are gone or were re-created since: committing them could move
 * another member's offsets back. Destroys l; NULL when nothing is left. */
static rd_kafka_topic_partition_list_t *only_owned(kos_proc_t *p,
                                                   rd_kafka_topic_partition_list_t *l)
{
        rd_kafka_topic_partition_list_t *o = NULL;
        for (int i = 0; l && i < l->cnt; i++) {
                if (!owner(p, &l->elems[i]))
                        continue;
                if (!o)
                        o = rd_kafka_topic_partition_list_new(l->cnt);
                rd_kafka_topic_partition_t *tp =
                    rd_kafka_topic_partition_list_add(o, l->elems[i].topic, l->elems[i].partition);
                tp->offset = l->elems[i].offset;
                if (l->elems[i].metadata_size) {
                        tp->metadata = kos_xmemdup(l->elems[i].metadata, l->elems[i].metadata_size);
                        tp->metadata_size = l->elems[i].metadata_size;
                }
        }
        if (l)
                rd_kafka_topic_partition_list_destroy(l);
        return o;
}

static void mark_committed(kos_proc_t *p, const rd_kafka_topic_partition_list_t *l)
{
        for (int i = 0; l && i < l->cnt; i++) {
                const rd_kafka_topic_partition_t *tp = &l->elems[i];
                if (tp->err || tp->partition < 0 || tp->partition >= p->n_partitions)
                        continue;
                kos_task_t *t = p->tasks[tp->partition];
                if (!t)
                        continue;
                kos_side_t *sd = &t->side[side_of(p, tp->topic)];
                if (tp->offset > sd->committed && tp->offset <= sd->next)
                        sd->committed = tp->offset;
        }
}

/* ---- at-least-once commits ---------------------------------------------------------------- */

/* The consumer's commit callback for rd_kafka_commit_queue (opaque: the commit's sequence
 * number, which finds its start time). */
static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *commit_opaque)
{
        kos_proc_t *p = rd_kafka_opaque(rk);
        kos_delivery_t *d = p->delivery;
        uint64_t seq = (uint64_t)(uintptr_t)commit_opaque;
        if (d && seq + COMMITS > d->commit_seq) {
                int64_t dt = kos_mono_ns() / 1000 - d->commit_start_us[seq % COMMITS];
                kos_hist_record(&p->stats.commit_latency_us, dt > 0 ? (uint64_t)dt : 0);
        }
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                KOS_ADD(p->stats.commit_failures, 1);
                KOS_WARN("delivery", "offset commit failed: %s (the next commit retries)",
                         rd_kafka_err2str(err));
                return;
        }
        KOS_ADD(p->stats.commits, 1);
        mark_committed(p, offsets);
}

/* Commits l (taking it) asynchronously, or synchronously when sync. */
static void commit_offsets(kos_delivery_t *d, rd_kafka_topic_partition_list_t *l, int sync)
{
        l = only_owned(d->p, l);
        if (!l)
                return;
        uint64_t seq = d->commit_seq++;
        d->commit_start_us[seq % COMMITS] = kos_mono_ns() / 1000;
        rd_kafka_queue_t *q = sync ? NULL : rd_kafka_queue_get_consumer(d->p->consumer);
        rd_kafka_resp_err_t err =
            rd_kafka_commit_queue(d->p->consumer, l, q, commit_cb, (void *)(uintptr_t)seq);
        if (q)
                rd_kafka_queue_destroy(q);
        /* The callback has counted and logged failures already. */
        if (err)
                KOS_DBG("delivery", "offset commit: %s", rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(l);
}

/* Pops settled epochs, keeping the newest positions among them, and commits those unless a
 * rebalance is in progress (sync commits, from the rebalance callback or at shutdown, always
 * go). librdkafka 2.0.2 treats ILLEGAL_GENERATION on a commit as a lost assignment
 * (librdkafka#4059, fixed in 2.8), and a commit queued behind our own JoinGroup gets exactly
 * that. @returns 1 when an epoch had a failed output. */
static int settle(kos_delivery_t *d, int sync)
{
        int failed = 0;
        while (d->oldest < d->cur) {
                epoch_t *e = &d->ring[d->oldest % EPOCHS];
                if (e->outstanding > 0)
                        break;
                if (e->failed) {
                        failed = 1;
                        break;
                }
                if (e->pos) {
                        if (d->ready)
                                rd_kafka_topic_partition_list_destroy(d->ready);
                        d->ready = e->pos;
                        e->pos = NULL;
                }
                d->oldest++;
        }
        if (failed) {
                KOS_WARN("delivery", "outputs were not delivered: rebuilding state from the "
                                     "last commit");
                clear_epochs(d);
                return 1;
        }
        if (d->ready && (sync || !atomic_load(&d->p->rebalancing))) {
                commit_offsets(d, d->ready, sync);
                d->ready = NULL;
        }
        return 0;
}

/* Closes the open epoch with the current positions. With every epoch in flight the open one
 * simply grows (positions are cumulative, so a later seal covers it). */
static void seal(kos_delivery_t *d)
{
        epoch_t *e = &d->ring[d->cur % EPOCHS];
        if (d->cur + 1 - d->oldest >= EPOCHS)
                return;
        rd_kafka_topic_partition_list_t *pos = positions(d->p);
        if (!pos && e->outstanding == 0 && !e->failed)
                return;
        if (e->pos)
                rd_kafka_topic_partition_list_destroy(e->pos);
        e->pos = pos;
        d->cur++;
        d->ring[d->cur % EPOCHS] = (epoch_t){.seq = d->cur};
}

/* ---- exactly-once ------------------------------------------------------------------------- */

/* 1: abort done, rewind; 0: retry; -1: fatal. */
static int txn_error(kos_delivery_t *d, rd_kafka_error_t *e, const char *what)
{
        kos_proc_t *p = d->p;
        int r;
        if (rd_kafka_error_is_fatal(e)) {
                KOS_ERR("delivery", "%s: fatal: %s (another instance took over?)", what,
                        rd_kafka_error_string(e));
                atomic_store(&p->fatal, 1);
                r = -1;
        } else if (rd_kafka_error_is_retriable(e) && !rd_kafka_error_txn_requires_abort(e)) {
                KOS_WARN("delivery", "%s: %s (retrying)", what, rd_kafka_error_string(e));
                r = 0;
        } else {
                KOS_WARN("delivery", "%s: %s: aborting the transaction and rebuilding state", what,
                         rd_kafka_error_string(e));
                kos_delivery_abandon(d);
                r = 1;
        }
        rd_kafka_error_destroy(e);
        return r;
}

static int ensure_txn(kos_delivery_t *d)
{
        if (d->txn_open)
                return 0;
        rd_kafka_error_t *e = rd_kafka_begin_transaction(d->p->producer);
        if (e) {
                KOS_ERR("delivery", "begin_transaction: %s", rd_kafka_error_string(e));
                if (rd_kafka_error_is_fatal(e))
                        atomic_store(&d->p->fatal, 1);
                rd_kafka_error_destroy(e);
                return -1;
        }
        d->txn_open = 1;
        return 0;
}

static int txn_commit(kos_delivery_t *d, int timeout_ms, int sync)
{
        kos_proc_t *p = d->p;
        /* TxnOffsetCommit carries the generation too: wait for the rebalance to settle. */
        if (!sync && atomic_load(&p->rebalancing))
                return 0;
        rd_kafka_topic_partition_list_t *pos = positions(p);
        if (!d->txn_open && !pos)
                return 0;
        if (ensure_txn(d) == -1) {
                if (pos)
                        rd_kafka_topic_partition_list_destroy(pos);
                return atomic_load(&p->fatal) ? 0 : 1;
        }
        int64_t t0 = kos_mono_ns() / 1000;
        int r = 0;
        if (pos) {
                rd_kafka_consumer_group_metadata_t *cgmd =
                    rd_kafka_consumer_group_metadata(p->consumer);
                for (int attempt = 0; attempt < 3; attempt++) {
                        rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(
                            p->producer, pos, cgmd, timeout_ms);
                        if (!e)
                                break;
                        if ((r = txn_error(d, e, "send_offsets_to_transaction")) != 0)
                                break;
                }
                rd_kafka_consumer_group_metadata_destroy(cgmd);
        }
        for (int attempt = 0; r == 0 && attempt < 3; attempt++) {
                rd_kafka_error_t *e = rd_kafka_commit_transaction(p->producer, timeout_ms);
                if (!e) {
                        d->txn_open = 0;
                        KOS_ADD(p->stats.commits, 1);
                        kos_hist_record(&p->stats.commit_latency_us,
                                        (uint64_t)(kos_mono_ns() / 1000 - t0));
                        mark_committed(p, pos);
                        break;
                }
                if ((r = txn_error(d, e, "commit_transaction")) != 0)
                        break;
                if (attempt == 2) {
                        kos_delivery_abandon(d);
                        r = 1;
                }
        }
        if (r)
                KOS_ADD(p->stats.commit_failures, 1);
        if (pos)
                rd_kafka_topic_partition_list_destroy(pos);
        return r > 0;
}

/* ---- the interface ------------------------------------------------------------------------ */

void kos_delivery_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)rk;
        kos_proc_t *p = opaque;
        kos_delivery_t *d = p->delivery;
        if (m->err) {
                KOS_ADD(p->stats.out_failed, 1);
                kos_proc_record_warn(KOS_WARN_DELIVERY, rd_kafka_topic_name(m->rkt), m->partition,
                                     -1, rd_kafka_err2str(m->err));
        } else {
                KOS_ADD(p->stats.records_out, 1);
        }
        if (!d || d->eos)
                return;
        uint64_t seq = (uint64_t)(uintptr_t)m->_private;
        epoch_t *e = &d->ring[seq % EPOCHS];
        if (e->seq != seq)
                return; /* from before a rewind */
        e->outstanding--;
        if (m->err)
                e->failed = 1;
}

void kos_delivery_emit(kos_delivery_t *d, kos_task_t *t, const kos_session_view_t *s)
{
        (void)t;
        kos_proc_t *p = d->p;
        size_t n = kos_session_json(s->hits, s->n_hits, d->buf, d->buf_size);
        if (n >= d->buf_size) {
                d->buf_size = n + 1 + n / 2;
                d->buf = kos_xrealloc(d->buf, d->buf_size);
                n = kos_session_json(s->hits, s->n_hits, d->buf, d->buf_size);
        }
        if (d->eos && ensure_txn(d) == -1)
                return;
        uint64_t seq = d->cur;
        for (;;) {
                /* librdkafka's macros cast to void * although RD_KAFKA_MSG_F_COPY only reads. */
                rd_kafka_resp_err_t err =
                    rd_kafka_producev(p->producer, RD_KAFKA_V_RKT(p->out_rkt),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_KEY((void *)(uintptr_t)s->key, s->key_len),
                                      RD_KAFKA_V_VALUE(d->buf, n), RD_KAFKA_V_TIMESTAMP(s->ts),
                                      RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
                if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        /* Back-pressure: serve acknowledgements until there is room. */
                        rd_kafka_poll(p->producer, 10);
                        continue;
                }
                if (err) {
                        /* Permanent for this record (e.g. too large): count it, move on. */
                        KOS_ADD(p->stats.out_failed, 1);
                        kos_proc_record_warn(KOS_WARN_DELIVERY, p->conf->topics[KOS_T_SESSIONS], -1,
                                             -1, rd_kafka_err2str(err));
                        return;
                }
                break;
        }
        KOS_ADD(p->stats.produced, 1);
        if (!d->eos)
                d->ring[seq % EPOCHS].outstanding++;
}

static void flush_coalesced(kos_proc_t *p)
{
        if (!p->conf->coalesce)
                return;
        for (int i = 0; i < p->n_partitions; i++)
                if (p->tasks[i])
                        kos_topo_flush(p->tasks[i]->topo);
}

int kos_delivery_service(kos_delivery_t *d)
{
        rd_kafka_poll(d->p->producer, 0);
        if (d->eos)
                return 0;
        return settle(d, 0);
}

int kos_delivery_tick(kos_delivery_t *d)
{
        flush_coalesced(d->p);
        if (d->eos)
                return txn_commit(d, 30000, 0);
        seal(d);
        return kos_delivery_service(d);
}

int kos_delivery_commit_now(kos_delivery_t *d, int timeout_ms)
{
        flush_coalesced(d->p);
        if (d->eos)
                return txn_commit(d, timeout_ms, 1);
        seal(d);
        rd_kafka_flush(d->p->producer, timeout_ms);
        if (settle(d, 1))
                return 1;
        if (d->oldest < d->cur) {
                KOS_WARN("delivery",
                         "outputs not acknowledged within %d ms: their inputs stay "
                         "uncommitted",
                         timeout_ms);
                clear_epochs(d);
                return 1;
        }
        /* Everything settled: positions of an epoch left open (ring was full) go too. */
        seal(d);
        return settle(d, 1);
}

void kos_delivery_abandon(kos_delivery_t *d)
{
        if (!d->eos) {
                clear_epochs(d);
                return;
        }
        if (!d->txn_open)
                return;
        rd_kafka_error_t *e = rd_kafka_abort_transaction(d->p->producer, 30000);
        if (e) {
                KOS_ERR("delivery", "abort_transaction: %s", rd_kafka_error_string(e));
                if (rd_kafka_error_is_fatal(e))
                        atomic_store(&d->p->fatal, 1);
                rd_kafka_error_destroy(e);
        }
        KOS_ADD(d->p->stats.txn_aborts, 1);
        d->txn_open = 0;
}
