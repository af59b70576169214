/* Lag snapshot: pure lag arithmetic, lookups, and the atomic publication point. */
#include "snapshot.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int64_t kos_part_lag_compute(int64_t committed, int64_t end, int64_t log_start,
                             kos_nocommit_policy_t policy)
{
        if (end < 0)
                return -1;
        if (committed < 0) {
                if (policy == KOS_NOCOMMIT_LATEST)
                        return 0;
                if (log_start < 0)
                        return -1;
                committed = log_start;
        } else if (log_start > committed) {
                /* Retention deleted the records from the commit on: a consumer can only read
                 * from the log start, so what it has to read counts from there. */
                committed = log_start;
        }
        return end > committed ? end - committed : 0;
}

kos_snapshot_t *kos_snapshot_new(void)
{
        kos_snapshot_t *s = kos_xcalloc(1, sizeof(*s));
        atomic_init(&s->refcnt, 1);
        return s;
}

kos_snapshot_t *kos_snapshot_ref(kos_snapshot_t *s)
{
        if (s)
                atomic_fetch_add(&s->refcnt, 1);
        return s;
}

static void group_free(kos_group_lag_t *g)
{
        free(g->group_id);
        free(g->state);
        for (size_t i = 0; i < g->n_parts; i++) {
                free(g->parts[i].topic);
                free(g->parts[i].window);
        }
        free(g->parts);
        for (size_t i = 0; i < g->n_members; i++) {
                free(g->members[i].member_id);
                free(g->members[i].client_id);
                free(g->members[i].host);
        }
        free(g->members);
}

void kos_snapshot_unref(kos_snapshot_t *s)
{
        if (!s || atomic_fetch_sub(&s->refcnt, 1) != 1)
                return;
        for (size_t i = 0; i < s->n_groups; i++)
                group_free(&s->groups[i]);
        free(s->groups);
        free(s);
}

int kos_group_copy_unknown(kos_group_lag_t *dst, const kos_group_lag_t *src)
{
        memset(dst, 0, sizeof(*dst));
        dst->group_id = kos_xstrdup(src->group_id);
        dst->state = kos_xstrdup(src->state ? src->state : "");
        dst->parts = kos_xcalloc(src->n_parts ? src->n_parts : 1, sizeof(*dst->parts));
        dst->members = kos_xcalloc(src->n_members ? src->n_members : 1, sizeof(*dst->members));
        if (!dst->group_id || !dst->state || !dst->parts || !dst->members)
                goto oom;
        for (; dst->n_parts < src->n_parts; dst->n_parts++) {
                const kos_part_lag_t *sp = &src->parts[dst->n_parts];
                kos_part_lag_t *p = &dst->parts[dst->n_parts];
                if (!(p->topic = kos_xstrdup(sp->topic)))
                        goto oom;
                p->partition = sp->partition;
                p->committed = KOS_OFFSET_UNKNOWN;
                p->end = KOS_OFFSET_UNKNOWN;
                p->log_start = KOS_OFFSET_UNKNOWN;
                p->lag = -1;
                atomic_init(&p->head_ts_ms, -1);
                p->head_ts_offset = -1;
                p->member = sp->member;
                p->produce_rate = -1; /* unknown, like its offsets (history.h) */
                p->consume_rate = -1;
        }
        for (; dst->n_members < src->n_members; dst->n_members++) {
                const kos_member_t *sm = &src->members[dst->n_members];
                kos_member_t *m = &dst->members[dst->n_members];
                m->member_id = kos_xstrdup(sm->member_id);
                m->client_id = kos_xstrdup(sm->client_id);
                m->host = kos_xstrdup(sm->host);
                if (!m->member_id || !m->client_id || !m->host) {
                        dst->n_members++; /* freed below with the others */
                        goto oom;
                }
        }
        return 0;
oom:
        group_free(dst);
        memset(dst, 0, sizeof(*dst));
        return -1;
}

