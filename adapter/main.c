/* kos-adapter: a Kubernetes APIService answering custom.metrics.k8s.io (v1beta1, v1beta2) and
 * external.metrics.k8s.io (v1beta1) with consumer-group lag computed from Kafka offsets.
 * options → engines (auth, Kubernetes API, lag) → TLS server → wait for SIGTERM/SIGINT → stop. */
#include "fetch.h"
#include "authz.h"
#include "kconf.h"
#include "kube.h"
#include "kubeconfig.h"
#include "lag.h"
#include "log.h"
#include "mapping.h"
#include "options.h"
#include "server.h"
#include "xalloc.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/* Everything that runs, in start order; stopped in reverse by stop(). */
typedef struct {
        kos_mapping_t *mapping;
        kos_auth_t *auth;
        kos_kube_t *kube;   /* NULL without Kubernetes */
        kos_authz_t *authz; /* NULL without Kubernetes */
        kos_fetch_t *fetch; /* NULL without Kubernetes */
        kos_lag_t *lag;
        kos_provider_conf_t pc;
        kos_req_stats_t stats;
        kos_dispatch_ctx_t ctx; /* points into this struct: the server borrows it */
        kos_server_t *server;
} adapter_t;

/* The Kubernetes API (when given or in a pod): reviews, the fetcher of lists for requests,
 * and the cluster's authentication ConfigMap. */
static int start_kube(adapter_t *a, kos_adapter_conf_t *c, char *err, size_t errsz)
{
        if (c->no_kube || (!c->kubeconfig && !getenv("KUBERNETES_SERVICE_HOST"))) {
                KOS_WARN("main", "no Kubernetes API (no --kubeconfig, not in a pod): requests "
                                 "are authenticated but not authorized, pods are consumers");
                return 0;
        }
        kos_kube_target_t kt;
        if ((c->kubeconfig ? kos_kubeconfig_load(c->kubeconfig, &kt, err, errsz)
                           : kos_kubeconfig_in_cluster(&kt, err, errsz)) == -1)
                return -1;
        a->kube = kos_kube_new(&kt);
        if (!(a->authz = kos_authz_new(a->kube, (int)c->authz_cache_ttl_ms))) {
                snprintf(err, errsz, "cannot set up the authorization caches");
                return -1;
        }
        kos_auth_set_token_reviewer(a->auth, kos_authz_token_review, a->authz);
        /* Reviews and lists for requests, all in flight at once, 64 at most. */
        if (!(a->fetch = kos_fetch_new(a->kube, 64, err, errsz)))
                return -1;
        kos_auth_conf_t *ac = &c->auth;
        /* ApplyTo reads the ConfigMap only for a CA whose flag is absent */
        if (c->skip_lookup || (ac->client_ca_file && ac->requestheader_client_ca_file))
                return 0;
        int changed;
        c->server.request_client_certs = 1; /* the ConfigMap may bring CAs any time */
        if (kos_authz_load_cluster_auth(a->authz, a->auth, ac, &changed, err, errsz) == -1) {
                if (!c->tolerate_lookup)
                        return -1;
                KOS_WARN("main", "%s; using the flags", err);
        }
        /* Follow CA rotation: re-read the ConfigMap every 30 s. */
        return kos_authz_watch_cluster_auth(a->authz, a->auth, ac, 30000, err, errsz) ? -1 : 0;
}

static int start(adapter_t *a, kos_adapter_conf_t *c, kos_kconf_t *kc, char *err, size_t errsz)
{
        if (c->mapping_file && !(a->mapping = kos_mapping_load(c->mapping_file, err, errsz)))
                return -1;
        if (!(a->auth = kos_auth_new(&c->auth, err, errsz)))
                return -1;
        /* secure_serving.go: tls.RequestClientCert whenever a client CA may be configured */
        c->server.request_client_certs =
            c->auth.client_ca_file || c->auth.requestheader_client_ca_file;
        if (start_kube(a, c, err, errsz) == -1)
                return -1;
        if (!(a->lag = kos_lag_new(kc, &c->lag, err, errsz)))
                return -1;
        a->pc = (kos_provider_conf_t){.mapping = a->mapping,
                                      .max_staleness_ms = c->max_staleness_ms,
                                      .headroom_budget = c->headroom_budget};
        a->ctx = (kos_dispatch_ctx_t){.auth = a->auth,
                                      .pc = &a->pc,
                                      .lag = a->lag,
                                      .stats = &a->stats,
                                      .version = KOS_ADAPTER_VERSION,
                                      .authz = a->authz,
                                      .kube = a->kube,
                                      .kube_cache_ttl_ms = (int)c->kube_cache_ttl_ms};
        c->server.ctx = &a->ctx;
        c->server.fetch = a->fetch;
        if (!(a->server = kos_server_start(&c->server, err, errsz)))
                return -1;
        return kos_lag_start(a->lag, err, errsz);
}

static void stop(adapter_t *a)
{
        kos_server_stop(a->server);
        kos_fetch_destroy(a->fetch); /* before the caches it stores into */
        kos_lag_destroy(a->lag);
        kos_snapshot_publish_clear();
        kos_authz_destroy(a->authz);
        kos_kube_destroy(a->kube);
        kos_auth_destroy(a->auth);
        kos_mapping_destroy(a->mapping);
}

static int fail_start(const char *msg)
{
        KOS_ERR("main", "%s", msg);
        fprintf(stderr, "kos-adapter: %s (see --help)\n", msg);
        return 2;
}

int main(int argc, char **argv)
{
        char err[1024];
        /* glibc gives every thread its own 64 MiB arena; with librdkafka's and the HTTP
         * pool's threads that multiplies RSS for no gain in a process this size. */
        mallopt(M_ARENA_MAX, 2);
        kos_xalloc_install();

        kos_adapter_conf_t conf;
        kos_adapter_conf_defaults(&conf);
        kos_kconf_t *kc = kos_kconf_new();
        int rc = kos_adapter_options_parse(argc, argv, &conf, kc, err, sizeof(err));
        if (rc != KOS_ADAPTER_OPT_OK) {
                kos_kconf_destroy(kc);
                kos_adapter_conf_clear(&conf);
                return rc == KOS_ADAPTER_OPT_EXIT ? 0 : fail_start(err);
        }

        /* Signals are taken by sigwait in this thread only; block them before any thread. */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        static adapter_t a; /* static: the server's threads borrow its ctx until stop() */
        if (start(&a, &conf, kc, err, sizeof(err)) == -1) {
                rc = fail_start(err);
        } else {
                KOS_INFO("main",
                         "kos-adapter %s listening on https://%s:%d (refresh %d ms, staleness "
                         "%lld ms, %zu mapping rules)",
                         KOS_ADAPTER_VERSION, conf.server.bind_address, kos_server_port(a.server),
                         conf.lag.refresh_interval_ms, (long long)conf.max_staleness_ms,
                         a.mapping ? a.mapping->n_rules : 0);
                /* Tests and scripts that start us with --secure-port 0 read the port here. */
                printf("listening on port %d\n", kos_server_port(a.server));
                fflush(stdout);
                int sig = 0;
                sigwait(&sigs, &sig);
                KOS_INFO("main", "%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        }
        stop(&a);
        kos_adapter_conf_clear(&conf);
        kos_kconf_destroy(kc);
        return rc;
}
