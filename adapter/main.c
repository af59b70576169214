/* kos-adapter: a Kubernetes APIService answering custom.metrics.k8s.io (v1beta1, v1beta2) and
 * external.metrics.k8s.io (v1beta1) with consumer-group lag computed from Kafka offsets.
 * flags → config → lag engine + TLS server → wait for SIGTERM/SIGINT → stop. */
#include "duration.h"
#include "kconf.h"
#include "lag.h"
#include "log.h"
#include "kauthz.h"
#include "fetch.h"
#include "kube.h"
#include "mapping.h"
#include "server.h"

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KOS_VERSION "0.1.0"

static void usage(FILE *out)
{
        fprintf(
            out,
            "Usage: kos-adapter [options]\n"
            "\n"
            "Serves Kafka consumer-group lag as Kubernetes custom and external metrics.\n"
            "\n"
            "Kafka:\n"
            "  -b, --brokers LIST                 bootstrap servers (env KAFKA_BROKERS)\n"
            "  -X KEY=VALUE                       librdkafka property (SASL/SSL etc.); -X list "
            "shows all\n"
            "  -F FILE                            librdkafka properties file (key=value lines)\n"
            "      --refresh-interval DUR         pause between lag refreshes (default 1s)\n"
            "      --max-staleness DUR            answer 503 when the lag snapshot is older "
            "(default 15s)\n"
            "      --kafka-timeout DUR            time limit of a refresh's Kafka calls (default "
            "5s)\n"
            "      --no-commit-policy P           lag of a partition with no commit: earliest "
            "(from the\n"
            "                                     log start offset, default) or latest (0)\n"
            "      --read-committed               end offset = last stable offset (transactional "
            "input)\n"
            "      --no-lag-seconds               do not read records for "
            "kafka_consumergroup_lag_seconds\n"
            "      --head-fetch-budget DUR        time per refresh for reading those records "
            "(default 500ms)\n"
            "\n"
            "History (rates, time to drain, stuck partitions, status):\n"
            "      --rate-window DUR              produce/consume rates average over this "
            "(default 30s)\n"
            "      --time-to-drain-max DUR        time to drain of a group that does not gain, "
            "and the cap\n"
            "                                     (default 1h)\n"
            "      --stuck-refreshes N            refreshes an owned, lagging commit must not "
            "move to be\n"
            "                                     stuck (default 5)\n"
            "      --status-window N              commits in the status window (Burrow's "
            "intervals, default 10)\n"
            "      --status-min-distance DUR      commits closer than this replace the newest "
            "(default 1s)\n"
            "\n"
            "Kubernetes objects:\n"
            "      --mapping-file FILE            object -> consumer group rules (see README)\n"
            "\n"
            "Serving:\n"
            "      --secure-port N                HTTPS port (default 6443; 0 = any free port)\n"
            "      --bind-address IP              (default 0.0.0.0)\n"
            "      --tls-cert-file FILE           serving certificate (PEM, required)\n"
            "      --tls-private-key-file FILE    its key (PEM, required)\n"
            "      --threads N                    HTTP worker threads (default 2)\n"
            "      --max-connections N            all connections (default 1000)\n"
            "      --max-connections-per-address N  connections from one address not (yet) "
            "proven to be\n"
            "                                     the front proxy; past it the oldest idle one "
            "is closed (default 32)\n"
            "      --max-untrusted-connections N  the same, all addresses (default 500)\n"
            "      --tls-handshake-timeout DUR    connect to complete first request head "
            "(default 10s)\n"
            "      --idle-timeout DUR             keep-alive connection inactivity (default "
            "90s)\n"
            "\n"
            "Authentication:\n"
            "      --requestheader-client-ca-file FILE   CA of the aggregator's front-proxy "
            "certificate\n"
            "      --requestheader-allowed-names LIST    allowed front-proxy CNs (comma-separated; "
            "empty = any)\n"
            "      --requestheader-username-headers LIST (default X-Remote-User)\n"
            "      --requestheader-group-headers LIST    (default X-Remote-Group)\n"
            "      --requestheader-extra-headers-prefix P (default X-Remote-Extra-)\n"
            "      --client-ca-file FILE          CA of direct client certificates (user = CN, "
            "groups = O)\n"
            "\n"
            "Other:\n"
            "  -d, --debug                        debug logs\n"
            "  -q, --quiet                        warnings and errors only\n"
            "      --version                      print the version\n"
            "  -h, --help                         this text\n");
}

