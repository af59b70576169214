/* The poll loop and the shutdown (see run.h). */
#include "run.h"
#include "clock.h"
#include "delivery.h"
#include "kicker.h"
#include "log.h"
#include "rebalance.h"
#include "stats.h"
#include "task.h"

#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#define POLL_BATCH 5000 /* consumer-queue events served per turn */
#define RUN_BUDGET 5000 /* records one task processes per turn */

static void consumer_error(kos_proc_t *p, const rd_kafka_message_t *m)
{
        static int64_t last;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                return;
        if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                char buf[256];
                rd_kafka_fatal_error(p->consumer, buf, sizeof(buf));
                KOS_ERR("consumer", "fatal: %s", buf);
                atomic_store(&p->fatal, 1);
                return;
        }
        int64_t now = kos_mono_ms();
        if (now - last < 1000)
                return;
        last = now;
        KOS_WARN("consumer", "%s [%" PRId32 "]: %s", m->rkt ? rd_kafka_topic_name(m->rkt) : "-",
                 m->partition, rd_kafka_message_errstr(m));
}

static void route(kos_proc_t *p, rd_kafka_message_t *m)
{
        /* End-of-partition events go to their task like records (task.h). */
        if (m->err && (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF || !m->rkt)) {
                consumer_error(p, m);
                rd_kafka_message_destroy(m);
                return;
        }
        const char *topic = rd_kafka_topic_name(m->rkt);
        int side = !strcmp(topic, p->conf->topics[KOS_T_REQUESTS])    ? KOS_SIDE_RQ
                   : !strcmp(topic, p->conf->topics[KOS_T_RESPONSES]) ? KOS_SIDE_RS
                                                                      : -1;
        kos_task_t *t = side >= 0 && m->partition >= 0 && m->partition < p->n_partitions
                            ? p->tasks[m->partition]
                            : NULL;
        if (!t) {
                rd_kafka_message_destroy(m); /* fetched before a revocation */
                return;
        }
        kos_task_push(t, side, m);
}

/* Serves the consumer queue: rebalance callbacks, commit results, errors, and records of
 * partitions whose own queue could not be split off. */
static size_t serve_consumer(kos_proc_t *p)
{
        size_t n = 0;
        rd_kafka_message_t *m;
        while (n < POLL_BATCH && (m = rd_kafka_consumer_poll(p->consumer, 0))) {
                route(p, m);
                n++;
        }
        return n;
}

/* Sleeps until librdkafka enqueues something (the queues write to wake_fd) or timeout_ms. */
static void wait_for_work(kos_proc_t *p, int timeout_ms)
{
        if (timeout_ms > 0) {
                struct pollfd pfd = {.fd = p->wake_fd[0], .events = POLLIN};
                poll(&pfd, 1, timeout_ms);
        }
        char buf[256];
        while (read(p->wake_fd[0], buf, sizeof(buf)) > 0)
                ;
}

/* librdkafka pauses every assigned partition around a rebalance callback and resumes them
 * when the callback (un)assigns, but a broker thread left with nothing to fetch only notices
 * the resume at its next wake-up, up to a second later: the partitions this member keeps
 * would stall that long on every rebalance. */
static void kick_all(kos_proc_t *p)
{
        for (int i = 0; i < p->n_partitions; i++)
                if (p->tasks[i])
                        for (int s = 0; s < KOS_SIDES; s++)
                                kos_kicker_want(p->kicker, s, i);
}

static size_t pull_tasks(kos_proc_t *p)
{
        size_t n = 0;
        for (int i = 0; i < p->n_partitions; i++)
                if (p->tasks[i])
                        n += kos_task_pull(p->tasks[i]);
        return n;
}

static size_t run_tasks(kos_proc_t *p, int64_t now)
{
        size_t n = 0;
        for (int i = 0; i < p->n_partitions; i++)
                if (p->tasks[i])
                        n += kos_task_run(p->tasks[i], RUN_BUDGET, now);
        return n;
}

static void shutdown_consumer(kos_proc_t *p, int fatal)
{
        int64_t t0 = kos_mono_ms();
        p->closing = 1;
        kos_kicker_stop(p->kicker); /* its requests must not outlive the consumer */
        /* A commit during a rebalance fails (stale generation): let it finish first, serving
         * the callbacks it needs, without processing more records. */
        while (!fatal && atomic_load(&p->rebalancing) &&
               kos_mono_ms() - t0 < p->conf->shutdown_timeout_ms / 2) {
                wait_for_work(p, 50);
                serve_consumer(p);
                kos_delivery_service(p->delivery);
        }
        /* librdkafka wants the partition queue references gone before the consumer closes. */
        for (int i = 0; i < p->n_partitions; i++)
                if (p->tasks[i])
                        kos_task_release_queues(p->tasks[i]);
        if (!fatal && kos_delivery_commit_now(p->delivery, (int)p->conf->shutdown_timeout_ms))
                KOS_WARN("main", "some outputs were not acknowledged: their inputs stay "
                                 "uncommitted and will be processed again by the next owner");
        /* Leaves the group; the revoke callback commits (nothing new by now) and drops. */
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(p->consumer);
        if (err)
                KOS_WARN("main", "closing the consumer: %s", rd_kafka_err2str(err));
        kos_rebalance_drop_all(p);
        rd_kafka_flush(p->producer, (int)p->conf->shutdown_timeout_ms);
        KOS_INFO("main", "stopped in %" PRId64 " ms (%s)", kos_mono_ms() - t0,
                 fatal ? "after a fatal error" : "committed, left the group");
}

int kos_proc_run(kos_proc_t *p)
{
        int64_t now = kos_mono_ms();
        int64_t next_commit = now + p->conf->commit_interval_ms;
        int64_t next_refresh = now + 1000;
        int64_t next_log = p->conf->stats_interval_ms ? now + p->conf->stats_interval_ms : 0;
        size_t worked = 0;
        while (!*p->stop && !atomic_load(&p->fatal)) {
                now = kos_mono_ms();
                atomic_store(&p->alive, now);
                int timeout = 0;
                if (!worked) {
                        int64_t until = next_commit - now;
                        timeout = until < 0 ? 0 : until > 100 ? 100 : (int)until;
                }
                wait_for_work(p, timeout);
                size_t fetched = serve_consumer(p);
                if (p->kick_fetchers) {
                        p->kick_fetchers = 0;
                        kick_all(p);
                }
                fetched += pull_tasks(p);
                now = kos_mono_ms();
                worked = run_tasks(p, now) + fetched;
                if (kos_delivery_service(p->delivery))
                        kos_rebalance_rewind(p);
                if (now >= next_commit) {
                        if (kos_delivery_tick(p->delivery))
                                kos_rebalance_rewind(p);
                        next_commit = now + p->conf->commit_interval_ms;
                }
                if (now >= next_refresh) {
                        kos_proc_stats_refresh(p);
                        next_refresh = now + 1000;
                }
                if (next_log && now >= next_log) {
                        kos_proc_stats_log(p, now);
                        next_log = now + p->conf->stats_interval_ms;
                }
        }
        int fatal = atomic_load(&p->fatal);
        KOS_INFO("main", "%s: final commit, leaving the group",
                 fatal ? "fatal error" : "stop requested");
        shutdown_consumer(p, fatal);
        kos_proc_stats_refresh(p);
        return fatal ? 1 : 0;
}
