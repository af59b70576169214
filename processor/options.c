/* kos-processor's command line (see options.h): usage text, environment, flags, and the two
 * Kafka client configurations built from them. */
#include "options.h"
#include "duration.h"
#include "log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: kos-processor [options]\n"
                "\n"
                "The original stream topology as a Kafka consumer-group member: joins\n"
                "GAME-FRAME-RQ and GAME-FRAME-RS on equal keys within the join window, decodes\n"
                "the request's hits, aggregates them per key and writes each session update to\n"
                "SESSIONS. Scales in and out with cooperative rebalancing; state is rebuilt by\n"
                "re-reading the last window of input before the committed offsets.\n"
                "\n"
                "Kafka:\n"
                "  -b, --brokers LIST          bootstrap servers (env KAFKA_BROKERS)\n"
                "  -X KEY=VALUE                librdkafka property for both clients (SASL/SSL,\n"
                "                              session.timeout.ms, linger.ms ...); -X list shows "
                "all\n"
                "  -F FILE                     librdkafka properties file (key=value lines)\n"
                "  -g, --group ID              consumer group (default KINGOFSCALING-APP;\n"
                "                              env KOS_GROUP_ID)\n"
                "      --requests-topic NAME   (default GAME-FRAME-RQ; env KOS_REQUESTS_TOPIC)\n"
                "      --responses-topic NAME  (default GAME-FRAME-RS; env KOS_RESPONSES_TOPIC)\n"
                "      --sessions-topic NAME   output (default SESSIONS; env KOS_SESSIONS_TOPIC)\n"
                "      --no-create-topics      fail when the output topic is missing (default:\n"
                "                              create it with the inputs' partition count)\n"
                "      --replication-factor N  of the output topic when created (default: "
                "broker's)\n"
                "      --connect-timeout DUR   each metadata request at start, and creating\n"
                "                              the output topic until it has leaders\n"
                "                              (default 10s)\n"
                "\n"
                "Topology:\n"
                "      --window DUR            join window, either order (default 3s;\n"
                "                              env KOS_JOIN_WINDOW)\n"
                "      --grace DUR             how late a record may be; state older than\n"
                "                              window + grace is dropped (default 1s; env "
                "KOS_GRACE)\n"
                "      --max-session-hits N    cap per session; more hits are dropped and counted\n"
                "                              (default 4096, keeps a session under 1 MB)\n"
                "      --no-coalesce           emit the session on every hit (default: once per\n"
                "                              commit interval per changed key, like Kafka\n"
                "                              Streams' record cache)\n"
                "      --max-future DUR        records this far ahead of the clock are bad\n"
                "                              (default 1h; 0 = no check)\n"
                "      --max-task-idle DUR     how long a task waits for new records of an input\n"
                "                              that is empty and caught up with the broker\n"
                "                              before processing the other ahead of it (default\n"
                "                              0, as Kafka Streams' max.task.idle.ms); an input\n"
                "                              the broker has more of is always waited for\n"
                "      --max-buffered N        records pulled per input partition ahead of the\n"
                "                              merge (default 1000; librdkafka prefetches more)\n"
                "\n"
                "Delivery:\n"
                "      --commit-interval DUR   (default 100ms; env KOS_COMMIT_INTERVAL)\n"
                "      --exactly-once          Kafka transactions: outputs and input offsets\n"
                "                              commit together (env KOS_EXACTLY_ONCE=1);\n"
                "                              default at-least-once: offsets are committed\n"
                "                              once the outputs before them are acknowledged\n"
                "      --shutdown-timeout DUR  SIGTERM: flush and commit within this "
                "(default 10s)\n"
                "\n"
                "Serving and logs:\n"
                "      --http-port N           /healthz /readyz /metrics (default 8081;\n"
                "                              0 = any free port, printed on stdout)\n"
                "      --bind-address IP       (default 0.0.0.0)\n"
                "      --no-http               no HTTP port\n"
                "      --stats-interval DUR    progress line on stderr (default 10s; 0 = none)\n"
                "  -d, --debug                 debug logs\n"
                "  -q, --quiet                 warnings and errors only\n"
                "      --version               print the version\n"
                "  -h, --help                  this text\n"
                "\n"
                "client.id is POD_NAME when set (the adapter maps consumers to pods by it).\n"
                "Precedence: defaults < -F < KAFKA_BROKERS < -b/-X; KOS_* < flags.\n"
                "SIGTERM/SIGINT: stop, flush, commit, leave the group (twice: at once).\n"
                "Exit status: 0 clean stop, 1 Kafka unusable or topics not co-partitioned,\n"
                "2 bad usage.\n");
}

