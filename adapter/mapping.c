/* Kubernetes object → consumer group rules (format in mapping.h). */
#include "mapping.h"
#include "xalloc.h"
#include "fileio.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kos_mapping_destroy(kos_mapping_t *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n_rules; i++) {
                kos_mapping_rule_t *r = &m->rules[i];
                free(r->namespace_);
                free(r->resource);
                free(r->name);
                free(r->group);
                for (char **t = r->topics; t && *t; t++)
                        free(*t);
                free(r->topics);
        }
        free(m->rules);
        free(m);
}

/* Kafka group ids and topic names: printable, no spaces (topics are stricter, but we only
 * refuse what could not be typed in this file). */
static int valid_token(const char *s)
{
        if (!*s || strlen(s) > 249)
                return 0;
        for (; *s; s++)
                if (!isgraph((unsigned char)*s))
                        return 0;
        return 1;
}

static char **split_topics(const char *s)
{
        size_t n = 1;
        for (const char *p = s; *p; p++)
                n += *p == ',';
        char **v = kos_xcalloc(n + 1, sizeof(*v));
        size_t k = 0;
        const char *start = s;
        for (const char *p = s;; p++) {
                if (*p == ',' || !*p) {
                        if (p > start)
                                v[k++] = kos_xstrndup(start, (size_t)(p - start));
                        if (!*p)
                                break;
                        start = p + 1;
                }
        }
        return v;
}

kos_mapping_t *kos_mapping_parse(const char *text, const char *origin, char *errstr,
                                 size_t errstr_size)
{
        kos_mapping_t *m = kos_xcalloc(1, sizeof(*m));
        char *copy = kos_xstrdup(text);
        char *save = NULL;
        int lineno = 0;
        char *line = copy;
        while (line) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = '\0';
                lineno++;
                char *hash = strchr(line, '#');
                if (hash)
                        *hash = '\0';
                char *f[6];
                int nf = 0;
                for (char *tok = strtok_r(line, " \t\r", &save); tok;
                     tok = strtok_r(NULL, " \t\r", &save)) {
                        if (nf == 5) {
                                snprintf(errstr, errstr_size,
                                         "%s:%d: too many fields (want: namespace resource name "
                                         "group [topics])",
                                         origin, lineno);
                                goto fail;
                        }
                        f[nf++] = tok;
                }
                if (nf == 0) {
                        line = nl ? nl + 1 : NULL;
                        continue;
                }
                if (nf < 4) {
                        snprintf(errstr, errstr_size,
                                 "%s:%d: expected: namespace resource name group [topics]", origin,
                                 lineno);
                        goto fail;
                }
                for (int i = 0; i < nf; i++)
                        if (!valid_token(f[i])) {
                                snprintf(errstr, errstr_size, "%s:%d: invalid field \"%s\"", origin,
                                         lineno, f[i]);
                                goto fail;
                        }
                if (nf == 5 && strspn(f[4], ",") == strlen(f[4])) {
                        snprintf(errstr, errstr_size, "%s:%d: empty topic list", origin, lineno);
                        goto fail;
                }
                if (strcmp(f[1], "*") == 0) {
                        snprintf(errstr, errstr_size,
                                 "%s:%d: the resource must be named (e.g. deployments.apps)",
                                 origin, lineno);
                        goto fail;
                }
                m->rules = kos_xrealloc(m->rules, (m->n_rules + 1) * sizeof(*m->rules));
                kos_mapping_rule_t *r = &m->rules[m->n_rules++];
                r->namespace_ = kos_xstrdup(f[0]);
                r->resource = kos_xstrdup(f[1]);
                for (char *p = r->resource; *p; p++)
                        *p = (char)tolower((unsigned char)*p);
                r->name = kos_xstrdup(f[2]);
                r->group = kos_xstrdup(f[3]);
                r->topics = nf == 5 ? split_topics(f[4]) : NULL;
                line = nl ? nl + 1 : NULL;
        }
        free(copy);
        return m;
fail:
        free(copy);
        kos_mapping_destroy(m);
        return NULL;
}

kos_mapping_t *kos_mapping_load(const char *path, char *errstr, size_t errstr_size)
{
        char err[512];
        size_t len;
        char *buf = kos_read_file(path, 1u << 20, &len, err, sizeof(err));
        if (!buf) {
                snprintf(errstr, errstr_size, "mapping file %s", err);
                return NULL;
        }
        if (memchr(buf, '\0', len)) {
                snprintf(errstr, errstr_size, "mapping file %s: contains NUL bytes", path);
                free(buf);
                return NULL;
        }
        kos_mapping_t *m = kos_mapping_parse(buf, path, errstr, errstr_size);
        free(buf);
        return m;
}

const kos_mapping_rule_t *kos_mapping_find(const kos_mapping_t *m, const char *namespace_,
                                           const char *resource, const char *name)
{
        for (size_t i = 0; m && i < m->n_rules; i++) {
                const kos_mapping_rule_t *r = &m->rules[i];
                if (strcmp(r->resource, resource) != 0)
                        continue;
                if (strcmp(r->namespace_, "*") != 0 && strcmp(r->namespace_, namespace_) != 0)
                        continue;
                if (strcmp(r->name, "*") != 0 && strcmp(r->name, name) != 0)
                        continue;
                return r;
        }
        return NULL;
}

int kos_mapping_rule_has_topic(const kos_mapping_rule_t *r, const char *topic)
{
        if (!r || !r->topics)
                return 1;
        for (char **t = r->topics; *t; t++)
                if (strcmp(*t, topic) == 0)
                        return 1;
        return 0;
}