enum {
        OPT_REFRESH = 256,
        OPT_STALENESS,
        OPT_KTIMEOUT,
        OPT_POLICY,
        OPT_READ_COMMITTED,
        OPT_NO_LAG_SECONDS,
        OPT_HEAD_BUDGET,
        OPT_MAPPING,
        OPT_PORT,
        OPT_BIND,
        OPT_CERT,
        OPT_KEY,
        OPT_THREADS,
        OPT_RH_CA,
        OPT_RH_NAMES,
        OPT_RH_USER,
        OPT_RH_GROUP,
        OPT_RH_EXTRA,
        OPT_CLIENT_CA,
        OPT_VERSION,
        OPT_KUBECONFIG,
        OPT_NO_KUBE,
        OPT_SKIP_LOOKUP,
        OPT_TOLERATE_LOOKUP,
        OPT_AUTHZ_TTL,
        OPT_KUBE_TTL,
        OPT_HEADROOM,
        OPT_HISTORY, /* the flags of history.h, parsed there */
        OPT_MAX_CONN,
        OPT_MAX_CONN_ADDR,
        OPT_MAX_UNTRUSTED,
        OPT_HANDSHAKE_TIMEOUT,
        OPT_IDLE_TIMEOUT,
};

static const struct option long_opts[] = {
    {"brokers", required_argument, 0, 'b'},
    {"refresh-interval", required_argument, 0, OPT_REFRESH},
    {"max-staleness", required_argument, 0, OPT_STALENESS},
    {"kafka-timeout", required_argument, 0, OPT_KTIMEOUT},
    {"no-commit-policy", required_argument, 0, OPT_POLICY},
    {"read-committed", no_argument, 0, OPT_READ_COMMITTED},
    {"no-lag-seconds", no_argument, 0, OPT_NO_LAG_SECONDS},
    {"head-fetch-budget", required_argument, 0, OPT_HEAD_BUDGET},
    {"mapping-file", required_argument, 0, OPT_MAPPING},
    {"secure-port", required_argument, 0, OPT_PORT},
    {"bind-address", required_argument, 0, OPT_BIND},
    {"tls-cert-file", required_argument, 0, OPT_CERT},
    {"tls-private-key-file", required_argument, 0, OPT_KEY},
    {"threads", required_argument, 0, OPT_THREADS},
    {"requestheader-client-ca-file", required_argument, 0, OPT_RH_CA},
    {"requestheader-allowed-names", required_argument, 0, OPT_RH_NAMES},
    {"requestheader-username-headers", required_argument, 0, OPT_RH_USER},
    {"requestheader-group-headers", required_argument, 0, OPT_RH_GROUP},
    {"requestheader-extra-headers-prefix", required_argument, 0, OPT_RH_EXTRA},
    {"client-ca-file", required_argument, 0, OPT_CLIENT_CA},
    {"debug", no_argument, 0, 'd'},
    {"quiet", no_argument, 0, 'q'},
    {"version", no_argument, 0, OPT_VERSION},
    {"kubeconfig", required_argument, 0, OPT_KUBECONFIG},
    {"no-kube", no_argument, 0, OPT_NO_KUBE},
    {"authentication-skip-lookup", no_argument, 0, OPT_SKIP_LOOKUP},
    {"authentication-tolerate-lookup-failure", no_argument, 0, OPT_TOLERATE_LOOKUP},
    {"authorization-cache-ttl", required_argument, 0, OPT_AUTHZ_TTL},
    {"kube-cache-ttl", required_argument, 0, OPT_KUBE_TTL},
    {"headroom-budget", required_argument, 0, OPT_HEADROOM},
    {"rate-window", required_argument, 0, OPT_HISTORY},
    {"time-to-drain-max", required_argument, 0, OPT_HISTORY},
    {"stuck-refreshes", required_argument, 0, OPT_HISTORY},
    {"status-window", required_argument, 0, OPT_HISTORY},
    {"status-min-distance", required_argument, 0, OPT_HISTORY},
    {"max-connections", required_argument, 0, OPT_MAX_CONN},
    {"max-connections-per-address", required_argument, 0, OPT_MAX_CONN_ADDR},
    {"max-untrusted-connections", required_argument, 0, OPT_MAX_UNTRUSTED},
    {"tls-handshake-timeout", required_argument, 0, OPT_HANDSHAKE_TIMEOUT},
    {"idle-timeout", required_argument, 0, OPT_IDLE_TIMEOUT},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static int fail_start(const char *msg)
{
        KOS_ERR("main", "%s", msg);
        fprintf(stderr, "kos-adapter: %s (see --help)\n", msg);
        return 2;
}

int main(int argc, char **argv)
{
        char err[1024];
        kos_kconf_t *kc = kos_kconf_new();
        kos_lag_opts_t lo;
        kos_lag_opts_defaults(&lo);
        kos_server_conf_t sc = {.bind_address = "0.0.0.0",
                                .port = 6443,
                                .threads = 2,
                                .max_connections = KOS_SERVER_DEFAULT_MAX_CONNECTIONS,
                                .max_connections_per_address = KOS_SERVER_DEFAULT_PER_ADDRESS,
                                .max_untrusted_connections = KOS_SERVER_DEFAULT_UNTRUSTED,
                                .handshake_timeout_ms = KOS_SERVER_DEFAULT_HANDSHAKE_MS,
                                .idle_timeout_s = KOS_SERVER_DEFAULT_IDLE_S};
        kos_auth_conf_t ac;
        /* pflag StringSlice: the first use of a list flag replaces its default, later uses
         * append */
        int rh_list_set[4] = {0, 0, 0, 0};
        const char *mapping_file = NULL;
        int64_t staleness_ms = 15000, ms;
        long long n;
        int rc = 2;
        kos_mapping_t *mapping = NULL;
        kos_auth_t *auth = NULL;
        kos_lag_t *lag = NULL;
        kos_server_t *server = NULL;
        const char *kubeconfig = NULL;
        int no_kube = 0, skip_lookup = 0, tolerate_lookup = 0;
        int64_t authz_ttl_ms = 10000, kube_ttl_ms = 2000;
        long long headroom_budget = 1000000;
        kos_kube_t *kube = NULL;
        kos_authz_t *authz = NULL;
        kos_fetch_t *fetch = NULL;

        /* glibc gives every thread its own 64 MiB arena; with librdkafka's and the HTTP
         * pool's threads that multiplies RSS for no gain in a process this size. */
        mallopt(M_ARENA_MAX, 2);
        if (kos_auth_conf_defaults(&ac) == -1) {
                kos_kconf_destroy(kc);
                return fail_start("out of memory");
        }

        int c, opt_index = 0;
        while ((c = getopt_long(argc, argv, "b:X:F:dqh", long_opts, &opt_index)) != -1) {
                int bad = kos_kconf_flag(kc, c, optarg, err, sizeof(err));
                if (bad == 1) { /* -X list */
                        kos_kconf_destroy(kc);
                        kos_auth_conf_clear(&ac);
                        return 0;
                }
                int kafka_flag = bad != 2;
                if (!kafka_flag)
                        bad = 0;
                switch (kafka_flag ? 0 : c) {
                case 0:
                        break; /* -b/-X/-F, applied (or bad, reported below) */
                case 'd':
                        kos_log_set_level(KOS_LOG_DEBUG);
                        break;
                case 'q':
                        kos_log_set_level(KOS_LOG_WARN);
                        break;
                case OPT_REFRESH:
                        bad = kos_parse_duration_ms("--refresh-interval", optarg, &ms, err,
                                                    sizeof(err));
                        if (!bad && (ms < 10 || ms > 3600000)) {
                                snprintf(err, sizeof(err),
                                         "--refresh-interval: must be between 10ms and 1h");
                                bad = -1;
                        }
                        lo.refresh_interval_ms = (int)ms;
                        break;
                case OPT_STALENESS:
                        bad = kos_parse_duration_ms("--max-staleness", optarg, &staleness_ms, err,
                                                    sizeof(err));
                        break;
                case OPT_KTIMEOUT:
                        bad =
                            kos_parse_duration_ms("--kafka-timeout", optarg, &ms, err, sizeof(err));
                        if (!bad && (ms < 100 || ms > 600000)) {
                                snprintf(err, sizeof(err),
                                         "--kafka-timeout: must be between 100ms and 10m");
                                bad = -1;
                        }
                        lo.kafka_timeout_ms = (int)ms;
                        break;
                case OPT_HEAD_BUDGET:
                        bad = kos_parse_duration_ms("--head-fetch-budget", optarg, &ms, err,
                                                    sizeof(err));
                        if (!bad && ms > 600000) {
                                snprintf(err, sizeof(err), "--head-fetch-budget: at most 10m");
                                bad = -1;
                        }
                        lo.head_budget_ms = (int)ms;
                        break;
                case OPT_POLICY:
                        if (strcmp(optarg, "earliest") == 0)
                                lo.policy = KOS_NOCOMMIT_EARLIEST;
                        else if (strcmp(optarg, "latest") == 0)
                                lo.policy = KOS_NOCOMMIT_LATEST;
                        else {
                                snprintf(err, sizeof(err),
                                         "--no-commit-policy: \"%s\" is not earliest or latest",
                                         optarg);
                                bad = -1;
                        }
                        break;
                case OPT_READ_COMMITTED:
                        lo.read_committed = 1;
                        break;
                case OPT_NO_LAG_SECONDS:
                        lo.head_timestamps = 0;
                        break;
                case OPT_MAPPING:
                        mapping_file = optarg;
                        break;
                case OPT_PORT:
                        bad =
                            kos_parse_int("--secure-port", optarg, 0, 65535, &n, err, sizeof(err));
                        sc.port = (int)n;
                        break;
                case OPT_BIND:
                        sc.bind_address = optarg;
                        break;
                case OPT_CERT:
                        sc.tls_cert_file = optarg;
                        break;
                case OPT_KEY:
                        sc.tls_key_file = optarg;
                        break;
                case OPT_THREADS:
                        bad = kos_parse_int("--threads", optarg, 1, 256, &n, err, sizeof(err));
                        sc.threads = (int)n;
                        break;
                case OPT_RH_CA:
                        ac.requestheader_client_ca_file = optarg;
                        break;
                case OPT_RH_NAMES:
                        if (!rh_list_set[0]++)
                                kos_strlist_clear(&ac.requestheader_allowed_names);
                        bad = kos_strlist_parse_flag(&ac.requestheader_allowed_names,
                                                     "--requestheader-allowed-names", optarg, err,
                                                     sizeof(err));
                        break;
                case OPT_RH_USER:
                        if (!rh_list_set[1]++)
                                kos_strlist_clear(&ac.requestheader_username_headers);
                        bad = kos_strlist_parse_flag(&ac.requestheader_username_headers,
                                                     "--requestheader-username-headers", optarg,
                                                     err, sizeof(err));
                        break;
                case OPT_RH_GROUP:
                        if (!rh_list_set[2]++)
                                kos_strlist_clear(&ac.requestheader_group_headers);
                        bad = kos_strlist_parse_flag(&ac.requestheader_group_headers,
                                                     "--requestheader-group-headers", optarg, err,
                                                     sizeof(err));
                        break;
                case OPT_RH_EXTRA:
                        if (!rh_list_set[3]++)
                                kos_strlist_clear(&ac.requestheader_extra_headers_prefix);
                        bad = kos_strlist_parse_flag(&ac.requestheader_extra_headers_prefix,
                                                     "--requestheader-extra-headers-prefix", optarg,
                                                     err, sizeof(err));
                        break;
                case OPT_CLIENT_CA:
                        ac.client_ca_file = optarg;
                        break;
                case OPT_KUBECONFIG:
                        kubeconfig = optarg;
                        break;
                case OPT_NO_KUBE:
                        no_kube = 1;
                        break;
                case OPT_SKIP_LOOKUP:
                        skip_lookup = 1;
                        break;
                case OPT_TOLERATE_LOOKUP:
                        tolerate_lookup = 1;
                        break;
                case OPT_AUTHZ_TTL:
                        bad = kos_parse_duration_ms("--authorization-cache-ttl", optarg,
                                                    &authz_ttl_ms, err, sizeof(err));
                        break;
                case OPT_KUBE_TTL:
                        bad = kos_parse_duration_ms("--kube-cache-ttl", optarg, &kube_ttl_ms, err,
                                                    sizeof(err));
                        break;
                case OPT_MAX_CONN:
                        bad = kos_parse_int("--max-connections", optarg, 16, 1000000, &n, err,
                                            sizeof(err));
                        sc.max_connections = (int)n;
                        break;
                case OPT_MAX_CONN_ADDR:
                        bad = kos_parse_int("--max-connections-per-address", optarg, 1, 1000000, &n,
                                            err, sizeof(err));
                        sc.max_connections_per_address = (int)n;
                        break;
                case OPT_MAX_UNTRUSTED:
                        bad = kos_parse_int("--max-untrusted-connections", optarg, 1, 1000000, &n,
                                            err, sizeof(err));
                        sc.max_untrusted_connections = (int)n;
                        break;
                case OPT_HANDSHAKE_TIMEOUT:
                        bad = kos_parse_duration_ms("--tls-handshake-timeout", optarg, &ms, err,
                                                    sizeof(err));
                        if (!bad && (ms < 100 || ms > 600000)) {
                                snprintf(err, sizeof(err),
                                         "--tls-handshake-timeout: must be between 100ms and 10m");
                                bad = -1;
                        }
                        sc.handshake_timeout_ms = (int)ms;
                        break;
                case OPT_IDLE_TIMEOUT:
                        bad =
                            kos_parse_duration_ms("--idle-timeout", optarg, &ms, err, sizeof(err));
                        if (!bad && (ms < 1000 || ms > 86400000)) {
                                snprintf(err, sizeof(err),
                                         "--idle-timeout: must be between 1s and 24h");
                                bad = -1;
                        }
                        sc.idle_timeout_s = (int)((ms + 999) / 1000);
                        break;
                case OPT_HEADROOM:
                        bad = kos_parse_int("--headroom-budget", optarg, 1, INT64_MAX / 2,
                                            &headroom_budget, err, sizeof(err));
                        break;
                case OPT_HISTORY: {
                        char flag[64];
                        snprintf(flag, sizeof(flag), "--%s", long_opts[opt_index].name);
                        bad = kos_history_flag(&lo.history, flag, optarg, err, sizeof(err));
                        break;
                }
                case OPT_VERSION:
                        printf("kos-adapter %s (librdkafka %s)\n", KOS_VERSION,
                               rd_kafka_version_str());
                        kos_kconf_destroy(kc);
                        kos_auth_conf_clear(&ac);
                        return 0;
                case 'h':
                        usage(stdout);
                        kos_kconf_destroy(kc);
                        kos_auth_conf_clear(&ac);
                        return 0;
                default:
                        usage(stderr);
                        kos_kconf_destroy(kc);
                        kos_auth_conf_clear(&ac);
                        return 2;
                }
                if (bad) {
                        rc = fail_start(err);
                        goto out;
                }
        }
        if (optind < argc) {
                snprintf(err, sizeof(err), "unexpected argument \"%s\"", argv[optind]);
                rc = fail_start(err);
                goto out;
        }
        if (kos_kconf_apply_env(kc, err, sizeof(err)) == -1) {
                rc = fail_start(err);
                goto out;
        }
        if (!kos_kconf_has_brokers(kc)) {
                rc = fail_start("no Kafka brokers: use -b, KAFKA_BROKERS or -X bootstrap.servers");
                goto out;
        }
        if (!sc.tls_cert_file || !sc.tls_key_file) {
                rc = fail_start("--tls-cert-file and --tls-private-key-file are required");
                goto out;
        }
        if (sc.max_untrusted_connections >= sc.max_connections) {
                rc = fail_start("--max-untrusted-connections must be below --max-connections "
                                "(the rest is kept for the aggregator)");
                goto out;
        }
        if (staleness_ms < lo.refresh_interval_ms) {
                rc = fail_start("--max-staleness must be at least --refresh-interval");
                goto out;
        }
        if (!ac.requestheader_client_ca_file &&
            (rh_list_set[0] || rh_list_set[1] || rh_list_set[2] || rh_list_set[3]))
                KOS_WARN("main", "--requestheader-* flags without --requestheader-client-ca-file "
                                 "are ignored (as in k8s.io/apiserver): those settings come "
                                 "from the cluster, if at all");
        if (mapping_file && !(mapping = kos_mapping_load(mapping_file, err, sizeof(err)))) {
                rc = fail_start(err);
                goto out;
        }
        /* Signals are taken by sigwait in this thread only; block them before any thread. */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (!(auth = kos_auth_new(&ac, err, sizeof(err)))) {
                rc = fail_start(err);
                goto out;
        }
        /* secure_serving.go: tls.RequestClientCert whenever a client CA may be configured */
        sc.request_client_certs = ac.client_ca_file || ac.requestheader_client_ca_file;
        if (kubeconfig && no_kube) {
                rc = fail_start("--kubeconfig and --no-kube exclude each other");
                goto out;
        }
        if (!no_kube && (kubeconfig || getenv("KUBERNETES_SERVICE_HOST"))) {
                kos_kube_target_t kt;
                if ((kubeconfig ? kos_kubeconfig_load(kubeconfig, &kt, err, sizeof(err))
                                : kos_kube_in_cluster(&kt, err, sizeof(err))) == -1) {
                        rc = fail_start(err);
                        goto out;
                }
                if (!(kube = kos_kube_new(&kt, err, sizeof(err)))) {
                        rc = fail_start(err);
                        goto out;
                }
                if (!(authz = kos_authz_new(kube, (int)authz_ttl_ms))) {
                        rc = fail_start("cannot set up the authorization caches");
                        goto out;
                }
                kos_auth_set_token_reviewer(auth, kos_authz_token_review, authz);
                /* Reviews and lists for requests, all in flight at once, 64 at most. */
                if (!(fetch = kos_fetch_new(kube, 64, err, sizeof(err)))) {
                        rc = fail_start(err);
                        goto out;
                }
                /* ApplyTo reads the ConfigMap only for a CA whose flag is absent */
                if (!skip_lookup && (!ac.client_ca_file || !ac.requestheader_client_ca_file)) {
                        int changed;
                        sc.request_client_certs = 1; /* the ConfigMap may bring CAs any time */
                        if (kos_authz_load_cluster_auth(authz, auth, &ac, &changed, err,
                                                        sizeof(err)) == -1) {
                                if (!tolerate_lookup) {
                                        rc = fail_start(err);
                                        goto out;
                                }
                                KOS_WARN("main", "%s; using the flags", err);
                        }
                        /* Follow CA rotation: re-read the ConfigMap every 30 s. */
                        if (kos_authz_watch_cluster_auth(authz, auth, &ac, 30000, err,
                                                         sizeof(err))) {
                                rc = fail_start(err);
                                goto out;
                        }
                }
        } else {
                KOS_WARN("main", "no Kubernetes API (no --kubeconfig, not in a pod): requests "
                                 "are authenticated but not authorized, pods are consumers");
        }

        if (!(lag = kos_lag_new(kc, &lo, err, sizeof(err)))) {
                rc = fail_start(err);
                goto out;
        }
        kos_provider_conf_t pc = {.mapping = mapping,
                                  .max_staleness_ms = staleness_ms,
                                  .headroom_budget = headroom_budget};
        static kos_req_stats_t stats;
        kos_dispatch_ctx_t ctx = {.auth = auth,
                                  .pc = &pc,
                                  .lag = lag,
                                  .stats = &stats,
                                  .version = KOS_VERSION,
                                  .authz = authz,
                                  .kube = kube,
                                  .kube_cache_ttl_ms = (int)kube_ttl_ms};
        sc.ctx = &ctx;
        sc.fetch = fetch;
        if (!(server = kos_server_start(&sc, err, sizeof(err)))) {
                rc = fail_start(err);
                goto out;
        }
        if (kos_lag_start(lag, err, sizeof(err)) == -1) {
                rc = fail_start(err);
                goto out;
        }
        KOS_INFO("main",
                 "kos-adapter %s listening on https://%s:%d (refresh %d ms, staleness "
                 "%lld ms, %zu mapping rules)",
                 KOS_VERSION, sc.bind_address, kos_server_port(server), lo.refresh_interval_ms,
                 (long long)staleness_ms, mapping ? mapping->n_rules : 0);
        /* Tests and scripts that start us with --secure-port 0 read the port from here. */
        printf("listening on port %d\n", kos_server_port(server));
        fflush(stdout);

        int sig = 0;
        sigwait(&sigs, &sig);
        KOS_INFO("main", "%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        rc = 0;
out:
        kos_server_stop(server);
        kos_fetch_destroy(fetch); /* before the caches it stores into */
        kos_lag_destroy(lag);
        kos_snapshot_publish_clear();
        kos_authz_destroy(authz);
        kos_kube_destroy(kube);
        kos_auth_destroy(auth);
        kos_auth_conf_clear(&ac);
        kos_mapping_destroy(mapping);
        kos_kconf_destroy(kc);
        return rc;
}
