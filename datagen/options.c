/* kos-datagen's command line: the usage text, the option table, and parsing into the
 * run configuration and the Kafka client configuration (see options.h). */
#include "options.h"
#include "duration.h"
#include "log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: kos-datagen [options]\n"
                "\n"
                "Generates the original game frames: requests to GAME-FRAME-RQ and, with\n"
                "probability 100/101, responses to GAME-FRAME-RS, at a rate that can change\n"
                "while running.\n"
                "\n"
                "Kafka:\n"
                "  -b, --brokers LIST           bootstrap servers (env KAFKA_BROKERS)\n"
                "  -X KEY=VALUE                 librdkafka property (batching, compression, "
                "SASL/SSL);\n"
                "                               -X list shows all\n"
                "  -F FILE                      librdkafka properties file (key=value lines)\n"
                "      --requests-topic NAME    (default GAME-FRAME-RQ)\n"
                "      --responses-topic NAME   (default GAME-FRAME-RS)\n"
                "      --partitions N           partitions of topics created here (default 4)\n"
                "      --replication-factor N   of topics created here (default: the broker's)\n"
                "      --no-create-topics       fail when a topic is missing\n"
                "      --connect-timeout DUR    metadata and topic setup limit (default 10s)\n"
                "      --flush-timeout DUR      at the end, wait this long for acks (default "
                "10s)\n"
                "\n"
                "Load:\n"
                "      --rate N                 frames/s of this process; N replicas make N x "
                "rate\n"
                "                               (default 1000; 0 or max: as fast as the broker\n"
                "                               takes; 2.5k = 2500)\n"
                "      --profile SPEC           rate schedule instead of --rate, e.g.\n"
                "                               1000@60s,ramp:50k@120s,hold@60s,0@10s\n"
                "                               RATE@DUR step, ramp:RATE@DUR linear, hold@DUR;\n"
                "                               0 = paused, max = unlimited; ends the run unless\n"
                "                               the last item is loop or hold\n"
                "      --rate-step N            SIGUSR1 adds, SIGUSR2 removes N frames/s "
                "(default 1000)\n"
                "      --duration DUR           stop after DUR (500ms, 30s, 5m, 1h)\n"
                "      --count N                stop after N frames\n"
                "      --seed N                 reproducible stream (default: clock + POD_NAME)\n"
                "      --ts-start MS            timestamps start at MS (epoch ms) instead of "
                "now...\n"
                "      --ts-step MS             ...and grow by MS per frame (default 1); with\n"
                "                               --seed the records are then byte-identical\n"
                "\n"
                "Serving and logs:\n"
                "      --http-port N            /healthz /readyz /metrics, GET/PUT /rate "
                "(default 8080;\n"
                "                               0 = any free port, printed on stdout)\n"
                "      --bind-address IP        (default 0.0.0.0)\n"
                "      --control-token-file FILE\n"
                "                               PUT /rate needs \"Authorization: Bearer <token>\" "
                "with\n"
                "                               the token in FILE (without: from loopback only)\n"
                "      --no-http                no HTTP port\n"
                "      --stats-interval DUR     progress line on stderr (default 1s; 0 = none)\n"
                "  -d, --debug                  debug logs\n"
                "  -q, --quiet                  warnings and errors only\n"
                "      --version                print the version\n"
                "  -h, --help                   this text\n"
                "\n"
                "Run time: PUT /rate with a rate (\"5000\", \"max\", \"pause\", {\"rate\":5000});\n"
                "SIGUSR1/SIGUSR2 step the rate; either ends a running --profile. SIGTERM stops,\n"
                "flushes and reports (a second SIGTERM: at once, dropping what is in flight).\n"
                "Exit status: 0 done, 1 records failed or Kafka unusable, 2 bad usage.\n");
}

enum {
        OPT_RQ = 256,
        OPT_RS,
        OPT_PARTITIONS,
        OPT_REPLICATION,
        OPT_NO_CREATE,
        OPT_CONNECT_TIMEOUT,
        OPT_FLUSH_TIMEOUT,
        OPT_RATE,
        OPT_PROFILE,
        OPT_RATE_STEP,
        OPT_DURATION,
        OPT_COUNT,
        OPT_SEED,
        OPT_TS_START,
        OPT_TS_STEP,
        OPT_HTTP_PORT,
        OPT_BIND,
        OPT_NO_HTTP,
        OPT_CONTROL_TOKEN,
        OPT_STATS_INTERVAL,
        OPT_VERSION,
};