static int cmp_group(const void *a, const void *b)
{
        return strcmp(((const kos_group_lag_t *)a)->group_id,
                      ((const kos_group_lag_t *)b)->group_id);
}

static int cmp_part(const void *a, const void *b)
{
        const kos_part_lag_t *x = a, *y = b;
        int c = strcmp(x->topic, y->topic);
        if (c)
                return c;
        return (x->partition > y->partition) - (x->partition < y->partition);
}

void kos_snapshot_finish(kos_snapshot_t *s)
{
        if (s->n_groups > 1)
                qsort(s->groups, s->n_groups, sizeof(*s->groups), cmp_group);
        for (size_t i = 0; i < s->n_groups; i++)
                if (s->groups[i].n_parts > 1)
                        qsort(s->groups[i].parts, s->groups[i].n_parts, sizeof(*s->groups[i].parts),
                              cmp_part);
}

/* bsearch keys: the group id, or a topic and partition (no const-dropping copy into an item). */
static int cmp_group_key(const void *key, const void *item)
{
        return strcmp(key, ((const kos_group_lag_t *)item)->group_id);
}

typedef struct {
        const char *topic;
        int32_t partition;
} part_key_t;

static int cmp_part_key(const void *key, const void *item)
{
        const part_key_t *k = key;
        const kos_part_lag_t *y = item;
        int c = strcmp(k->topic, y->topic);
        if (c)
                return c;
        return (k->partition > y->partition) - (k->partition < y->partition);
}

const kos_group_lag_t *kos_snapshot_group(const kos_snapshot_t *s, const char *group_id)
{
        if (!s || !s->n_groups)
                return NULL;
        return bsearch(group_id, s->groups, s->n_groups, sizeof(*s->groups), cmp_group_key);
}

const kos_part_lag_t *kos_group_part(const kos_group_lag_t *g, const char *topic, int32_t partition)
{
        part_key_t key = {topic, partition};
        return g->n_parts ? bsearch(&key, g->parts, g->n_parts, sizeof(*g->parts), cmp_part_key)
                          : NULL;
}

int64_t kos_group_lag_sum(const kos_group_lag_t *g, const char *topic, size_t *n_parts)
{
        int64_t sum = 0;
        size_t n = 0;
        for (size_t i = 0; i < g->n_parts; i++) {
                const kos_part_lag_t *p = &g->parts[i];
                if (topic && strcmp(p->topic, topic) != 0)
                        continue;
                if (p->lag < 0) {
                        if (n_parts)
                                *n_parts = n;
                        return -1;
                }
                sum += p->lag;
                n++;
        }
        if (n_parts)
                *n_parts = n;
        return sum;
}

int64_t kos_group_lag_age_ms(const kos_group_lag_t *g, const char *topic, int64_t now_ms)
{
        int64_t age = 0;
        for (size_t i = 0; i < g->n_parts; i++) {
                const kos_part_lag_t *p = &g->parts[i];
                if (topic && strcmp(p->topic, topic) != 0)
                        continue;
                if (p->lag == 0)
                        continue;
                int64_t head_ts = p->head_ts_ms;
                if (p->lag < 0 || head_ts < 0)
                        return -1;
                int64_t a = now_ms - head_ts;
                if (a > age)
                        age = a;
        }
        return age;
}

static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;
static kos_snapshot_t *published;

void kos_snapshot_publish(kos_snapshot_t *s)
{
        pthread_mutex_lock(&publish_lock);
        kos_snapshot_t *old = published;
        published = s;
        pthread_mutex_unlock(&publish_lock);
        kos_snapshot_unref(old);
}

kos_snapshot_t *kos_snapshot_current(void)
{
        pthread_mutex_lock(&publish_lock);
        kos_snapshot_t *s = kos_snapshot_ref(published);
        pthread_mutex_unlock(&publish_lock);
        return s;
}

void kos_snapshot_publish_clear(void)
{
        kos_snapshot_publish(NULL);
}
