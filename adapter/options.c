/* kos-adapter's command line (see options.h): the table of flags, --help made from it,
 * parsing and the checks across flags. */
#include "options.h"
#include "duration.h"
#include "log.h"

#include <getopt.h>
#include <stdint.h>
#include <string.h>

enum {
        OPT_REFRESH = 256,
        OPT_STALENESS,
        OPT_KTIMEOUT,
        OPT_POLICY,
        OPT_READ_COMMITTED,
        OPT_NO_LAG_SECONDS,
        OPT_HEAD_BUDGET,
        OPT_RATE_WINDOW, /* the history flags (history.h) run from here ... */
        OPT_DRAIN_MAX,
        OPT_STUCK_REFRESHES,
        OPT_STATUS_WINDOW,
        OPT_STATUS_MIN_DISTANCE, /* ... to here */
        OPT_MAPPING,
        OPT_HEADROOM,
        OPT_KUBECONFIG,
        OPT_NO_KUBE,
        OPT_KUBE_TTL,
        OPT_PORT,
        OPT_BIND,
        OPT_CERT,
        OPT_KEY,
        OPT_THREADS,
        OPT_MAX_CONN,
        OPT_MAX_CONN_ADDR,
        OPT_MAX_UNTRUSTED,
        OPT_HANDSHAKE_TIMEOUT,
        OPT_IDLE_TIMEOUT,
        OPT_RH_CA,
        OPT_RH_NAMES,
        OPT_RH_USER,
        OPT_RH_GROUP,
        OPT_RH_EXTRA,
        OPT_CLIENT_CA,
        OPT_SKIP_LOOKUP,
        OPT_TOLERATE_LOOKUP,
        OPT_AUTHZ_TTL,
        OPT_VERSION,
};

/* One row: a flag (id = getopt's value: its letter or an OPT_*), or a section heading (id 0,
 * help = the heading). value: the name of its value in --help (NULL: takes none); help: its
 * text, '\n' between lines. */
typedef struct {
        int id;
        char short_name;
        const char *long_name;
        const char *value;
        const char *help;
} flag_row_t;

