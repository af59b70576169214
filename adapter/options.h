/* kos-adapter's command line: one table of flags from which both the parser (getopt_long) and
 * the --help text are made, so a flag cannot be accepted without being listed; defaults, the
 * parsing of every flag into the configuration of the engines (and the Kafka ones into the
 * client configuration), and the checks that need all flags at once. Every error names the
 * flag. Precedence: defaults < flags; KAFKA_BROKERS applies after them (kconf.h).
 * Thread notes: main thread, before any other thread starts (getopt's globals, the log level). */
#ifndef KOS_ADAPTER_OPTIONS_H
#define KOS_ADAPTER_OPTIONS_H

#include "auth.h"
#include "kconf.h"
#include "lag.h"
#include "server.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KOS_ADAPTER_VERSION "0.1.0"

typedef struct {
        kos_lag_opts_t lag;
        /* Its ctx and fetch are main's to set; the strings are borrowed from argv. */
        kos_server_conf_t server;
        kos_auth_conf_t auth; /* owns its lists: kos_adapter_conf_clear */
        const char *mapping_file;
        int64_t max_staleness_ms;
        const char *kubeconfig; /* NULL: in a pod, its service account */
        int no_kube;
        int skip_lookup;     /* do not read the cluster's authentication ConfigMap */
        int tolerate_lookup; /* start even if it cannot be read */
        int64_t authz_cache_ttl_ms;
        int64_t kube_cache_ttl_ms;
        long long headroom_budget;
} kos_adapter_conf_t;

/* The defaults documented in --help. */
void kos_adapter_conf_defaults(kos_adapter_conf_t *c);
/* Frees what c owns (the auth lists). */
void kos_adapter_conf_clear(kos_adapter_conf_t *c);

enum { KOS_ADAPTER_OPT_OK = 0, KOS_ADAPTER_OPT_EXIT = 1, KOS_ADAPTER_OPT_BAD = -1 };
/* Parses argv into c and kc (KAFKA_BROKERS included) and validates the result.
 * KOS_ADAPTER_OPT_EXIT after --help, --version or -X list (exit 0); KOS_ADAPTER_OPT_BAD with
 * err set (exit 2). Uses getopt's globals: one call per process (tests reset optind). */
int kos_adapter_options_parse(int argc, char **argv, kos_adapter_conf_t *c, kos_kconf_t *kc,
                              char *err, size_t errsz);

/* The --help text. */
void kos_adapter_usage(FILE *out);

/* One flag as the parser takes it: its short letter (0: none), its long name (NULL: none) and
 * whether it takes a value. For tests that hold --help and the README to the parser. */
typedef struct {
        char short_name;
        const char *long_name;
        int has_arg;
} kos_adapter_flag_t;
/* The flags the parser accepts, n of them; static storage. */
const kos_adapter_flag_t *kos_adapter_flags(size_t *n);

#endif
