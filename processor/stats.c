/* Metrics, gauges and the progress line (see stats.h). */
#include "stats.h"
#include "clock.h"
#include "kicker.h"
#include "log.h"
#include "task.h"

#include <inttypes.h>
#include <stdio.h>

#define LOAD(x) ((uint64_t)atomic_load_explicit(&(x), memory_order_relaxed))

#define WAIT_WARN_MS       5000 /* a task waiting this long for an input is worth a log line */
#define WAIT_WARN_EVERY_MS 10000

/* A task that waits long for an input the broker has more of (its leader offline, the
 * fetch failing) holds its other input back rather than lose joins: say so, once in a while. */
static void warn_waiting(kos_proc_t *p, const kos_task_t *t, int64_t waited_ms, uint64_t waiting)
{
        static int64_t last;
        int64_t now = kos_mono_ms();
        if (last && now - last < WAIT_WARN_EVERY_MS)
                return;
        last = now;
        int empty = t->side[KOS_SIDE_RQ].len ? KOS_SIDE_RS : KOS_SIDE_RQ;
        const char *topic =
            p->conf->topics[empty == KOS_SIDE_RQ ? KOS_T_REQUESTS : KOS_T_RESPONSES];
        const char *other =
            p->conf->topics[empty == KOS_SIDE_RQ ? KOS_T_RESPONSES : KOS_T_REQUESTS];
        int64_t lo = -1, hi = -1;
        rd_kafka_get_watermark_offsets(p->consumer, topic, t->partition, &lo, &hi);
        KOS_WARN("task",
                 "task %" PRId32 " has been waiting %.1f s for %s [%" PRId32
                 "] (fetched to %" PRId64 ", end %" PRId64
                 " when last heard): the broker has more of it, or has not said otherwise; "
                 "%zu records of %s [%" PRId32 "] wait rather than be processed out of order "
                 "(%" PRIu64 " task(s) waiting)",
                 t->partition, (double)waited_ms / 1000.0, topic, t->partition,
                 t->side[empty].fetched_next, hi, t->side[1 - empty].len, other, t->partition,
                 waiting);
}

void kos_proc_stats_refresh(kos_proc_t *p)
{
        uint64_t recs = 0, sess = 0, bytes = 0, tasks = 0, replaying = 0, lag[KOS_SIDES] = {0};
        uint64_t waiting = 0;
        int64_t now = kos_mono_ms(), longest = 0;
        const kos_task_t *longest_task = NULL;
        for (int i = 0; p->tasks && i < p->n_partitions; i++) {
                kos_task_t *t = p->tasks[i];
                if (!t)
                        continue;
                tasks++;
                if (t->merge.waiting_since) {
                        waiting++;
                        if (now - t->merge.waiting_since > longest) {
                                longest = now - t->merge.waiting_since;
                                longest_task = t;
                        }
                }
                replaying += (uint64_t)kos_task_replaying(t);
                recs += kos_topo_records(t->topo);
                sess += kos_topo_sessions(t->topo);
                bytes += kos_topo_bytes(t->topo);
                for (int s = 0; s < KOS_SIDES; s++) {
                        const kos_side_t *sd = &t->side[s];
                        int64_t lo, hi, pos = sd->next > sd->committed ? sd->next : sd->committed;
                        if (pos >= 0 &&
                            !rd_kafka_get_watermark_offsets(
                                p->consumer,
                                p->conf
                                    ->topics[s == KOS_SIDE_RQ ? KOS_T_REQUESTS : KOS_T_RESPONSES],
                                t->partition, &lo, &hi) &&
                            hi > pos)
                                lag[s] += (uint64_t)(hi - pos);
                }
        }
        for (int s = 0; s < KOS_SIDES; s++)
                atomic_store(&p->stats.lag[s], lag[s]);
        atomic_store(&p->stats.state_records, recs);
        atomic_store(&p->stats.state_sessions, sess);
        atomic_store(&p->stats.state_bytes, bytes);
        atomic_store(&p->stats.partitions, tasks);
        atomic_store(&p->stats.replaying, replaying);
        atomic_store(&p->stats.waiting, waiting);
        atomic_store(&p->stats.longest_wait_ms, (uint64_t)longest);
        if (longest_task && longest >= WAIT_WARN_MS)
                warn_waiting(p, longest_task, longest, waiting);
}

