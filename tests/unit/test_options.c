/* kos-adapter's command line (adapter/options.c): --help lists every flag the parser takes,
 * the values land where the engines read them, and every bad value or combination is refused
 * with an error naming the flag. The README side is tests/unit/test_adapter_flags.py. */
#include "check.h"
#include "options.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>

static char usage_text[16384];

static void capture_usage(void)
{
        FILE *f = fmemopen(usage_text, sizeof(usage_text) - 1, "w");
        kos_adapter_usage(f);
        fclose(f);
}

/* 1 when the --help text holds tok followed by a space, ',' or the line's end. */
static int usage_has(const char *tok)
{
        size_t n = strlen(tok);
        for (const char *p = usage_text; (p = strstr(p, tok)); p += n) {
                char after = p[n];
                char before = p == usage_text ? ' ' : p[-1];
                if ((before == ' ' || before == '\n') &&
                    (after == ' ' || after == ',' || after == '\n'))
                        return 1;
        }
        return 0;
}

static void test_help_lists_every_flag(void)
{
        size_t n;
        const kos_adapter_flag_t *flags = kos_adapter_flags(&n);
        CHECK(n >= 38);
        capture_usage();
        for (size_t i = 0; i < n; i++) {
                char tok[128];
                if (flags[i].long_name) {
                        snprintf(tok, sizeof(tok), "--%s", flags[i].long_name);
                        if (!usage_has(tok))
                                fprintf(stderr, "not in --help: %s\n", tok);
                        CHECK(usage_has(tok));
                }
                if (flags[i].short_name) {
                        snprintf(tok, sizeof(tok), "-%c", flags[i].short_name);
                        CHECK(usage_has(tok));
                }
        }
        /* The ones issue 12 found missing from the hand-written text. */
        CHECK(usage_has("--kubeconfig"));
        CHECK(usage_has("--no-kube"));
        CHECK(usage_has("--authentication-skip-lookup"));
        CHECK(usage_has("--authentication-tolerate-lookup-failure"));
        CHECK(usage_has("--authorization-cache-ttl"));
        CHECK(usage_has("--kube-cache-ttl"));
        CHECK(usage_has("--headroom-budget"));
}

/* Parses a NULL-terminated argument list after the required flags. */
static int parse(kos_adapter_conf_t *c, char *err, size_t errsz, ...)
{
        char *argv[64] = {"kos-adapter",
                          "-b",
                          "127.0.0.1:1",
                          "--tls-cert-file",
                          "c",
                          "--tls-private-key-file",
                          "k"};
        int argc = 7;
        va_list ap;
        va_start(ap, errsz);
        for (char *a; (a = va_arg(ap, char *));)
                argv[argc++] = a;
        va_end(ap);
        kos_adapter_conf_defaults(c);
        kos_kconf_t *kc = kos_kconf_new();
        optind = 0; /* glibc: a full reset of getopt for each parse */
        err[0] = '\0';
        int r = kos_adapter_options_parse(argc, argv, c, kc, err, errsz);
        kos_kconf_destroy(kc);
        return r;
}

static void test_values(void)
{
        kos_adapter_conf_t c;
        char err[512];
        CHECK_INT(parse(&c, err, sizeof(err), "--refresh-interval", "2s", "--kafka-timeout",
                        "500ms", "--no-commit-policy", "latest", "--secure-port", "0", "--threads",
                        "4", "--no-kube", "--kube-cache-ttl", "3s", "--authorization-cache-ttl",
                        "1m", "--headroom-budget", "50", "--idle-timeout", "1500ms",
                        "--requestheader-allowed-names", "a,b", "--requestheader-allowed-names",
                        "c", NULL),
                  KOS_ADAPTER_OPT_OK);
        CHECK_INT(c.lag.refresh_interval_ms, 2000);
        CHECK_INT(c.lag.kafka_timeout_ms, 500);
        CHECK_INT(c.lag.policy, KOS_NOCOMMIT_LATEST);
        CHECK_INT(c.server.port, 0);
        CHECK_INT(c.server.threads, 4);
        CHECK_INT(c.no_kube, 1);
        CHECK_INT(c.kube_cache_ttl_ms, 3000);
        CHECK_INT(c.authz_cache_ttl_ms, 60000);
        CHECK_INT(c.headroom_budget, 50);
        CHECK_INT(c.server.idle_timeout_s, 2); /* rounded up */
        CHECK_INT(c.auth.requestheader_allowed_names.n, 3);
        kos_adapter_conf_clear(&c);

        /* The defaults --help documents. */
        CHECK_INT(parse(&c, err, sizeof(err), NULL), KOS_ADAPTER_OPT_OK);
        CHECK_INT(c.lag.refresh_interval_ms, 1000);
        CHECK_INT(c.max_staleness_ms, 15000);
        CHECK_INT(c.server.port, 6443);
        CHECK_STR(c.server.bind_address, "0.0.0.0");
        CHECK_INT(c.headroom_budget, 1000000);
        CHECK_INT(c.auth.requestheader_username_headers.n, 1);
        kos_adapter_conf_clear(&c);
}