static const struct option long_opts[] = {
    {"brokers", required_argument, 0, 'b'},
    {"requests-topic", required_argument, 0, OPT_RQ},
    {"responses-topic", required_argument, 0, OPT_RS},
    {"partitions", required_argument, 0, OPT_PARTITIONS},
    {"replication-factor", required_argument, 0, OPT_REPLICATION},
    {"no-create-topics", no_argument, 0, OPT_NO_CREATE},
    {"connect-timeout", required_argument, 0, OPT_CONNECT_TIMEOUT},
    {"flush-timeout", required_argument, 0, OPT_FLUSH_TIMEOUT},
    {"rate", required_argument, 0, OPT_RATE},
    {"profile", required_argument, 0, OPT_PROFILE},
    {"rate-step", required_argument, 0, OPT_RATE_STEP},
    {"duration", required_argument, 0, OPT_DURATION},
    {"count", required_argument, 0, OPT_COUNT},
    {"seed", required_argument, 0, OPT_SEED},
    {"ts-start", required_argument, 0, OPT_TS_START},
    {"ts-step", required_argument, 0, OPT_TS_STEP},
    {"http-port", required_argument, 0, OPT_HTTP_PORT},
    {"bind-address", required_argument, 0, OPT_BIND},
    {"no-http", no_argument, 0, OPT_NO_HTTP},
    {"control-token-file", required_argument, 0, OPT_CONTROL_TOKEN},
    {"stats-interval", required_argument, 0, OPT_STATS_INTERVAL},
    {"debug", no_argument, 0, 'd'},
    {"quiet", no_argument, 0, 'q'},
    {"version", no_argument, 0, OPT_VERSION},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

/* Producer defaults, set before the flags so -X/-F can override any of them. */
int kos_dg_kafka_defaults(kos_kconf_t *kc, char *err, size_t errsz)
{
        const char *pod = getenv("POD_NAME");
        const char *defs[][2] = {
            {"client.id", pod && *pod ? pod : "kos-datagen"},
            {"enable.idempotence", "true"},
            {"partitioner", "murmur2_random"}, /* Java's DefaultPartitioner for keyed records */
            {"allow.auto.create.topics", "false"},
            /* librdkafka's 100000 buys no throughput here and costs ~30 MB of RSS at max rate;
             * 20000 records still cover a 5 ms linger at over a million records/s. */
            {"queue.buffering.max.messages", "20000"},
        };
        for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
                if (kos_kconf_set(kc, defs[i][0], defs[i][1], err, errsz) == -1)
                        return -1;
        return 0;
}

/* Parses one option into c or kc. 0 ok, -1 bad value (err set), 1 exit 0 (help, version). */
static int parse_opt(int opt, const char *arg, kos_dg_conf_t *c, kos_kconf_t *kc, char *err,
                     size_t errsz)
{
        long long n;
        int64_t ms;
        int bad = 0;
        switch (kos_kconf_flag(kc, opt, arg, err, errsz)) {
        case KOS_KCONF_FLAG_APPLIED:
                return 0;
        case KOS_KCONF_FLAG_LISTED:
                return 1;
        case KOS_KCONF_FLAG_BAD:
                return -1;
        case KOS_KCONF_FLAG_NOT_KAFKA:
                break;
        }
        switch (opt) {
        case 'd':
                kos_log_set_level(KOS_LOG_DEBUG);
                return 0;
        case 'q':
                kos_log_set_level(KOS_LOG_WARN);
                return 0;
        case OPT_RQ:
        case OPT_RS:
                if (!*arg) {
                        snprintf(err, errsz, "%s: empty topic name",
                                 opt == OPT_RQ ? "--requests-topic" : "--responses-topic");
                        return -1;
                }
                c->topics.names[opt == OPT_RQ ? 0 : 1] = arg;
                return 0;
        case OPT_PARTITIONS:
                bad = kos_parse_int("--partitions", arg, 1, 100000, &n, err, errsz);
                c->topics.partitions = (int)n;
                return bad;
        case OPT_REPLICATION:
                bad = kos_parse_int("--replication-factor", arg, -1, 1000, &n, err, errsz);
                if (!bad && n == 0) {
                        snprintf(err, errsz, "--replication-factor: 0 (use -1 for the default)");
                        return -1;
                }
                c->topics.replication = (int)n;
                return bad;
        case OPT_NO_CREATE:
                c->topics.create = 0;
                return 0;
        case OPT_CONNECT_TIMEOUT:
                bad = kos_parse_duration_ms("--connect-timeout", arg, &ms, err, errsz);
                if (!bad && (ms < 100 || ms > 3600000)) {
                        snprintf(err, errsz, "--connect-timeout: must be between 100ms and 1h");
                        return -1;
                }
                c->topics.timeout_ms = (int)ms;
                return bad;
        case OPT_FLUSH_TIMEOUT:
                return kos_parse_duration_ms("--flush-timeout", arg, &c->run.flush_timeout_ms, err,
                                             errsz);
        case OPT_RATE:
                c->has_rate = 1;
                return kos_rate_parse("--rate", arg, 1, &c->run.rate, err, errsz);
        case OPT_PROFILE:
                c->has_profile = 1;
                return kos_profile_parse(arg, &c->profile, err, errsz);
        case OPT_RATE_STEP:
                bad = kos_rate_parse("--rate-step", arg, 0, &c->rate_step, err, errsz);
                if (!bad && (c->rate_step <= 0 || isinf(c->rate_step))) {
                        snprintf(err, errsz, "--rate-step: must be a positive number");
                        return -1;
                }
                return bad;
        case OPT_DURATION:
                return kos_parse_duration_ms("--duration", arg, &c->run.duration_ms, err, errsz);
        case OPT_COUNT:
                bad = kos_parse_int("--count", arg, 1, INT64_MAX, &n, err, errsz);
                c->run.count = (uint64_t)n;
                return bad;
        case OPT_SEED:
                bad = kos_parse_int("--seed", arg, 0, INT64_MAX, &n, err, errsz);
                c->seed = (uint64_t)n;
                c->has_seed = 1;
                return bad;
        case OPT_TS_START:
                bad = kos_parse_int("--ts-start", arg, 0, INT64_MAX / 2, &n, err, errsz);
                c->run.ts_start = n;
                c->run.ts_virtual = 1;
                return bad;
        case OPT_TS_STEP:
                bad = kos_parse_int("--ts-step", arg, 0, 86400000, &n, err, errsz);
                c->run.ts_step = n;
                c->has_ts_step = 1;
                return bad;
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
        case OPT_CONTROL_TOKEN:
                c->control_token_file = arg;
                return 0;
        case OPT_STATS_INTERVAL:
                return kos_parse_duration_ms("--stats-interval", arg, &c->run.stats_interval_ms,
                                             err, errsz);
        case OPT_VERSION:
                printf("kos-datagen %s (librdkafka %s)\n", KOS_DG_VERSION, rd_kafka_version_str());
                return 1;
        case 'h':
                usage(stdout);
                return 1;
        }
        return -1;
}

static int validate(kos_dg_conf_t *c, kos_kconf_t *kc, char *err, size_t errsz)
{
        if (kos_kconf_apply_env(kc, err, errsz) == -1)
                return -1;
        if (!kos_kconf_has_brokers(kc)) {
                snprintf(err, errsz,
                         "no Kafka brokers: use -b, KAFKA_BROKERS or -X "
                         "bootstrap.servers");
                return -1;
        }
        if (c->has_rate && c->has_profile) {
                snprintf(err, errsz, "--rate and --profile: use one of them");
                return -1;
        }
        if (c->has_ts_step && !c->run.ts_virtual) {
                snprintf(err, errsz, "--ts-step: needs --ts-start");
                return -1;
        }
        if (strcmp(c->topics.names[0], c->topics.names[1]) == 0) {
                snprintf(err, errsz, "--requests-topic and --responses-topic: must differ");
                return -1;
        }
        return 0;
}

void kos_dg_conf_defaults(kos_dg_conf_t *c)
{
        memset(c, 0, sizeof(*c));
        c->topics = (kos_dg_topics_conf_t){.names = {"GAME-FRAME-RQ", "GAME-FRAME-RS"},
                                           .partitions = 4,
                                           .replication = -1,
                                           .create = 1,
                                           .timeout_ms = 10000};
        c->run = (kos_produce_opts_t){
            .rate = 1000, .flush_timeout_ms = 10000, .stats_interval_ms = 1000, .ts_step = 1};
        c->rate_step = 1000;
        c->http = 1;
        c->http_port = 8080;
        c->bind = "0.0.0.0";
}

int kos_dg_options_parse(int argc, char **argv, kos_dg_conf_t *c, kos_kconf_t *kc, char *err,
                         size_t errsz)
{
        int opt, r;
        while ((opt = getopt_long(argc, argv, "b:X:F:dqh", long_opts, NULL)) != -1) {
                if (opt == '?') {
                        /* getopt has printed what was wrong, naming the option. */
                        snprintf(err, errsz, "bad usage");
                        return KOS_DG_OPT_BAD;
                }
                if ((r = parse_opt(opt, optarg, c, kc, err, errsz)) != 0)
                        return r == 1 ? KOS_DG_OPT_EXIT : KOS_DG_OPT_BAD;
        }
        if (optind < argc) {
                snprintf(err, errsz, "unexpected argument \"%s\"", argv[optind]);
                return KOS_DG_OPT_BAD;
        }
        if (validate(c, kc, err, errsz) == -1)
                return KOS_DG_OPT_BAD;
        if (c->has_profile)
                c->run.profile = &c->profile;
        return KOS_DG_OPT_OK;
}
