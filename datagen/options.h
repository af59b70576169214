/* kos-datagen's command line: defaults, --help text, parsing of every flag into the run
 * configuration (and the Kafka ones into the client configuration), and the checks that
 * need all flags at once. Every error names the flag. */
#ifndef KOS_DG_OPTIONS_H
#define KOS_DG_OPTIONS_H

#include "kconf.h"
#include "produce.h"
#include "rate.h"
#include "topics.h"

#include <stddef.h>
#include <stdint.h>

#define KOS_DG_VERSION "0.1.0"

typedef struct {
        kos_dg_topics_conf_t topics;
        kos_produce_opts_t run;
        kos_profile_t profile;
        int has_rate, has_profile, has_seed, has_ts_step;
        double rate_step;
        uint64_t seed;
        int http;
        int http_port;
        const char *bind;               /* borrowed from argv */
        const char *control_token_file; /* borrowed from argv; NULL: PUT /rate from loopback */
} kos_dg_conf_t;

/* The defaults documented in --help. */
void kos_dg_conf_defaults(kos_dg_conf_t *c);

/* Sets kos-datagen's producer defaults on kc (before the flags, so -X/-F override them). */
int kos_dg_kafka_defaults(kos_kconf_t *kc, char *err, size_t errsz);

enum { KOS_DG_OPT_OK = 0, KOS_DG_OPT_EXIT = 1, KOS_DG_OPT_BAD = -1 };
/* Parses argv into c and kc and validates the result. KOS_DG_OPT_EXIT after --help, --version
 * or -X list (exit 0); KOS_DG_OPT_BAD with err set (exit 2). */
int kos_dg_options_parse(int argc, char **argv, kos_dg_conf_t *c, kos_kconf_t *kc, char *err,
                         size_t errsz);

#endif