static void bad(const char *want_in_err, ...)
{
        kos_adapter_conf_t c;
        char err[512];
        char *args[8] = {0};
        int n = 0;
        va_list ap;
        va_start(ap, want_in_err);
        for (char *a; n < 7 && (a = va_arg(ap, char *));)
                args[n++] = a;
        va_end(ap);
        int r = parse(&c, err, sizeof(err), args[0], args[1], args[2], args[3], args[4], args[5],
                      args[6], NULL);
        CHECK_INT(r, KOS_ADAPTER_OPT_BAD);
        if (!strstr(err, want_in_err))
                fprintf(stderr, "error \"%s\" does not name %s\n", err, want_in_err);
        CHECK(strstr(err, want_in_err) != NULL);
        kos_adapter_conf_clear(&c);
}

static void test_bad_values(void)
{
        bad("--refresh-interval", "--refresh-interval", "5ms", NULL);
        bad("--refresh-interval", "--refresh-interval", "soon", NULL);
        bad("--max-staleness", "--max-staleness", "-1s", NULL);
        bad("--max-staleness", "--refresh-interval", "20s", NULL); /* staleness < refresh */
        bad("--kafka-timeout", "--kafka-timeout", "11m", NULL);
        bad("--head-fetch-budget", "--head-fetch-budget", "1h", NULL);
        bad("--no-commit-policy", "--no-commit-policy", "newest", NULL);
        bad("--secure-port", "--secure-port", "65536", NULL);
        bad("--secure-port", "--secure-port", "443x", NULL);
        bad("--threads", "--threads", "0", NULL);
        bad("--max-connections", "--max-connections", "15", NULL);
        bad("--max-connections-per-address", "--max-connections-per-address", "0", NULL);
        bad("--max-untrusted-connections", "--max-untrusted-connections", "1000", NULL);
        bad("--tls-handshake-timeout", "--tls-handshake-timeout", "50ms", NULL);
        bad("--idle-timeout", "--idle-timeout", "25h", NULL);
        bad("--headroom-budget", "--headroom-budget", "0", NULL);
        bad("--kube-cache-ttl", "--kube-cache-ttl", "two", NULL);
        bad("--authorization-cache-ttl", "--authorization-cache-ttl", "", NULL);
        bad("allowed-names", "--requestheader-allowed-names", " ", NULL);
        bad("--no-kube", "--kubeconfig", "/dev/null", "--no-kube", NULL);
        bad("unexpected argument", "stray", NULL);
        bad("bad usage", "--no-such-flag", NULL);
        bad("bad usage", "--threads", NULL); /* value missing */
        bad("nosuch.property", "-X", "nosuch.property=1", NULL);
}

static void test_required(void)
{
        kos_adapter_conf_t c;
        char err[512];
        char *argv[] = {"kos-adapter", "-b", "127.0.0.1:1"};
        kos_adapter_conf_defaults(&c);
        kos_kconf_t *kc = kos_kconf_new();
        optind = 0;
        CHECK_INT(kos_adapter_options_parse(3, argv, &c, kc, err, sizeof(err)),
                  KOS_ADAPTER_OPT_BAD);
        CHECK(strstr(err, "--tls-cert-file") != NULL);
        kos_kconf_destroy(kc);
        kos_adapter_conf_clear(&c);

        char *argv2[] = {"kos-adapter", "--tls-cert-file", "c", "--tls-private-key-file", "k"};
        kos_adapter_conf_defaults(&c);
        kc = kos_kconf_new();
        optind = 0;
        CHECK_INT(kos_adapter_options_parse(5, argv2, &c, kc, err, sizeof(err)),
                  KOS_ADAPTER_OPT_BAD);
        CHECK(strstr(err, "no Kafka brokers") != NULL);
        kos_kconf_destroy(kc);
        kos_adapter_conf_clear(&c);
}

int main(void)
{
        unsetenv("KAFKA_BROKERS");
        test_help_lists_every_flag();
        test_values();
        test_bad_values();
        test_required();
        return check_result("options");
}
