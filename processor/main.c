/* kos-processor: the original stream topology (join → decode → aggregate → SESSIONS) as a
 * consumer-group member that scales in and out. flags → signals → HTTP → producer → topics →
 * delivery → consumer (subscribe) → poll loop → final commit, leave → tear down. */
#include "clock.h"
#include "delivery.h"
#include "httpd.h"
#include "kconf.h"
#include "kicker.h"
#include "log.h"
#include "options.h"
#include "proc.h"
#include "rebalance.h"
#include "run.h"
#include "stats.h"
#include "topics.h"
#include "xalloc.h"

#include <fcntl.h>
#include <malloc.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read by the HTTP thread and the signal handler, so they outlive main's frame. */
static kos_proc_t proc;
static kos_proc_conf_t conf;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        if (stop)
                _exit(1); /* the second one: at once */
        stop = 1;
}

static void install_signals(void)
{
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

static int fail_start(int rc, const char *msg)
{
        KOS_ERR("main", "%s", msg);
        fprintf(stderr, "kos-processor: %s%s\n", msg, rc == 2 ? " (see --help)" : "");
        return rc;
}

static int is_ready(void *arg)
{
        kos_proc_t *p = arg;
        return atomic_load(&p->ready) && !atomic_load(&p->fatal) && !stop;
}

/* Healthy unless a fatal error happened or the poll loop stopped turning (stuck). */
static int is_healthy(void *arg)
{
        kos_proc_t *p = arg;
        int64_t alive = atomic_load(&p->alive);
        return !atomic_load(&p->fatal) && (!alive || kos_mono_ms() - alive < 30000);
}

static void render_metrics(void *arg, kos_strbuf_t *out)
{
        kos_proc_stats_render(arg, out);
}

static kos_httpd_t *start_http(char *err, size_t errsz)
{
        kos_httpd_conf_t hc = {.bind_address = conf.bind,
                               .port = conf.http_port,
                               .ready = is_ready,
                               .healthy = is_healthy,
                               .metrics = render_metrics,
                               .arg = &proc};
        kos_httpd_t *h = kos_httpd_new(&hc);
        if (kos_httpd_start(h, err, errsz) == -1) {
                kos_httpd_destroy(h);
                return NULL;
        }
        /* Tests and scripts that pass --http-port 0 read the port from here. */
        printf("listening on port %d\n", kos_httpd_port(h));
        fflush(stdout);
        return h;
}

static rd_kafka_t *new_client(const kos_kconf_t *kc, rd_kafka_type_t type, char *err, size_t errsz)
{
        rd_kafka_conf_t *rc = kos_kconf_dup(kc);
        rd_kafka_conf_set_opaque(rc, &proc);
        rd_kafka_conf_set_log_cb(rc, kos_rebalance_log_cb);
        if (type == RD_KAFKA_PRODUCER)
                rd_kafka_conf_set_dr_msg_cb(rc, kos_delivery_dr_cb);
        else
                rd_kafka_conf_set_rebalance_cb(rc, kos_rebalance_cb);
        rd_kafka_t *rk = rd_kafka_new(type, rc, err, errsz);
        if (!rk)
                rd_kafka_conf_destroy(rc);
        return rk;
}

/* librdkafka writes a byte to wake_fd when a queue the loop serves turns non-empty. */
static int setup_wakeups(char *err, size_t errsz)
{
        if (pipe(proc.wake_fd) == -1) {
                snprintf(err, errsz, "pipe: %s", strerror(errno));
                return -1;
        }
        for (int i = 0; i < 2; i++) {
                fcntl(proc.wake_fd[i], F_SETFL, fcntl(proc.wake_fd[i], F_GETFL) | O_NONBLOCK);
                fcntl(proc.wake_fd[i], F_SETFD, FD_CLOEXEC);
        }
        return 0;
}

static void enable_wakeup(rd_kafka_queue_t *q)
{
        rd_kafka_queue_io_event_enable(q, proc.wake_fd[1], "q", 1);
        rd_kafka_queue_destroy(q); /* the setting stays with the queue */
}

static int subscribe(char *err, size_t errsz)
{
        /* The requests topic only: the responses partition follows its task (rebalance.h). */
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, conf.topics[KOS_T_REQUESTS], RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(proc.consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
                snprintf(err, errsz, "subscribe: %s", rd_kafka_err2str(e));
                return -1;
        }
        return 0;
}

static void log_start(int partitions)
{
        char client_id[256] = "?";
        size_t n = sizeof(client_id);
        rd_kafka_conf_get(rd_kafka_conf(proc.consumer), "client.id", client_id, &n);
        KOS_INFO("main",
                 "kos-processor %s: %s + %s (%d partitions) -> %s, group %s, client.id %s, "
                 "window %lld ms, grace %lld ms, %s, commit every %lld ms%s",
                 KOS_PROC_VERSION, conf.topics[KOS_T_REQUESTS], conf.topics[KOS_T_RESPONSES],
                 partitions, conf.topics[KOS_T_SESSIONS], conf.group, client_id,
                 (long long)conf.window_ms, (long long)conf.grace_ms,
                 conf.exactly_once ? "exactly-once" : "at-least-once",
                 (long long)conf.commit_interval_ms, conf.coalesce ? ", coalescing" : "");
}

int main(int argc, char **argv)
{
        char err[1024];
        int rc = 2, r;
        kos_kconf_t *kc_cons = kos_kconf_new(), *kc_prod = kos_kconf_new();
        kos_httpd_t *httpd = NULL;

        /* Each librdkafka thread would get its own malloc arena, each keeping its peak. */
        mallopt(M_ARENA_MAX, 2);
        kos_xalloc_install();
        kos_proc_conf_defaults(&conf);
        r = kos_proc_options_parse(argc, argv, &conf, kc_cons, kc_prod, err, sizeof(err));
        if (r != KOS_PROC_OPT_OK) {
                rc = r == KOS_PROC_OPT_EXIT ? 0 : fail_start(2, err);
                goto out;
        }
        proc.conf = &conf;
        proc.stop = &stop;
        proc.wake_fd[0] = proc.wake_fd[1] = -1;
        kos_rebalance_set_kconf(kc_cons);
        install_signals();

        if (conf.http && !(httpd = start_http(err, sizeof(err)))) {
                rc = fail_start(2, err);
                goto out;
        }
        if (setup_wakeups(err, sizeof(err)) == -1) {
                rc = fail_start(1, err);
                goto out;
        }
        if (!(proc.producer = new_client(kc_prod, RD_KAFKA_PRODUCER, err, sizeof(err)))) {
                rc = fail_start(2, err);
                goto out;
        }
        enable_wakeup(rd_kafka_queue_get_main(proc.producer)); /* delivery reports */
        rc = 1;
        int partitions = kos_proc_topics_setup(proc.producer, &conf, &stop, err, sizeof(err));
        if (partitions <= 0) {
                rc = partitions == 0 ? 0 : fail_start(1, err);
                goto out;
        }
        proc.n_partitions = partitions;
        proc.tasks = kos_xcalloc((size_t)partitions, sizeof(*proc.tasks));
        proc.delivery = kos_delivery_new(&proc);
        if (!(proc.out_rkt =
                  rd_kafka_topic_new(proc.producer, conf.topics[KOS_T_SESSIONS], NULL))) {
                rc = fail_start(1, rd_kafka_err2str(rd_kafka_last_error()));
                goto out;
        }
        if (kos_delivery_start(proc.delivery, (int)conf.connect_timeout_ms, err, sizeof(err))) {
                rc = fail_start(1, err);
                goto out;
        }
        if (!(proc.consumer = new_client(kc_cons, RD_KAFKA_CONSUMER, err, sizeof(err)))) {
                rc = fail_start(2, err);
                goto out;
        }
        rd_kafka_poll_set_consumer(proc.consumer);
        enable_wakeup(rd_kafka_queue_get_consumer(proc.consumer));
        /* Known to the consumer before assignment, so its partition queues can be split off. */
        proc.rs_rkt = rd_kafka_topic_new(proc.consumer, conf.topics[KOS_T_RESPONSES], NULL);
        if (!(proc.kicker =
                  kos_kicker_new(proc.consumer, conf.topics, partitions, err, sizeof(err)))) {
                rc = fail_start(1, err);
                goto out;
        }
        if (subscribe(err, sizeof(err)) == -1) {
                rc = fail_start(1, err);
                goto out;
        }
        log_start(partitions);
        rc = kos_proc_run(&proc);
out:
        kos_httpd_destroy(httpd);
        kos_kicker_destroy(proc.kicker);
        if (proc.rs_rkt)
                rd_kafka_topic_destroy(proc.rs_rkt);
        if (proc.consumer)
                rd_kafka_destroy(proc.consumer);
        kos_rebalance_drop_all(&proc);
        kos_delivery_destroy(proc.delivery);
        proc.delivery = NULL;
        if (proc.out_rkt)
                rd_kafka_topic_destroy(proc.out_rkt);
        if (proc.producer)
                rd_kafka_destroy(proc.producer);
        free(proc.tasks);
        for (int i = 0; i < 2; i++)
                if (proc.wake_fd[i] >= 0)
                        close(proc.wake_fd[i]);
        kos_kconf_destroy(kc_cons);
        kos_kconf_destroy(kc_prod);
        return rc;
}
