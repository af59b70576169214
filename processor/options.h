/* kos-processor's command line and environment: defaults < environment (KOS_*, KAFKA_BROKERS,
 * POD_NAME) < flags. Kafka settings (-b, -X, -F) are kept in command-line order and applied to
 * both clients after each one's own defaults, so the user overrides anything. Every error
 * names the flag or variable. */
#ifndef KOS_PROC_OPTIONS_H
#define KOS_PROC_OPTIONS_H

#include "kconf.h"

#include <stddef.h>
#include <stdint.h>

#define KOS_PROC_VERSION "0.1.0"

enum { KOS_T_REQUESTS = 0, KOS_T_RESPONSES = 1, KOS_T_SESSIONS = 2, KOS_T_ALL = 3 };

#define KOS_PROC_MAX_KSET 128

typedef struct {
        const char *topics[KOS_T_ALL]; /* borrowed from argv or the environment */
        const char *group;
        int64_t window_ms;
        int64_t grace_ms;
        int64_t commit_interval_ms;
        int exactly_once;
        int coalesce;
        long long max_session_hits;
        int create_topics;
        int replication; /* of SESSIONS when created; -1 = broker default */
        int64_t connect_timeout_ms;
        int64_t shutdown_timeout_ms;
        int64_t max_task_idle_ms;
        int64_t max_future_ms; /* records further ahead of the wall clock are bad; 0 = off */
        long long max_buffered;
        int http;
        int http_port;
        const char *bind;
        int64_t stats_interval_ms;
        /* -b/-X/-F in order: kind 'b', 'X' or 'F' and its argument (borrowed from argv). */
        struct {
                char kind;
                const char *arg;
        } kset[KOS_PROC_MAX_KSET];
        int n_kset;
} kos_proc_conf_t;

void kos_proc_conf_defaults(kos_proc_conf_t *c);

enum { KOS_PROC_OPT_OK = 0, KOS_PROC_OPT_EXIT = 1, KOS_PROC_OPT_BAD = -1 };
/* Parses the environment and argv into c, then builds the consumer and producer configuration
 * (kc_cons, kc_prod: new objects from kos_kconf_new, filled here) and validates. @returns
 * KOS_PROC_OPT_EXIT after --help, --version or -X list (exit 0), KOS_PROC_OPT_BAD with err set
 * (exit 2). */
int kos_proc_options_parse(int argc, char **argv, kos_proc_conf_t *c, kos_kconf_t *kc_cons,
                           kos_kconf_t *kc_prod, char *err, size_t errsz);

#endif