static const flag_row_t rows[] = {
    {0, 0, NULL, NULL, "Kafka"},
    {'b', 'b', "brokers", "LIST", "bootstrap servers (env KAFKA_BROKERS)"},
    {'X', 'X', NULL, "KEY=VALUE", "librdkafka property (SASL/SSL etc.); -X list shows all"},
    {'F', 'F', NULL, "FILE", "librdkafka properties file (key=value lines)"},
    {OPT_REFRESH, 0, "refresh-interval", "DUR", "pause between lag refreshes (default 1s)"},
    {OPT_STALENESS, 0, "max-staleness", "DUR",
     "answer 503 when the lag snapshot is older (default 15s)"},
    {OPT_KTIMEOUT, 0, "kafka-timeout", "DUR", "time limit of a refresh's Kafka calls (default 5s)"},
    {OPT_POLICY, 0, "no-commit-policy", "P",
     "lag of a partition with no commit: earliest (from the\n"
     "log start offset, default) or latest (0)"},
    {OPT_READ_COMMITTED, 0, "read-committed", NULL,
     "end offset = last stable offset (transactional input)"},
    {OPT_NO_LAG_SECONDS, 0, "no-lag-seconds", NULL,
     "do not read records for kafka_consumergroup_lag_seconds"},
    {OPT_HEAD_BUDGET, 0, "head-fetch-budget", "DUR",
     "time per refresh for reading those records\n(default 500ms)"},
    {0, 0, NULL, NULL, "History (rates, time to drain, stuck partitions, status)"},
    {OPT_RATE_WINDOW, 0, "rate-window", "DUR",
     "produce/consume rates average over this (default 30s)"},
    {OPT_DRAIN_MAX, 0, "time-to-drain-max", "DUR",
     "time to drain of a group that does not gain, and the cap\n(default 1h)"},
    {OPT_STUCK_REFRESHES, 0, "stuck-refreshes", "N",
     "refreshes an owned, lagging commit must not move to be\nstuck (default 5)"},
    {OPT_STATUS_WINDOW, 0, "status-window", "N",
     "commits in the status window (Burrow's intervals,\ndefault 10)"},
    {OPT_STATUS_MIN_DISTANCE, 0, "status-min-distance", "DUR",
     "commits closer than this replace the newest (default 1s)"},
    {0, 0, NULL, NULL, "Metrics"},
    {OPT_MAPPING, 0, "mapping-file", "FILE", "object -> consumer group rules (see README)"},
    {OPT_HEADROOM, 0, "headroom-budget", "N",
     "default budget of kafka_consumergroup_lag_headroom\n(default 1000000)"},
    {0, 0, NULL, NULL, "Kubernetes API"},
    {OPT_KUBECONFIG, 0, "kubeconfig", "FILE",
     "kube-apiserver for reviews, the authentication ConfigMap,\n"
     "pods and workloads (default in a pod: its service account)"},
    {OPT_NO_KUBE, 0, "no-kube", NULL,
     "no Kubernetes API even in a pod: requests are authenticated,\n"
     "not authorized; pods are the consumers' client ids"},
    {OPT_KUBE_TTL, 0, "kube-cache-ttl", "DUR",
     "how long pod lists and workload annotations are reused\n(default 2s)"},
    {0, 0, NULL, NULL, "Serving"},
    {OPT_PORT, 0, "secure-port", "N", "HTTPS port (default 6443; 0 = any free port)"},
    {OPT_BIND, 0, "bind-address", "IP", "(default 0.0.0.0)"},
    {OPT_CERT, 0, "tls-cert-file", "FILE", "serving certificate (PEM, required)"},
    {OPT_KEY, 0, "tls-private-key-file", "FILE", "its key (PEM, required)"},
    {OPT_THREADS, 0, "threads", "N", "HTTP worker threads (default 2)"},
    {OPT_MAX_CONN, 0, "max-connections", "N", "all connections (default 1000)"},
    {OPT_MAX_CONN_ADDR, 0, "max-connections-per-address", "N",
     "connections from one address not (yet) proven to be\n"
     "the front proxy; past it the idle one silent longest is\nclosed (default 32)"},
    {OPT_MAX_UNTRUSTED, 0, "max-untrusted-connections", "N",
     "the same, all addresses (default 500)"},
    {OPT_HANDSHAKE_TIMEOUT, 0, "tls-handshake-timeout", "DUR",
     "connect to complete first request head (default 10s)"},
    {OPT_IDLE_TIMEOUT, 0, "idle-timeout", "DUR", "keep-alive connection inactivity (default 90s)"},
    {0, 0, NULL, NULL, "Authentication and authorization"},
    {OPT_RH_CA, 0, "requestheader-client-ca-file", "FILE",
     "CA of the aggregator's front-proxy certificate"},
    {OPT_RH_NAMES, 0, "requestheader-allowed-names", "LIST",
     "allowed front-proxy CNs (comma-separated; empty = any)"},
    {OPT_RH_USER, 0, "requestheader-username-headers", "LIST", "(default X-Remote-User)"},
    {OPT_RH_GROUP, 0, "requestheader-group-headers", "LIST", "(default X-Remote-Group)"},
    {OPT_RH_EXTRA, 0, "requestheader-extra-headers-prefix", "LIST", "(default X-Remote-Extra-)"},
    {OPT_CLIENT_CA, 0, "client-ca-file", "FILE",
     "CA of direct client certificates (user = CN, groups = O)"},
    {OPT_SKIP_LOOKUP, 0, "authentication-skip-lookup", NULL,
     "do not read kube-system/extension-apiserver-authentication"},
    {OPT_TOLERATE_LOOKUP, 0, "authentication-tolerate-lookup-failure", NULL,
     "start even if that ConfigMap cannot be read"},
    {OPT_AUTHZ_TTL, 0, "authorization-cache-ttl", "DUR",
     "how long SubjectAccessReview and TokenReview answers\nare reused (default 10s)"},
    {0, 0, NULL, NULL, "Other"},
    {'d', 'd', "debug", NULL, "debug logs"},
    {'q', 'q', "quiet", NULL, "warnings and errors only"},
    {OPT_VERSION, 0, "version", NULL, "print the version"},
    {'h', 'h', "help", NULL, "this text"},
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

/* Flags only (no headings), in table order: what kos_adapter_flags returns, and getopt's
 * tables made from it. Built once, before any thread (main, tests). */
static kos_adapter_flag_t flags[N_ROWS];
static size_t n_flags;
static struct option long_opts[N_ROWS + 1];
static char short_opts[2 * N_ROWS + 1];

static void build_tables(void)
{
        if (n_flags)
                return;
        size_t nl = 0, ns = 0;
        for (size_t i = 0; i < N_ROWS; i++) {
                const flag_row_t *r = &rows[i];
                if (!r->id)
                        continue;
                flags[n_flags++] = (kos_adapter_flag_t){r->short_name, r->long_name, !!r->value};
                if (r->long_name)
                        long_opts[nl++] = (struct option){
                            r->long_name, r->value ? required_argument : no_argument, 0, r->id};
                if (r->short_name) {
                        short_opts[ns++] = r->short_name;
                        if (r->value)
                                short_opts[ns++] = ':';
                }
        }
        long_opts[nl] = (struct option){0, 0, 0, 0};
        short_opts[ns] = '\0';
}

const kos_adapter_flag_t *kos_adapter_flags(size_t *n)
{
        build_tables();
        *n = n_flags;
        return flags;
}

/* The long name of the flag whose getopt value is id. */
static const char *long_name(int id)
{
        for (size_t i = 0; i < N_ROWS; i++)
                if (rows[i].id == id && rows[i].long_name)
                        return rows[i].long_name;
        return "?";
}

/* Where each flag's text starts in --help. */
#define HELP_COLUMN 40

void kos_adapter_usage(FILE *out)
{
        fputs("Usage: kos-adapter [options]\n"
              "\n"
              "Serves Kafka consumer-group lag as Kubernetes custom and external metrics.\n",
              out);
        for (size_t i = 0; i < N_ROWS; i++) {
                const flag_row_t *r = &rows[i];
                if (!r->id) {
                        fprintf(out, "\n%s:\n", r->help);
                        continue;
                }
                char head[128];
                int w;
                if (r->short_name)
                        w = snprintf(head, sizeof(head), "  -%c%s%s", r->short_name,
                                     r->long_name ? ", --" : "", r->long_name ? r->long_name : "");
                else
                        w = snprintf(head, sizeof(head), "      --%s", r->long_name);
                if (r->value)
                        w += snprintf(head + w, sizeof(head) - (size_t)w, " %s", r->value);
                fputs(head, out);
                /* A long flag gets its text on the next line. */
                if (w + 1 >= HELP_COLUMN)
                        fprintf(out, "\n%*s", HELP_COLUMN, "");
                else
                        fprintf(out, "%*s", HELP_COLUMN - w, "");
                for (const char *p = r->help; *p;) {
                        const char *eol = strchr(p, '\n');
                        size_t len = eol ? (size_t)(eol - p) : strlen(p);
                        fprintf(out, "%.*s\n", (int)len, p);
                        if (!eol)
                                break;
                        p = eol + 1;
                        fprintf(out, "%*s", HELP_COLUMN, "");
                }
        }
        fputs("\nDUR: 500ms, 2s, 1m ...; LIST: comma-separated, a repeated flag appends.\n"
              "Exit status: 0 clean stop, 2 bad usage or a start that failed.\n",
              out);
}

void kos_adapter_conf_defaults(kos_adapter_conf_t *c)
{
        memset(c, 0, sizeof(*c));
        kos_lag_opts_defaults(&c->lag);
        c->server =
            (kos_server_conf_t){.bind_address = "0.0.0.0",
                                .port = 6443,
                                .threads = 2,
                                .max_connections = KOS_SERVER_DEFAULT_MAX_CONNECTIONS,
                                .max_connections_per_address = KOS_SERVER_DEFAULT_PER_ADDRESS,
                                .max_untrusted_connections = KOS_SERVER_DEFAULT_UNTRUSTED,
                                .handshake_timeout_ms = KOS_SERVER_DEFAULT_HANDSHAKE_MS,
                                .idle_timeout_s = KOS_SERVER_DEFAULT_IDLE_S};
        kos_auth_conf_defaults(&c->auth);
        c->max_staleness_ms = 15000;
        c->authz_cache_ttl_ms = 10000;
        c->kube_cache_ttl_ms = 2000;
        c->headroom_budget = 1000000;
}

void kos_adapter_conf_clear(kos_adapter_conf_t *c)
{
        kos_auth_conf_clear(&c->auth);
}

/* pflag StringSlice: the first use of a list flag replaces its default, later uses append. */
static int parse_list(kos_strlist_t *l, int *seen, const char *flag, const char *arg, char *err,
                      size_t errsz)
{
        if (!(*seen)++)
                kos_strlist_clear(l);
        return kos_strlist_parse_flag(l, flag, arg, err, errsz);
}

/* Parses one option into c. 0 ok, -1 bad value (err set), 1 exit 0 (help, version). rh_seen:
 * which requestheader lists were given (for parse_list and the warning in validate). */
static int parse_opt(int opt, const char *arg, kos_adapter_conf_t *c, int rh_seen[4], char *err,
                     size_t errsz)
{
        long long n;
        int64_t ms;
        kos_server_conf_t *sc = &c->server;
        switch (opt) {
        case 'd':
                kos_log_set_level(KOS_LOG_DEBUG);
                return 0;
        case 'q':
                kos_log_set_level(KOS_LOG_WARN);
                return 0;
        case OPT_REFRESH:
                if (kos_parse_duration_range_ms("--refresh-interval", arg, 10, 3600000,
                                                "between 10ms and 1h", &ms, err, errsz) == -1)
                        return -1;
                c->lag.refresh_interval_ms = (int)ms;
                return 0;
        case OPT_STALENESS:
                return kos_parse_duration_ms("--max-staleness", arg, &c->max_staleness_ms, err,
                                             errsz);
        case OPT_KTIMEOUT:
                if (kos_parse_duration_range_ms("--kafka-timeout", arg, 100, 600000,
                                                "between 100ms and 10m", &ms, err, errsz) == -1)
                        return -1;
                c->lag.kafka_timeout_ms = (int)ms;
                return 0;
        case OPT_HEAD_BUDGET:
                if (kos_parse_duration_range_ms("--head-fetch-budget", arg, 0, 600000,
                                                "at most 10m", &ms, err, errsz) == -1)
                        return -1;
                c->lag.head_budget_ms = (int)ms;
                return 0;
        case OPT_RATE_WINDOW:
        case OPT_DRAIN_MAX:
        case OPT_STUCK_REFRESHES:
        case OPT_STATUS_WINDOW:
        case OPT_STATUS_MIN_DISTANCE: {
                char flag[64];
                snprintf(flag, sizeof(flag), "--%s", long_name(opt));
                int r = kos_history_flag(&c->lag.history, flag, arg, err, errsz);
                if (r == 1)
                        snprintf(err, errsz, "%s: not a flag of history.h", flag);
                return r ? -1 : 0;
        }
        case OPT_POLICY:
                if (strcmp(arg, "earliest") == 0)
                        c->lag.policy = KOS_NOCOMMIT_EARLIEST;
                else if (strcmp(arg, "latest") == 0)
                        c->lag.policy = KOS_NOCOMMIT_LATEST;
                else {
                        snprintf(err, errsz, "--no-commit-policy: \"%s\" is not earliest or latest",
                                 arg);
                        return -1;
                }
                return 0;
        case OPT_READ_COMMITTED:
                c->lag.read_committed = 1;
                return 0;
        case OPT_NO_LAG_SECONDS:
                c->lag.head_timestamps = 0;
                return 0;
        case OPT_MAPPING:
                c->mapping_file = arg;
                return 0;
        case OPT_HEADROOM:
                return kos_parse_int("--headroom-budget", arg, 1, INT64_MAX / 2,
                                     &c->headroom_budget, err, errsz);
        case OPT_KUBECONFIG:
                c->kubeconfig = arg;
                return 0;
        case OPT_NO_KUBE:
                c->no_kube = 1;
                return 0;
        case OPT_KUBE_TTL:
                return kos_parse_duration_ms("--kube-cache-ttl", arg, &c->kube_cache_ttl_ms, err,
                                             errsz);
        case OPT_PORT:
                if (kos_parse_int("--secure-port", arg, 0, 65535, &n, err, errsz) == -1)
                        return -1;
                sc->port = (int)n;
                return 0;
        case OPT_BIND:
                sc->bind_address = arg;
                return 0;
        case OPT_CERT:
                sc->tls_cert_file = arg;
                return 0;
        case OPT_KEY:
                sc->tls_key_file = arg;
                return 0;
        case OPT_THREADS:
                if (kos_parse_int("--threads", arg, 1, 256, &n, err, errsz) == -1)
                        return -1;
                sc->threads = (int)n;
                return 0;
        case OPT_MAX_CONN:
                if (kos_parse_int("--max-connections", arg, 16, 1000000, &n, err, errsz) == -1)
                        return -1;
                sc->max_connections = (int)n;
                return 0;
        case OPT_MAX_CONN_ADDR:
                if (kos_parse_int("--max-connections-per-address", arg, 1, 1000000, &n, err,
                                  errsz) == -1)
                        return -1;
                sc->max_connections_per_address = (int)n;
                return 0;
        case OPT_MAX_UNTRUSTED:
                if (kos_parse_int("--max-untrusted-connections", arg, 1, 1000000, &n, err, errsz) ==
                    -1)
                        return -1;
                sc->max_untrusted_connections = (int)n;
                return 0;
        case OPT_HANDSHAKE_TIMEOUT:
                if (kos_parse_duration_range_ms("--tls-handshake-timeout", arg, 100, 600000,
                                                "between 100ms and 10m", &ms, err, errsz) == -1)
                        return -1;
                sc->handshake_timeout_ms = (int)ms;
                return 0;
        case OPT_IDLE_TIMEOUT:
                if (kos_parse_duration_range_ms("--idle-timeout", arg, 1000, 86400000,
                                                "between 1s and 24h", &ms, err, errsz) == -1)
                        return -1;
                sc->idle_timeout_s = (int)((ms + 999) / 1000);
                return 0;
        case OPT_RH_CA:
                c->auth.requestheader_client_ca_file = arg;
                return 0;
        case OPT_RH_NAMES:
                return parse_list(&c->auth.requestheader_allowed_names, &rh_seen[0],
                                  "--requestheader-allowed-names", arg, err, errsz);
        case OPT_RH_USER:
                return parse_list(&c->auth.requestheader_username_headers, &rh_seen[1],
                                  "--requestheader-username-headers", arg, err, errsz);
        case OPT_RH_GROUP:
                return parse_list(&c->auth.requestheader_group_headers, &rh_seen[2],
                                  "--requestheader-group-headers", arg, err, errsz);
        case OPT_RH_EXTRA:
                return parse_list(&c->auth.requestheader_extra_headers_prefix, &rh_seen[3],
                                  "--requestheader-extra-headers-prefix", arg, err, errsz);
        case OPT_CLIENT_CA:
                c->auth.client_ca_file = arg;
                return 0;
        case OPT_SKIP_LOOKUP:
                c->skip_lookup = 1;
                return 0;
        case OPT_TOLERATE_LOOKUP:
                c->tolerate_lookup = 1;
                return 0;
        case OPT_AUTHZ_TTL:
                return kos_parse_duration_ms("--authorization-cache-ttl", arg,
                                             &c->authz_cache_ttl_ms, err, errsz);
        case OPT_VERSION:
                printf("kos-adapter %s (librdkafka %s)\n", KOS_ADAPTER_VERSION,
                       rd_kafka_version_str());
                return 1;
        case 'h':
                kos_adapter_usage(stdout);
                return 1;
        default:
                snprintf(err, errsz, "option %d is in the table but not parsed", opt);
                return -1;
        }
}

/* The checks that need every flag. */
static int validate(const kos_adapter_conf_t *c, const kos_kconf_t *kc, const int rh_seen[4],
                    char *err, size_t errsz)
{
        const kos_server_conf_t *sc = &c->server;
        if (!kos_kconf_has_brokers(kc)) {
                snprintf(err, errsz,
                         "no Kafka brokers: use -b, KAFKA_BROKERS or -X "
                         "bootstrap.servers");
                return -1;
        }
        if (!sc->tls_cert_file || !sc->tls_key_file) {
                snprintf(err, errsz, "--tls-cert-file and --tls-private-key-file are required");
                return -1;
        }
        if (sc->max_untrusted_connections >= sc->max_connections) {
                snprintf(err, errsz,
                         "--max-untrusted-connections must be below --max-connections (the "
                         "rest is kept for the aggregator)");
                return -1;
        }
        if (c->max_staleness_ms < c->lag.refresh_interval_ms) {
                snprintf(err, errsz, "--max-staleness must be at least --refresh-interval");
                return -1;
        }
        if (c->kubeconfig && c->no_kube) {
                snprintf(err, errsz, "--kubeconfig and --no-kube exclude each other");
                return -1;
        }
        if (!c->auth.requestheader_client_ca_file &&
            (rh_seen[0] || rh_seen[1] || rh_seen[2] || rh_seen[3]))
                KOS_WARN("main", "--requestheader-* flags without --requestheader-client-ca-file "
                                 "are ignored (as in k8s.io/apiserver): those settings come "
                                 "from the cluster, if at all");
        return 0;
}

int kos_adapter_options_parse(int argc, char **argv, kos_adapter_conf_t *c, kos_kconf_t *kc,
                              char *err, size_t errsz)
{
        int opt, rh_seen[4] = {0, 0, 0, 0};
        build_tables();
        while ((opt = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
                if (opt == '?') {
                        /* getopt has printed what was wrong, naming the option. */
                        snprintf(err, errsz, "bad usage");
                        return KOS_ADAPTER_OPT_BAD;
                }
                switch (kos_kconf_flag(kc, opt, optarg, err, errsz)) {
                case KOS_KCONF_FLAG_APPLIED:
                        continue;
                case KOS_KCONF_FLAG_LISTED:
                        return KOS_ADAPTER_OPT_EXIT;
                case KOS_KCONF_FLAG_BAD:
                        return KOS_ADAPTER_OPT_BAD;
                case KOS_KCONF_FLAG_NOT_KAFKA:
                        break;
                }
                int r = parse_opt(opt, optarg, c, rh_seen, err, errsz);
                if (r)
                        return r == 1 ? KOS_ADAPTER_OPT_EXIT : KOS_ADAPTER_OPT_BAD;
        }
        if (optind < argc) {
                snprintf(err, errsz, "unexpected argument \"%s\"", argv[optind]);
                return KOS_ADAPTER_OPT_BAD;
        }
        if (kos_kconf_apply_env(kc, err, errsz) == -1)
                return KOS_ADAPTER_OPT_BAD;
        return validate(c, kc, rh_seen, err, errsz) == -1 ? KOS_ADAPTER_OPT_BAD
                                                          : KOS_ADAPTER_OPT_OK;
}
