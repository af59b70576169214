/* Kafka client configuration (see kconf.h) and client creation with kos logging routed in. */
#include "kconf.h"
#include "log.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kos_kconf_s {
        rd_kafka_conf_t *conf;
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        (void)rk;
        int lvl = level <= 3   ? KOS_LOG_ERR
                  : level <= 5 ? KOS_LOG_WARN
                  : level == 6 ? KOS_LOG_INFO
                               : KOS_LOG_DEBUG;
        kos_log(lvl, "rdkafka", "%s: %s", fac, buf);
}

/* librdkafka retries transient errors itself; we only log them so an operator sees why lag
 * is stale. Fatal errors are logged at error level too; the owning program decides. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        (void)opaque;
        int fatal = err == RD_KAFKA_RESP_ERR__FATAL;
        char fbuf[256];
        if (fatal)
                rd_kafka_fatal_error(rk, fbuf, sizeof(fbuf));
        kos_log(fatal ? KOS_LOG_ERR : KOS_LOG_WARN, "kafka", "%s: %s",
                rd_kafka_err2name((rd_kafka_resp_err_t)err), fatal ? fbuf : reason);
}

kos_kconf_t *kos_kconf_new(void)
{
        kos_kconf_t *kc = kos_xcalloc(1, sizeof(*kc));
        kc->conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(kc->conf, log_cb);
        rd_kafka_conf_set_error_cb(kc->conf, error_cb);
        return kc;
}

void kos_kconf_destroy(kos_kconf_t *kc)
{
        if (!kc)
                return;
        rd_kafka_conf_destroy(kc->conf);
        free(kc);
}

int kos_kconf_set(kos_kconf_t *kc, const char *name, const char *value, char *errstr,
                  size_t errstr_size)
{
        char err[512];
        if (rd_kafka_conf_set(kc->conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "kafka property %s: %s", name, err);
                return -1;
        }
        return 0;
}

int kos_kconf_set_kv(kos_kconf_t *kc, const char *kv, char *errstr, size_t errstr_size)
{
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
                snprintf(errstr, errstr_size, "expected key=value, got \"%s\"", kv);
                return -1;
        }
        char name[256];
        size_t n = (size_t)(eq - kv);
        if (n >= sizeof(name)) {
                snprintf(errstr, errstr_size, "property name too long in \"%.40s...\"", kv);
                return -1;
        }
        memcpy(name, kv, n);
        name[n] = '\0';
        return kos_kconf_set(kc, name, eq + 1, errstr, errstr_size);
}

static char *trim(char *s)
{
        while (isspace((unsigned char)*s))
                s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
        return s;
}

int kos_kconf_load_file(kos_kconf_t *kc, const char *path, char *errstr, size_t errstr_size)
{
        FILE *f = fopen(path, "r");
        if (!f) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return -1;
        }
        char line[4096];
        int lineno = 0, rc = 0;
        while (fgets(line, sizeof(line), f)) {
                lineno++;
                char *s = trim(line);
                if (!*s || *s == '#' || *s == '!')
                        continue;
                char *eq = strchr(s, '=');
                if (!eq) {
                        snprintf(errstr, errstr_size, "%s:%d: expected key=value", path, lineno);
                        rc = -1;
                        break;
                }
                *eq = '\0';
                char err[512];
                if (kos_kconf_set(kc, trim(s), trim(eq + 1), err, sizeof(err)) == -1) {
                        snprintf(errstr, errstr_size, "%s:%d: %s", path, lineno, err);
                        rc = -1;
                        break;
                }
        }
        fclose(f);
        return rc;
}

int kos_kconf_apply_env(kos_kconf_t *kc, char *errstr, size_t errstr_size)
{
        const char *b = getenv("KAFKA_BROKERS");
        if (b && *b)
                return kos_kconf_set(kc, "bootstrap.servers", b, errstr, errstr_size);
        return 0;
}

rd_kafka_conf_t *kos_kconf_dup(const kos_kconf_t *kc)
{
        return rd_kafka_conf_dup(kc->conf);
}

int kos_kconf_has_brokers(const kos_kconf_t *kc)
{
        char buf[1024];
        size_t sz = sizeof(buf);
        return rd_kafka_conf_get(kc->conf, "bootstrap.servers", buf, &sz) == RD_KAFKA_CONF_OK &&
               buf[0] != '\0';
}

kos_kconf_flag_result_t kos_kconf_flag(kos_kconf_t *kc, int opt, const char *arg, char *errstr,
                                       size_t errstr_size)
{
        int r;
        switch (opt) {
        case 'b':
                r = kos_kconf_set(kc, "bootstrap.servers", arg, errstr, errstr_size);
                break;
        case 'X':
                if (strcmp(arg, "list") == 0) {
                        kos_kconf_print_list();
                        return KOS_KCONF_FLAG_LISTED;
                }
                r = kos_kconf_set_kv(kc, arg, errstr, errstr_size);
                break;
        case 'F':
                r = kos_kconf_load_file(kc, arg, errstr, errstr_size);
                break;
        default:
                return KOS_KCONF_FLAG_NOT_KAFKA;
        }
        return r == -1 ? KOS_KCONF_FLAG_BAD : KOS_KCONF_FLAG_APPLIED;
}

void kos_kconf_print_list(void)
{
        rd_kafka_conf_properties_show(stdout);
}

rd_kafka_t *kos_kafka_new(const kos_kconf_t *kc, rd_kafka_type_t type, char *errstr,
                          size_t errstr_size)
{
        rd_kafka_conf_t *conf = kos_kconf_dup(kc);
        rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, errstr_size);
        if (!rk)
                rd_kafka_conf_destroy(conf);
        return rk;
}