static void counter(kos_strbuf_t *b, const char *name, const char *help, uint64_t v)
{
        kos_prom_meta(b, name, "counter", help);
        kos_prom_u64(b, name, "", v);
}

static void gauge(kos_strbuf_t *b, const char *name, const char *help, uint64_t v)
{
        kos_prom_meta(b, name, "gauge", help);
        kos_prom_u64(b, name, "", v);
}

static void per_topic(kos_strbuf_t *b, kos_proc_t *p, const char *name, const char *help,
                      atomic_ullong *v)
{
        char labels[300];
        kos_prom_meta(b, name, "counter", help);
        for (int s = 0; s < KOS_SIDES; s++) {
                snprintf(labels, sizeof(labels), "topic=\"%s\"",
                         p->conf->topics[s == KOS_SIDE_RQ ? KOS_T_REQUESTS : KOS_T_RESPONSES]);
                kos_prom_u64(b, name, labels, LOAD(v[s]));
        }
}

void kos_proc_stats_render(kos_proc_t *p, kos_strbuf_t *b)
{
        kos_proc_stats_t *s = &p->stats;
        per_topic(b, p, "kos_processor_records_in_total",
                  "Input records processed (live, not replayed).", s->records_in);
        per_topic(b, p, "kos_processor_records_replayed_total",
                  "Input records re-read to rebuild state after an assignment, output suppressed.",
                  s->replayed);
        per_topic(b, p, "kos_processor_bad_records_total",
                  "Input records skipped: not a FrameHeader key / FrameBody value, no or a "
                  "future timestamp.",
                  s->bad);
        counter(b, "kos_processor_late_records_total",
                "Records older than stream time - window - grace, dropped.", LOAD(s->topo.late));
        counter(b, "kos_processor_joins_total", "Request/response pairs joined.",
                LOAD(s->topo.joins));
        counter(b, "kos_processor_hits_total", "Hits decoded and aggregated into sessions.",
                LOAD(s->topo.hits));
        counter(b, "kos_processor_decode_failures_total",
                "Hex strings of joined requests that are not hits (dropped).",
                LOAD(s->topo.decode_failures));
        counter(b, "kos_processor_session_hits_dropped_total",
                "Hits beyond --max-session-hits, dropped.", LOAD(s->topo.hits_dropped));
        counter(b, "kos_processor_records_produced_total", "Session updates handed to Kafka.",
                LOAD(s->produced));
        counter(b, "kos_processor_records_out_total",
                "Session updates acknowledged by Kafka (the output).", LOAD(s->records_out));
        counter(b, "kos_processor_records_out_failed_total",
                "Session updates not delivered (state is rebuilt; inputs are reprocessed).",
                LOAD(s->out_failed));
        counter(b, "kos_processor_commits_total", "Offset commits (or transactions) done.",
                LOAD(s->commits));
        counter(b, "kos_processor_commit_failures_total", "Offset commits or transactions failed.",
                LOAD(s->commit_failures));
        kos_hist_snap_t snap;
        kos_hist_snapshot(&s->commit_latency_us, &snap);
        static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   5};
        kos_prom_histogram(b, "kos_processor_commit_latency_seconds",
                           "Time from an offset commit (or commit_transaction) to its result.",
                           &snap, 1e-6, bounds, sizeof(bounds) / sizeof(bounds[0]));
        kos_prom_meta(b, "kos_processor_rebalances_total", "counter",
                      "Rebalance events: partitions assigned, revoked (after a final commit), "
                      "lost.");
        kos_prom_u64(b, "kos_processor_rebalances_total", "kind=\"assign\"", LOAD(s->assigned));
        kos_prom_u64(b, "kos_processor_rebalances_total", "kind=\"revoke\"", LOAD(s->revoked));
        kos_prom_u64(b, "kos_processor_rebalances_total", "kind=\"lost\"", LOAD(s->lost));
        counter(b, "kos_processor_rewinds_total",
                "State rebuilt from the committed offsets after lost outputs or an aborted "
                "transaction.",
                LOAD(s->rewinds));
        counter(b, "kos_processor_transaction_aborts_total", "Transactions aborted.",
                LOAD(s->txn_aborts));
        counter(b, "kos_processor_merge_forced_total",
                "Records processed ahead of the other input of their task, which had nothing "
                "queued and was caught up with the broker (for --max-task-idle): its next "
                "records may come behind stream time (late beyond window + grace).",
                LOAD(s->merge_forced));
        counter(b, "kos_processor_fetch_wakeups_total",
                "Rounds of requests sent to wake librdkafka's fetcher for partitions whose "
                "queue ran low before they caught up.",
                kos_kicker_rounds(p->kicker));
        gauge(b, "kos_processor_tasks_waiting",
              "Tasks holding one input back because the other has nothing queued but more on "
              "the broker (or its end is not known yet).",
              LOAD(s->waiting));
        kos_prom_meta(b, "kos_processor_input_wait_seconds", "gauge",
                      "The longest such wait going on (0: none); seconds mean a partition that "
                      "cannot be fetched.");
        kos_prom_double(b, "kos_processor_input_wait_seconds", "",
                        (double)LOAD(s->longest_wait_ms) / 1000.0);
        kos_prom_meta(b, "kos_processor_assignment_rejected_total", "counter",
                      "Entries of the group leader's assignments ignored: a partition number "
                      "outside the inputs' partitions, another topic, a repeat.");
        for (int i = 0; i < KOS_AS_REASONS; i++) {
                char labels[64];
                snprintf(labels, sizeof(labels), "reason=\"%s\"", kos_as_reason_name(i));
                kos_prom_u64(b, "kos_processor_assignment_rejected_total", labels,
                             LOAD(s->assign_rejected[i]));
        }
        kos_prom_meta(b, "kos_processor_consumer_lag", "gauge",
                      "Records behind the end of the owned input partitions (the group's own "
                      "view covers only the requests topic: responses partitions follow their "
                      "task and are not part of the group assignment).");
        for (int i = 0; i < KOS_SIDES; i++) {
                char labels[300];
                snprintf(labels, sizeof(labels), "topic=\"%s\"",
                         p->conf->topics[i == KOS_SIDE_RQ ? KOS_T_REQUESTS : KOS_T_RESPONSES]);
                kos_prom_u64(b, "kos_processor_consumer_lag", labels, LOAD(s->lag[i]));
        }
        gauge(b, "kos_processor_tasks", "Tasks owned (partition p of both inputs).",
              LOAD(s->partitions));
        gauge(b, "kos_processor_tasks_replaying", "Tasks still rebuilding state.",
              LOAD(s->replaying));
        gauge(b, "kos_processor_state_records", "Records held in the join buffers.",
              LOAD(s->state_records));
        gauge(b, "kos_processor_state_sessions", "Sessions held in the aggregate store.",
              LOAD(s->state_sessions));
        gauge(b, "kos_processor_state_bytes", "Bytes of join buffers and sessions.",
              LOAD(s->state_bytes));
}

