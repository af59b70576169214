/* kcat-style Kafka client configuration shared by the kos programs:
 * defaults < -F properties file < KAFKA_BROKERS env < -b / -X flags, validated by librdkafka
 * as each property is set, so a bad value fails at start with a message naming it. */
#ifndef KOS_KCONF_H
#define KOS_KCONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef struct kos_kconf_s kos_kconf_t;

/* @returns a new config holding an rd_kafka_conf_t with kos' log/error callbacks installed;
 * free with kos_kconf_destroy. */
kos_kconf_t *kos_kconf_new(void);
void kos_kconf_destroy(kos_kconf_t *kc);

/* Sets one librdkafka property. -1 with errstr naming the property on a bad name or value. */
int kos_kconf_set(kos_kconf_t *kc, const char *name, const char *value, char *errstr,
                  size_t errstr_size);
/* Parses "key=value" (the -X argument form). */
int kos_kconf_set_kv(kos_kconf_t *kc, const char *kv, char *errstr, size_t errstr_size);
/* Reads a Java-style properties file: key=value lines, '#' and '!' comments, blank lines.
 * Errors name file:line. */
int kos_kconf_load_file(kos_kconf_t *kc, const char *path, char *errstr, size_t errstr_size);
/* Applies KAFKA_BROKERS from the environment if set (the original system's convention). */
int kos_kconf_apply_env(kos_kconf_t *kc, char *errstr, size_t errstr_size);

/* @returns a duplicate of the underlying conf (the caller owns it; rd_kafka_new takes it). */
rd_kafka_conf_t *kos_kconf_dup(const kos_kconf_t *kc);
/* 1 when bootstrap.servers is set. */
int kos_kconf_has_brokers(const kos_kconf_t *kc);

/* What kos_kconf_flag did with one command-line option. */
typedef enum {
        KOS_KCONF_FLAG_APPLIED,   /* -b, -X or -F, applied to kc */
        KOS_KCONF_FLAG_LISTED,    /* -X list printed the properties: the caller exits 0 */
        KOS_KCONF_FLAG_BAD,       /* a bad value: errstr says which */
        KOS_KCONF_FLAG_NOT_KAFKA, /* opt is none of these: the caller parses it */
} kos_kconf_flag_result_t;

/* The kcat-style flags every kos program takes: -b brokers, -X key=value (-X list prints the
 * properties), -F file. */
kos_kconf_flag_result_t kos_kconf_flag(kos_kconf_t *kc, int opt, const char *arg, char *errstr,
                                       size_t errstr_size);

/* Prints librdkafka's property list (for -X list) on stdout. */
void kos_kconf_print_list(void);

/* Creates a client of the given type from a copy of kc. NULL with errstr on failure. */
rd_kafka_t *kos_kafka_new(const kos_kconf_t *kc, rd_kafka_type_t type, char *errstr,
                          size_t errstr_size);

#endif
