/* kos-datagen: the original game-frame generator (requests and responses) with its rate
 * controllable at run time. flags → signals + HTTP → producer → topics → produce loop →
 * flush → report. */
#include "control.h"
#include "httpd.h"
#include "kconf.h"
#include "log.h"
#include "model.h"
#include "options.h"
#include "produce.h"
#include "stats.h"
#include "topics.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read by the HTTP thread through the callbacks below, so they outlive main's frame. */
static kos_stats_t stats;
static kos_model_t model;
static kos_dg_conf_t conf;

static int fail_start(int rc, const char *msg)
{
        KOS_ERR("main", "%s", msg);
        fprintf(stderr, "kos-datagen: %s%s\n", msg, rc == 2 ? " (see --help)" : "");
        return rc;
}

static int is_ready(void *arg)
{
        return atomic_load(&((kos_producer_t *)arg)->running);
}

static int is_healthy(void *arg)
{
        return !atomic_load(&((kos_producer_t *)arg)->fatal);
}

static void render_metrics(void *arg, kos_strbuf_t *out)
{
        (void)arg;
        kos_stats_render(&stats, out);
}

static kos_httpd_t *start_http(kos_producer_t *prod, kos_control_t *ctl, char *err, size_t errsz)
{
        kos_httpd_conf_t hc = {.bind_address = conf.bind,
                               .port = conf.http_port,
                               .ready = is_ready,
                               .healthy = is_healthy,
                               .metrics = render_metrics,
                               .arg = prod};
        kos_httpd_t *h = kos_httpd_new(&hc);
        kos_control_register_http(ctl, h);
        if (conf.control_token_file &&
            kos_control_set_token_file(ctl, conf.control_token_file, err, errsz) == -1) {
                kos_httpd_destroy(h);
                return NULL;
        }
        if (kos_httpd_start(h, err, errsz) == -1) {
                kos_httpd_destroy(h);
                return NULL;
        }
        KOS_INFO("main", "HTTP on %s:%d; PUT /rate %s", conf.bind, kos_httpd_port(h),
                 conf.control_token_file ? "needs the control token"
                                         : "from loopback only (no --control-token-file)");
        /* Tests and scripts that pass --http-port 0 read the port from here. */
        printf("listening on port %d\n", kos_httpd_port(h));
        fflush(stdout);
        return h;
}

/* The producer reports deliveries into the stats (its opaque). */
static rd_kafka_t *new_producer(const kos_kconf_t *kc, char *err, size_t errsz)
{
        rd_kafka_conf_t *rconf = kos_kconf_dup(kc);
        rd_kafka_conf_set_dr_msg_cb(rconf, kos_produce_dr_cb);
        rd_kafka_conf_set_opaque(rconf, &stats);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, rconf, err, errsz);
        if (!rk)
                rd_kafka_conf_destroy(rconf);
        return rk;
}

static void log_start(rd_kafka_t *rk, int partitions)
{
        char num[32], rate[64], client_id[256] = "?";
        size_t cid_len = sizeof(client_id);
        rd_kafka_conf_get(rd_kafka_conf(rk), "client.id", client_id, &cid_len);
        kos_rate_format(conf.run.rate, num, sizeof(num));
        snprintf(rate, sizeof(rate), conf.has_profile ? "rate from --profile" : "rate %s frames/s",
                 num);
        KOS_INFO("main",
                 "kos-datagen %s: %s + %s (%d partitions each), %s, seed %" PRIu64
                 " (replay with --seed), %zu machines, client.id %s",
                 KOS_DG_VERSION, conf.topics.names[0], conf.topics.names[1], partitions, rate,
                 conf.seed, model.n_machines, client_id);
}

int main(int argc, char **argv)
{
        char err[1024];
        int rc = 2, r, have_stats = 0;
        kos_kconf_t *kc = kos_kconf_new();
        kos_control_t *ctl = NULL;
        kos_httpd_t *httpd = NULL;
        rd_kafka_t *rk = NULL;
        kos_producer_t prod = {0};

        kos_xalloc_install();
        kos_dg_conf_defaults(&conf);
        if (kos_dg_kafka_defaults(kc, err, sizeof(err)) == -1) {
                rc = fail_start(2, err);
                goto out;
        }
        if ((r = kos_dg_options_parse(argc, argv, &conf, kc, err, sizeof(err))) != KOS_DG_OPT_OK) {
                rc = r == KOS_DG_OPT_EXIT ? 0 : fail_start(2, err);
                goto out;
        }
        if (!conf.has_seed)
                conf.seed = kos_model_auto_seed(getenv("POD_NAME"));
        kos_model_init(&model, conf.seed);
        kos_stats_init(&stats, conf.topics.names[0], conf.topics.names[1], conf.seed, 0);
        have_stats = 1;

        /* Signals first: every thread started later (librdkafka, HTTP) inherits the mask. */
        rc = 1;
        ctl = kos_control_new(conf.rate_step);
        if (kos_control_start(ctl, err, sizeof(err)) == -1) {
                rc = fail_start(1, err);
                goto out;
        }
        kos_control_publish_rate(ctl, conf.run.rate);
        prod = (kos_producer_t){.stats = &stats, .ctl = ctl, .model = &model};
        if (conf.http && !(httpd = start_http(&prod, ctl, err, sizeof(err)))) {
                rc = fail_start(2, err);
                goto out;
        }
        if (!(rk = new_producer(kc, err, sizeof(err)))) {
                rc = fail_start(2, err);
                goto out;
        }
        int partitions = kos_dg_topics_ensure(rk, &conf.topics, err, sizeof(err));
        if (partitions < 0) {
                rc = fail_start(1, err);
                goto out;
        }
        for (int t = 0; t < KOS_T_COUNT; t++)
                prod.rkt[t] = rd_kafka_topic_new(rk, conf.topics.names[t], NULL);
        prod.rk = rk;
        log_start(rk, partitions);
        rc = kos_produce_run(&prod, &conf.run);
out:
        for (int t = 0; t < KOS_T_COUNT; t++)
                if (prod.rkt[t])
                        rd_kafka_topic_destroy(prod.rkt[t]);
        kos_httpd_destroy(httpd);
        if (rk)
                rd_kafka_destroy(rk);
        kos_control_destroy(ctl);
        if (have_stats)
                kos_stats_destroy(&stats);
        kos_kconf_destroy(kc);
        return rc;
}