void kos_proc_stats_log(kos_proc_t *p, int64_t now_ms)
{
        static int64_t last_ms;
        static uint64_t last_in, last_out;
        kos_proc_stats_t *s = &p->stats;
        uint64_t in = LOAD(s->records_in[0]) + LOAD(s->records_in[1]);
        uint64_t out = LOAD(s->records_out);
        double dt = last_ms ? (double)(now_ms - last_ms) / 1000.0 : 0;
        KOS_INFO("stats",
                 "in %.0f/s out %.0f/s (total in %" PRIu64 " out %" PRIu64 "), joins %" PRIu64
                 ", bad %" PRIu64 ", late %" PRIu64 ", forced %" PRIu64 ", tasks %" PRIu64
                 " (%" PRIu64 " replaying, %" PRIu64 " waiting), state %" PRIu64 " records %" PRIu64
                 " sessions %.1f MB",
                 dt > 0 ? (double)(in - last_in) / dt : 0,
                 dt > 0 ? (double)(out - last_out) / dt : 0, in, out, LOAD(s->topo.joins),
                 LOAD(s->bad[0]) + LOAD(s->bad[1]), LOAD(s->topo.late), LOAD(s->merge_forced),
                 LOAD(s->partitions), LOAD(s->replaying), LOAD(s->waiting), LOAD(s->state_records),
                 LOAD(s->state_sessions), (double)LOAD(s->state_bytes) / 1e6);
        last_ms = now_ms;
        last_in = in;
        last_out = out;
}