enum {
        OPT_RQ = 256,
        OPT_RS,
        OPT_OUT,
        OPT_NO_CREATE,
        OPT_REPLICATION,
        OPT_CONNECT_TIMEOUT,
        OPT_WINDOW,
        OPT_GRACE,
        OPT_MAX_HITS,
        OPT_NO_COALESCE,
        OPT_MAX_FUTURE,
        OPT_MAX_IDLE,
        OPT_MAX_BUFFERED,
        OPT_COMMIT_INTERVAL,
        OPT_EOS,
        OPT_SHUTDOWN_TIMEOUT,
        OPT_HTTP_PORT,
        OPT_BIND,
        OPT_NO_HTTP,
        OPT_STATS_INTERVAL,
        OPT_VERSION,
};

static const struct option long_opts[] = {
    {"brokers", required_argument, 0, 'b'},
    {"group", required_argument, 0, 'g'},
    {"requests-topic", required_argument, 0, OPT_RQ},
    {"responses-topic", required_argument, 0, OPT_RS},
    {"sessions-topic", required_argument, 0, OPT_OUT},
    {"no-create-topics", no_argument, 0, OPT_NO_CREATE},
    {"replication-factor", required_argument, 0, OPT_REPLICATION},
    {"connect-timeout", required_argument, 0, OPT_CONNECT_TIMEOUT},
    {"window", required_argument, 0, OPT_WINDOW},
    {"grace", required_argument, 0, OPT_GRACE},
    {"max-session-hits", required_argument, 0, OPT_MAX_HITS},
    {"no-coalesce", no_argument, 0, OPT_NO_COALESCE},
    {"max-future", required_argument, 0, OPT_MAX_FUTURE},
    {"max-task-idle", required_argument, 0, OPT_MAX_IDLE},
    {"max-buffered", required_argument, 0, OPT_MAX_BUFFERED},
    {"commit-interval", required_argument, 0, OPT_COMMIT_INTERVAL},
    {"exactly-once", no_argument, 0, OPT_EOS},
    {"shutdown-timeout", required_argument, 0, OPT_SHUTDOWN_TIMEOUT},
    {"http-port", required_argument, 0, OPT_HTTP_PORT},
    {"bind-address", required_argument, 0, OPT_BIND},
    {"no-http", no_argument, 0, OPT_NO_HTTP},
    {"stats-interval", required_argument, 0, OPT_STATS_INTERVAL},
    {"debug", no_argument, 0, 'd'},
    {"quiet", no_argument, 0, 'q'},
    {"version", no_argument, 0, OPT_VERSION},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

void kos_proc_conf_defaults(kos_proc_conf_t *c)
{
        memset(c, 0, sizeof(*c));
        c->topics[KOS_T_REQUESTS] = "GAME-FRAME-RQ";
        c->topics[KOS_T_RESPONSES] = "GAME-FRAME-RS";
        c->topics[KOS_T_SESSIONS] = "SESSIONS";
        c->group = "KINGOFSCALING-APP";
        c->window_ms = 3000;
        c->grace_ms = 1000;
        c->commit_interval_ms = 100;
        c->coalesce = 1;
        c->max_session_hits = 4096;
        c->create_topics = 1;
        c->replication = -1;
        c->connect_timeout_ms = 10000;
        c->shutdown_timeout_ms = 10000;
        c->max_task_idle_ms = 0;
        c->max_future_ms = 3600000;
        c->max_buffered = 1000;
        c->http = 1;
        c->http_port = 8081;
        c->bind = "0.0.0.0";
        c->stats_interval_ms = 10000;
}

static int set_topic(kos_proc_conf_t *c, int t, const char *what, const char *arg, char *err,
                     size_t errsz)
{
        if (!*arg || strlen(arg) > 249) {
                snprintf(err, errsz, "%s: \"%s\" is not a topic name", what, arg);
                return -1;
        }
        c->topics[t] = arg;
        return 0;
}

static int parse_window(const char *what, const char *arg, int64_t *out, int64_t min, char *err,
                        size_t errsz)
{
        char range[64];
        snprintf(range, sizeof(range), "between %lldms and 24h", (long long)min);
        return kos_parse_duration_range_ms(what, arg, min, 86400000, range, out, err, errsz);
}

/* Environment first, so flags override it. Errors name the variable. */
static int parse_env(kos_proc_conf_t *c, char *err, size_t errsz)
{
        const char *v;
        if ((v = getenv("KOS_REQUESTS_TOPIC")) && *v &&
            set_topic(c, KOS_T_REQUESTS, "KOS_REQUESTS_TOPIC", v, err, errsz) == -1)
                return -1;
        if ((v = getenv("KOS_RESPONSES_TOPIC")) && *v &&
            set_topic(c, KOS_T_RESPONSES, "KOS_RESPONSES_TOPIC", v, err, errsz) == -1)
                return -1;
        if ((v = getenv("KOS_SESSIONS_TOPIC")) && *v &&
            set_topic(c, KOS_T_SESSIONS, "KOS_SESSIONS_TOPIC", v, err, errsz) == -1)
                return -1;
        if ((v = getenv("KOS_GROUP_ID")) && *v)
                c->group = v;
        if ((v = getenv("KOS_JOIN_WINDOW")) && *v &&
            parse_window("KOS_JOIN_WINDOW", v, &c->window_ms, 1, err, errsz) == -1)
                return -1;
        if ((v = getenv("KOS_GRACE")) && *v &&
            parse_window("KOS_GRACE", v, &c->grace_ms, 0, err, errsz) == -1)
                return -1;
        if ((v = getenv("KOS_COMMIT_INTERVAL")) && *v &&
            parse_window("KOS_COMMIT_INTERVAL", v, &c->commit_interval_ms, 1, err, errsz) == -1)
                return -1;
        if ((v = getenv("KOS_EXACTLY_ONCE")) && *v) {
                if (!strcmp(v, "1") || !strcmp(v, "true"))
                        c->exactly_once = 1;
                else if (!strcmp(v, "0") || !strcmp(v, "false"))
                        c->exactly_once = 0;
                else {
                        snprintf(err, errsz, "KOS_EXACTLY_ONCE: \"%s\" is not 1/true/0/false", v);
                        return -1;
                }
        }
        return 0;
}

/* Parses one option into c. 0 ok, -1 bad value (err set), 1 exit 0 (help, version, -X list). */
static int parse_opt(int opt, const char *arg, kos_proc_conf_t *c, char *err, size_t errsz)
{
        long long n;
        int bad = 0;
        switch (opt) {
        case 'b':
        case 'X':
        case 'F':
                if (opt == 'X' && strcmp(arg, "list") == 0) {
                        kos_kconf_print_list();
                        return 1;
                }
                if (c->n_kset == KOS_PROC_MAX_KSET) {
                        snprintf(err, errsz, "-%c: more than %d Kafka settings", opt,
                                 KOS_PROC_MAX_KSET);
                        return -1;
                }
                c->kset[c->n_kset].kind = (char)opt;
                c->kset[c->n_kset++].arg = arg;
                return 0;
        case 'g':
                if (!*arg) {
                        snprintf(err, errsz, "--group: empty group id");
                        return -1;
                }
                c->group = arg;
                return 0;
        case 'd':
                kos_log_set_level(KOS_LOG_DEBUG);
                return 0;
        case 'q':
                kos_log_set_level(KOS_LOG_WARN);
                return 0;
        case OPT_RQ:
                return set_topic(c, KOS_T_REQUESTS, "--requests-topic", arg, err, errsz);
        case OPT_RS:
                return set_topic(c, KOS_T_RESPONSES, "--responses-topic", arg, err, errsz);
        case OPT_OUT:
                return set_topic(c, KOS_T_SESSIONS, "--sessions-topic", arg, err, errsz);
        case OPT_NO_CREATE:
                c->create_topics = 0;
                return 0;
        case OPT_REPLICATION:
                bad = kos_parse_int("--replication-factor", arg, -1, 1000, &n, err, errsz);
                if (!bad && n == 0) {
                        snprintf(err, errsz, "--replication-factor: 0 (use -1 for the default)");
                        return -1;
                }
                c->replication = (int)n;
                return bad;
        case OPT_CONNECT_TIMEOUT:
                return parse_window("--connect-timeout", arg, &c->connect_timeout_ms, 100, err,
                                    errsz);
        case OPT_WINDOW:
                return parse_window("--window", arg, &c->window_ms, 1, err, errsz);
        case OPT_GRACE:
                return parse_window("--grace", arg, &c->grace_ms, 0, err, errsz);
        case OPT_MAX_HITS:
                return kos_parse_int("--max-session-hits", arg, 1, 1000000, &c->max_session_hits,
                                     err, errsz);
        case OPT_NO_COALESCE:
                c->coalesce = 0;
                return 0;
        case OPT_MAX_FUTURE:
                if (kos_parse_duration_ms("--max-future", arg, &c->max_future_ms, err, errsz))
                        return -1;
                if (c->max_future_ms != 0 && c->max_future_ms < 1000) {
                        snprintf(err, errsz, "--max-future: 0 (off) or at least 1s");
                        return -1;
                }
                return 0;
        case OPT_MAX_IDLE:
                return parse_window("--max-task-idle", arg, &c->max_task_idle_ms, 0, err, errsz);
        case OPT_MAX_BUFFERED:
                return kos_parse_int("--max-buffered", arg, 10, 10000000, &c->max_buffered, err,
                                     errsz);
        case OPT_COMMIT_INTERVAL:
                return parse_window("--commit-interval", arg, &c->commit_interval_ms, 1, err,
                                    errsz);
        case OPT_EOS:
                c->exactly_once = 1;
                return 0;
        case OPT_SHUTDOWN_TIMEOUT:
                return parse_window("--shutdown-timeout", arg, &c->shutdown_timeout_ms, 100, err,
                                    errsz);
        case OPT_HTTP_PORT:
                bad = kos_parse_int("--http-port", arg, 0, 65535, &n, err, errsz);
                c->http_port = (int)n;
                return bad;
        case OPT_BIND:
                c->bind = arg;
                return 0;
        case OPT_NO_HTTP:
                c->http = 0;
                return 0;
        case OPT_STATS_INTERVAL:
                return kos_parse_duration_ms("--stats-interval", arg, &c->stats_interval_ms, err,
                                             errsz);
        case OPT_VERSION:
                printf("kos-processor %s (librdkafka %s)\n", KOS_PROC_VERSION,
                       rd_kafka_version_str());
                return 1;
        case 'h':
                usage(stdout);
                return 1;
        }
        return -1;
}

static int set_all(kos_kconf_t *kc, const char *const (*defs)[2], size_t n, char *err, size_t errsz)
{
        for (size_t i = 0; i < n; i++)
                if (kos_kconf_set(kc, defs[i][0], defs[i][1], err, errsz) == -1)
                        return -1;
        return 0;
}

/* Each client's defaults, then -F files, KAFKA_BROKERS, then -b/-X in command-line order. */
static int build_kafka(const kos_proc_conf_t *c, kos_kconf_t *kc_cons, kos_kconf_t *kc_prod,
                       char *err, size_t errsz)
{
        const char *pod = getenv("POD_NAME");
        const char *client_id = pod && *pod ? pod : "kos-processor";
        char txn_id[512];
        if (pod && *pod)
                snprintf(txn_id, sizeof(txn_id), "kos-processor-%s-%s", c->group, pod);
        else {
                char host[256] = "localhost";
                gethostname(host, sizeof(host) - 1);
                snprintf(txn_id, sizeof(txn_id), "kos-processor-%s-%s-%ld", c->group, host,
                         (long)getpid());
        }
        const char *const cons[][2] = {
            {"client.id", client_id},
            {"group.id", c->group},
            {"partition.assignment.strategy", "cooperative-sticky"},
            {"enable.auto.commit", "false"},
            {"enable.auto.offset.store", "false"},
            {"auto.offset.reset", "earliest"}, /* as Kafka Streams */
            {"isolation.level", "read_committed"},
            /* How the merge knows an input is caught up (task.h); required. */
            {"enable.partition.eof", "true"},
            {"allow.auto.create.topics", "false"},
            /* Prefetch per input partition (each has its own queue). librdkafka keeps about
             * 600 bytes per fetched record, so its defaults (100000 records, 64 MB per
             * partition) would be most of the RSS. 512 KB still keeps one core busy
             * (~100k+ records/s); 1-2 MB buys ~30 % more for ~20 MB of RSS. */
            {"queued.min.messages", "10000"},
            {"queued.max.messages.kbytes", "512"},
            {"max.partition.fetch.bytes", "65536"},
            /* Members notice a rebalance at their next heartbeat: 3 s by default is most of
             * the pause a scale event causes. */
            {"heartbeat.interval.ms", "500"},
            /* Lets rebalance.c see the join state (commit guard for librdkafka#4059). */
            {"debug", "cgrp"},
        };
        const char *const prod[][2] = {
            {"client.id", client_id},
            {"partitioner", "murmur2_random"}, /* Java's DefaultPartitioner for keyed records */
            {"enable.idempotence", "true"},
            /* Outputs waiting for the broker: enough for a few ms of acknowledgements. */
            {"queue.buffering.max.messages", "5000"},
            {"queue.buffering.max.kbytes", "16384"},
        };
        const char *const eos[][2] = {
            {"transactional.id", txn_id},
            /* An abandoned transaction (SIGKILL) blocks read_committed readers this long. */
            {"transaction.timeout.ms", "10000"},
        };
        if (set_all(kc_cons, cons, sizeof(cons) / sizeof(cons[0]), err, errsz) == -1 ||
            set_all(kc_prod, prod, sizeof(prod) / sizeof(prod[0]), err, errsz) == -1)
                return -1;
        if (c->exactly_once && set_all(kc_prod, eos, sizeof(eos) / sizeof(eos[0]), err, errsz))
                return -1;
        kos_kconf_t *both[2] = {kc_cons, kc_prod};
        for (int k = 0; k < 2; k++) {
                for (int i = 0; i < c->n_kset; i++)
                        if (c->kset[i].kind == 'F' &&
                            kos_kconf_load_file(both[k], c->kset[i].arg, err, errsz) == -1)
                                return -1;
                if (kos_kconf_apply_env(both[k], err, errsz) == -1)
                        return -1;
                for (int i = 0; i < c->n_kset; i++) {
                        int r = 0;
                        if (c->kset[i].kind == 'b')
                                r = kos_kconf_set(both[k], "bootstrap.servers", c->kset[i].arg, err,
                                                  errsz);
                        else if (c->kset[i].kind == 'X')
                                r = kos_kconf_set_kv(both[k], c->kset[i].arg, err, errsz);
                        if (r == -1)
                                return -1;
                }
        }
        rd_kafka_conf_t *rc = kos_kconf_dup(kc_cons);
        char eof[16] = "";
        size_t eof_size = sizeof(eof);
        rd_kafka_conf_get(rc, "enable.partition.eof", eof, &eof_size);
        rd_kafka_conf_destroy(rc);
        if (strcmp(eof, "true") != 0) {
                snprintf(err, errsz,
                         "enable.partition.eof=%s: kos-processor needs end-of-partition events "
                         "to know when an input is caught up (leave it at true)",
                         eof);
                return -1;
        }
        if (!kos_kconf_has_brokers(kc_cons)) {
                snprintf(err, errsz,
                         "no Kafka brokers: use -b, KAFKA_BROKERS or -X bootstrap.servers");
                return -1;
        }
        return 0;
}

static int validate(const kos_proc_conf_t *c, char *err, size_t errsz)
{
        const char *rq = c->topics[KOS_T_REQUESTS], *rs = c->topics[KOS_T_RESPONSES],
                   *out = c->topics[KOS_T_SESSIONS];
        if (!strcmp(rq, rs)) {
                snprintf(err, errsz, "--responses-topic: must differ from --requests-topic");
                return -1;
        }
        if (!strcmp(out, rq) || !strcmp(out, rs)) {
                snprintf(err, errsz, "--sessions-topic: must differ from the input topics");
                return -1;
        }
        return 0;
}

int kos_proc_options_parse(int argc, char **argv, kos_proc_conf_t *c, kos_kconf_t *kc_cons,
                           kos_kconf_t *kc_prod, char *err, size_t errsz)
{
        int opt, r;
        if (parse_env(c, err, errsz) == -1)
                return KOS_PROC_OPT_BAD;
        while ((opt = getopt_long(argc, argv, "b:X:F:g:dqh", long_opts, NULL)) != -1) {
                if (opt == '?') {
                        /* getopt has printed what was wrong, naming the option. */
                        snprintf(err, errsz, "bad usage");
                        return KOS_PROC_OPT_BAD;
                }
                if ((r = parse_opt(opt, optarg, c, err, errsz)) != 0)
                        return r == 1 ? KOS_PROC_OPT_EXIT : KOS_PROC_OPT_BAD;
        }
        if (optind < argc) {
                snprintf(err, errsz, "unexpected argument \"%s\"", argv[optind]);
                return KOS_PROC_OPT_BAD;
        }
        if (validate(c, err, errsz) == -1 || build_kafka(c, kc_cons, kc_prod, err, errsz) == -1)
                return KOS_PROC_OPT_BAD;
        return KOS_PROC_OPT_OK;
}
