/* Which consumer group a Kubernetes object stands for. Rules come from the mapping file
 * (--mapping-file), one per line:
 *
 *     # namespace  resource          name       group               [topic,topic...]
 *     default      deployments.apps  processor  KINGOFSCALING-APP
 *     default      pods              *          KINGOFSCALING-APP   GAME-FRAME-RQ,GAME-FRAME-RS
 *     *            namespaces        *          KINGOFSCALING-APP
 *
 * `*` matches any namespace or name; the first matching rule wins. A request's
 * metricLabelSelector `group=<id>` overrides the rules (and `topic=` narrows the topics).
 * Thread notes: loaded on the main thread at start, then only read, by any number of HTTP
 * worker threads at once. */
#ifndef KOS_MAPPING_H
#define KOS_MAPPING_H

#include <stddef.h>

typedef struct {
        char *namespace_; /* "*" = any */
        char *resource;   /* "deployments.apps", "pods", "namespaces" (as in the URL) */
        char *name;       /* "*" = any */
        char *group;
        char **topics; /* NULL-terminated; NULL = all topics of the group */
} kos_mapping_rule_t;

typedef struct {
        kos_mapping_rule_t *rules;
        size_t n_rules;
} kos_mapping_t;

/* @returns a new mapping parsed from text (free with kos_mapping_destroy), or NULL with errstr
 * naming origin:line and the problem. */
kos_mapping_t *kos_mapping_parse(const char *text, const char *origin, char *errstr,
                                 size_t errstr_size);
kos_mapping_t *kos_mapping_load(const char *path, char *errstr, size_t errstr_size);
void kos_mapping_destroy(kos_mapping_t *m);

/* First rule matching the object, or NULL. `resource` is "plural" or "plural.group".
 * Borrowed from m. */
const kos_mapping_rule_t *kos_mapping_find(const kos_mapping_t *m, const char *namespace_,
                                           const char *resource, const char *name);

/* 1 if the rule admits the topic (no topic list = all). */
int kos_mapping_rule_has_topic(const kos_mapping_rule_t *r, const char *topic);

#endif
