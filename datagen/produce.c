/* The produce loop (see produce.h). One thread: it generates, produces and serves delivery
 * reports, so the model and the bucket need no locks. */
#include "produce.h"
#include "clock.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The delivery report learns the topic and the produce time from the message opaque. */
_Static_assert(sizeof(uintptr_t) >= 8, "the message opaque packs a 63-bit time");

#define BATCH_MAX 1000 /* frames per loop iteration: bounds the time between control checks */

void kos_produce_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)rk;
        static uint64_t errors_logged;
        kos_stats_t *s = opaque;
        uintptr_t op = (uintptr_t)m->_private;
        int t = (int)(op & 1);
        if (m->err) {
                atomic_fetch_add_explicit(&s->failed[t], 1, memory_order_relaxed);
                /* The first errors say why; after that one in 10000 keeps the log readable. */
                if (errors_logged++ < 10 || errors_logged % 10000 == 0)
                        KOS_ERR("delivery", "%s [%" PRId32 "]: %s (%" PRIu64 " failures so far)",
                                rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err),
                                errors_logged);
                return;
        }
        atomic_fetch_add_explicit(&s->acked[t], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->acked_bytes[t], m->len + m->key_len, memory_order_relaxed);
        int64_t lat_ns = kos_mono_ns() - (int64_t)(op >> 1);
        kos_hist_record(&s->latency_us, lat_ns > 0 ? (uint64_t)lat_ns / 1000 : 0);
}

static void check_fatal(kos_producer_t *p)
{
        char reason[512] = "";
        if (atomic_load(&p->fatal) || rd_kafka_fatal_error(p->rk, reason, sizeof(reason))) {
                if (!atomic_exchange(&p->fatal, 1))
                        KOS_ERR("produce", "fatal producer error: %s; stopping", reason);
        }
}

/* Once a second: interval figures for /metrics, the progress line when due, and the fatal
 * error check. Called from every place the loop may wait, so the figures keep coming while
 * the broker is slow or gone. */
static void maybe_tick(kos_producer_t *p, int64_t now)
{
        if (now < p->next_tick_ns)
                return;
        int log = p->next_log_ns && now >= p->next_log_ns;
        kos_stats_tick(p->stats, now, log);
        if (log)
                p->next_log_ns = now + p->opts->stats_interval_ms * 1000000;
        p->next_tick_ns = now + 1000000000;
        check_fatal(p);
}

/* Produces one record, waiting while the queue is full. 0 on success, -1 if it failed (counted)
 * or a stop request or fatal error interrupted the wait (a broker that is gone must not keep
 * SIGTERM waiting for queue space until message.timeout.ms). */
static int produce_one(kos_producer_t *p, int t, const char *key, size_t key_len, const char *val,
                       size_t val_len, int64_t ts)
{
        kos_stats_t *s = p->stats;
        for (;;) {
                uintptr_t op = ((uintptr_t)kos_mono_ns() << 1) | (uintptr_t)t;
                /* librdkafka's macros cast to void * although RD_KAFKA_MSG_F_COPY only reads. */
                rd_kafka_resp_err_t err = rd_kafka_producev(
                    p->rk, RD_KAFKA_V_RKT(p->rkt[t]), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY((void *)(uintptr_t)key, key_len),
                    RD_KAFKA_V_VALUE((void *)(uintptr_t)val, val_len), RD_KAFKA_V_TIMESTAMP(ts),
                    RD_KAFKA_V_OPAQUE((void *)op), RD_KAFKA_V_END);
                if (!err) {
                        atomic_fetch_add_explicit(&s->produced[t], 1, memory_order_relaxed);
                        atomic_fetch_add_explicit(&s->produced_bytes[t], key_len + val_len,
                                                  memory_order_relaxed);
                        return 0;
                }
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        atomic_fetch_add_explicit(&s->produced[t], 1, memory_order_relaxed);
                        atomic_fetch_add_explicit(&s->failed[t], 1, memory_order_relaxed);
                        KOS_ERR("produce", "%s: %s", rd_kafka_topic_name(p->rkt[t]),
                                rd_kafka_err2str(err));
                        if (err == RD_KAFKA_RESP_ERR__FATAL)
                                atomic_store(&p->fatal, 1);
                        return -1;
                }
                /* Backpressure: the broker is the limit. Serving delivery reports frees room. */
                atomic_fetch_add_explicit(&s->queue_full, 1, memory_order_relaxed);
                rd_kafka_poll(p->rk, 5);
                maybe_tick(p, kos_mono_ns());
                if (kos_control_stop_requested(p->ctl) || atomic_load(&p->fatal))
                        return -1;
        }
}

/* Flushes within the timeout (a second SIGTERM cuts it short), then purges what is left so
 * those records are reported failed rather than silently lost. */
static void flush(kos_producer_t *p, const kos_produce_opts_t *o)
{
        int64_t deadline = kos_mono_ns() + o->flush_timeout_ms * 1000000;
        KOS_INFO("produce", "flushing %d queued records (up to %" PRId64 " ms)",
                 rd_kafka_outq_len(p->rk), o->flush_timeout_ms);
        while (rd_kafka_outq_len(p->rk) > 0 && kos_mono_ns() < deadline &&
               kos_control_stop_requested(p->ctl) < 2 && !atomic_load(&p->fatal)) {
                rd_kafka_flush(p->rk, 100);
                maybe_tick(p, kos_mono_ns());
        }
        if (rd_kafka_outq_len(p->rk) > 0) {
                KOS_WARN("produce",
                         "%d records not acknowledged in time: purging them (counted "
                         "as failed)",
                         rd_kafka_outq_len(p->rk));
                rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                /* Purged records come back as delivery reports with a purge error. */
                rd_kafka_flush(p->rk, 1000);
                rd_kafka_poll(p->rk, 0);
        }
}

/* Picks this iteration's target: a manual rate (PUT /rate, signals) ends the profile; otherwise
 * the profile (if any) decides. Returns 1 when the profile has run out. */
static int update_target(kos_producer_t *p, const kos_produce_opts_t *o, int *profile_on,
                         double *target, int64_t since_start_ns)
{
        double r;
        if (kos_control_take_rate(p->ctl, &r)) {
                if (*profile_on)
                        KOS_INFO("produce", "manual rate: the profile no longer applies");
                *profile_on = 0;
                *target = r;
        } else if (*profile_on) {
                if (kos_profile_rate(o->profile, since_start_ns / 1000000, target)) {
                        KOS_INFO("produce", "profile finished");
                        return 1;
                }
        }
        kos_control_publish_rate(p->ctl, *target);
        atomic_store_explicit(&p->stats->target_rate, *target, memory_order_relaxed);
        return 0;
}

int kos_produce_run(kos_producer_t *p, const kos_produce_opts_t *o)
{
        kos_stats_t *s = p->stats;
        kos_frame_t f;
        static kos_frame_records_t rec; /* ~0.4 KiB, reused for every frame */
        int64_t start = kos_mono_ns();
        p->opts = o;
        p->next_tick_ns = start + 1000000000;
        p->next_log_ns = o->stats_interval_ms > 0 ? start + o->stats_interval_ms * 1000000 : 0;
        int profile_on = o->profile != NULL;
        double target = o->rate;
        uint64_t frames = 0;
        kos_bucket_t bucket;

        s->start_ns = s->last_tick_ns = start;
        if (profile_on)
                kos_profile_rate(o->profile, 0, &target);
        kos_bucket_init(&bucket, target, start);
        atomic_store(&p->running, 1);
        for (;;) {
                int64_t now = kos_mono_ns();
                if (kos_control_stop_requested(p->ctl) || atomic_load(&p->fatal))
                        break;
                if (o->duration_ms && now - start >= o->duration_ms * 1000000) {
                        KOS_INFO("produce", "--duration reached");
                        break;
                }
                if (o->count && frames >= o->count) {
                        KOS_INFO("produce", "--count reached");
                        break;
                }
                if (update_target(p, o, &profile_on, &target, now - start))
                        break;
                kos_bucket_set_rate(&bucket, target, now);
                uint64_t want = BATCH_MAX;
                if (o->count && o->count - frames < want)
                        want = o->count - frames;
                uint64_t n = kos_bucket_take(&bucket, now, want);
                for (uint64_t i = 0; i < n; i++) {
                        kos_model_next(p->model, &f);
                        int64_t ts = o->ts_virtual ? o->ts_start + (int64_t)frames * o->ts_step
                                                   : kos_wall_ms();
                        kos_model_encode(&f, ts, &rec);
                        /* A response only ever follows its request. */
                        if (produce_one(p, KOS_T_RQ, rec.key, rec.key_len, rec.rq, rec.rq_len,
                                        ts) == 0) {
                                atomic_fetch_add_explicit(&s->frames, 1, memory_order_relaxed);
                                if (rec.rs_len)
                                        produce_one(p, KOS_T_RS, rec.key, rec.key_len, rec.rs,
                                                    rec.rs_len, ts);
                        }
                        frames++;
                        if (kos_control_stop_requested(p->ctl) || atomic_load(&p->fatal))
                                break;
                }
                rd_kafka_poll(p->rk, 0);
                maybe_tick(p, now);
                if (n == 0) {
                        /* Sleep in the poll until the next token (1 ms granularity is plenty:
                         * the bucket carries the fractions over). */
                        int64_t wait = kos_bucket_wait_ns(&bucket, kos_mono_ns());
                        int ms = wait >= 10000000 ? 10 : (int)((wait + 999999) / 1000000);
                        rd_kafka_poll(p->rk, ms < 1 ? 1 : ms);
                }
        }
        atomic_store(&p->running, 0);
        atomic_store_explicit(&s->target_rate, 0, memory_order_relaxed);
        flush(p, o);
        int64_t end = kos_mono_ns();
        kos_stats_tick(s, end, 0);
        kos_stats_report(s, end);
        check_fatal(p);
        uint64_t failed = kos_stats_sum(s->failed);
        if (failed)
                KOS_ERR("produce", "%" PRIu64 " records failed for good", failed);
        return failed || atomic_load(&p->fatal) ? 1 : 0;
}
